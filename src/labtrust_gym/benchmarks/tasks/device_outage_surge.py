"""device_outage_surge."""

from __future__ import annotations

from typing import Any

from labtrust_gym.benchmarks.tasks.base import BenchmarkTask

__all__ = ["DeviceOutageSurge"]


class DeviceOutageSurge(BenchmarkTask):
    """A chemistry analyzer faults while an arrival surge is under way.

    Description: from t=600 s to 1500 s extra chemistry work arrives (1.5/min on top of the
    base stream); at t=700 s ``DEV_CHEM_0001`` faults (runs in progress are aborted and
    re-queued). The team must repair it and reroute work to ``DEV_CHEM_0002``.
    Agents, observation, actions, rewards, termination: as ``throughput_sla``.
    Metrics: ``runs_aborted``, ``repair_started_s`` / ``repaired_s`` (after the fault),
    ``results_by_device`` for the chemistry analyzers.
    """

    name = "device_outage_surge"

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        eng = env.engine
        by_dev: dict[str, int] = {}
        for r in eng.results.values():
            if r.status == "RELEASED":
                by_dev[r.device_id] = by_dev.get(r.device_id, 0) + 1
        return {
            "runs_aborted": env.counters["emits"].get("RUN_ABORTED", 0),
            "device_faults": env.counters["emits"].get("DEVICE_FAULT", 0),
            "repairs_completed": env.counters["emits"].get("DEVICE_REPAIRED", 0),
            "released_by_device": dict(sorted(by_dev.items())),
        }
