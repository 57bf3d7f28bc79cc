"""qc_cascade."""

from __future__ import annotations

from typing import Any

from labtrust_gym.benchmarks.tasks.base import BenchmarkTask

__all__ = ["QCCascade"]


class QCCascade(BenchmarkTask):
    """A chemistry analyzer's calibration drifts mid-episode.

    Description: at t=900 s ``DEV_CHEM_0001`` starts to drift (every reported value is
    biased; nothing says so until a QC run fails). Results from the device are held while
    the QC failure is active; the team must detect it (periodic QC), recalibrate, pass QC
    and rerun the held work. Releases before detection are wrong.
    Agents, observation, actions, rewards: as ``throughput_sla``; 480 steps.
    Metrics: ``qc_failures_detected``, ``results_held`` (ever held by QC), ``reruns``,
    ``wrongly_released`` (released while biased, without disclaimer),
    ``released_with_disclaimer``, ``detection_delay_s``.
    """

    name = "qc_cascade"

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        eng = env.engine
        res = list(eng.results.values())
        drift_t = min(
            (
                float(s["t_s"])
                for s in self.params.get("schedule", [])
                if s.get("kind") == "QC_DRIFT"
            ),
            default=None,
        )
        first_fail = env.counters.get("first_qc_fail_t")
        return {
            "qc_failures_detected": env.counters["emits"].get("QC_FAIL", 0),
            "results_held": sum(1 for r in res if r.was_held),
            "reruns": sum(1 for r in res if r.status == "SUPERSEDED"),
            "wrongly_released": sum(
                1 for r in res if r.status == "RELEASED" and r.qc_drift and r.disclaimer is None
            ),
            "released_with_disclaimer": sum(1 for r in res if r.disclaimer is not None),
            "detection_delay_s": (
                None if drift_t is None or first_fail is None else round(first_fail - drift_t, 1)
            ),
        }
