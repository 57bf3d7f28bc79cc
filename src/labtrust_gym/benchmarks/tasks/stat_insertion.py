"""stat_insertion."""

from __future__ import annotations

from typing import Any

from labtrust_gym.benchmarks.tasks.base import BenchmarkTask

__all__ = ["StatInsertion"]


class StatInsertion(BenchmarkTask):
    """STAT specimens inserted into a busy routine/urgent stream.

    Description: a loaded lab: routine and urgent arrivals (2.2/min) for 30 min; from minute 5
    to 35 STAT tubes arrive at ~0.3/min with the same panel mix (so the comparison measures
    prioritisation, not run times). A competent team lets STAT work overtake queued
    routine work (device queues order STAT first; runners carry STAT first).
    Agents, observation, actions, rewards, termination: as ``throughput_sla``.
    Metrics: STAT turnaround reported separately (``stat_tat_p50_s``, ``stat_tat_p95_s``)
    next to routine, and ``stat_beats_routine`` (STAT p50 below routine p50).
    """

    name = "stat_insertion"

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        from labtrust_gym.benchmarks.metrics import turnaround_by_priority

        tat = turnaround_by_priority(env.engine)
        stat, routine = tat.get("STAT", {}), tat.get("ROUTINE", {})
        return {
            "stat_released": stat.get("n", 0),
            "stat_tat_p50_s": stat.get("p50"),
            "stat_tat_p95_s": stat.get("p95"),
            "routine_tat_p50_s": routine.get("p50"),
            "stat_beats_routine": (
                stat.get("p50") is not None
                and routine.get("p50") is not None
                and stat["p50"] < routine["p50"]
            ),
        }
