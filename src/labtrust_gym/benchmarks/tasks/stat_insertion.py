"""stat_insertion."""

from __future__ import annotations

from typing import Any

from labtrust_gym.benchmarks.tasks.base import BenchmarkTask
from labtrust_gym.errors import ConfigError

__all__ = ["StatInsertion"]


class StatInsertion(BenchmarkTask):
    """STAT specimens inserted into a busy routine/urgent stream, on first-come devices.

    Description: a loaded lab: routine and urgent arrivals (2.2/min) for 30 min; from minute 5
    to 35 STAT tubes arrive at ~0.3/min with the same panel mix (so the comparison measures
    prioritisation, not run times). Every device queue here is first come, first served
    (task parameter ``queue_discipline: fifo``, applied to every device type through the
    initial state's ``effective_policy``): the engine does not put STAT work first, so the
    STAT turnaround is decided by the team: which tubes a runner carries first (and who
    answers a STAT call), when a centrifuge spins and whether one is kept free, which
    analyzer a tube goes to, and in which order tubes are loaded (just in time, STAT
    first, rather than queueing routine work as it comes).
    What it exercises: the team's priority tactics. The ablation ``team.stat_tactics:
    false`` (the team treats every tube alike) is markedly slower on STAT.
    Agents, observation, actions, rewards, termination: as ``throughput_sla``.
    Metrics: STAT turnaround reported separately (``stat_tat_p50_s``, ``stat_tat_p95_s``,
    ``stat_tat_mean_s``, ``stat_on_time_rate``) next to routine (``routine_tat_p50_s``), and
    ``stat_beats_routine`` (STAT p50 below routine p50).
    """

    name = "stat_insertion"

    def get_initial_state(self, seed: int) -> dict[str, Any]:
        init = super().get_initial_state(seed)
        disc = self.params.get("queue_discipline", "priority")
        if disc not in ("priority", "fifo"):
            raise ConfigError(
                f"task {self.name}: queue_discipline must be 'priority' or 'fifo', not {disc!r}"
            )
        if disc != "priority":
            types = self.policy["equipment_registry"]["device_types"]
            init["effective_policy"] = {
                "equipment_registry": {
                    "device_types": {t: {"queue_discipline": disc} for t in sorted(types)}
                }
            }
        return init

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        from labtrust_gym.benchmarks.metrics import _orders, turnaround_by_priority

        tat = turnaround_by_priority(env.engine)
        stat, routine = tat.get("STAT", {}), tat.get("ROUTINE", {})
        orders, now = _orders(env.engine)
        target = float(env.engine.world.priorities["STAT"]["target_tat_s"])
        tats = [
            o["released_t"] - o["arrival_t"]
            for o in orders.values()
            if o["priority"] == "STAT" and o["released_t"] is not None
        ]
        due = [
            o
            for o in orders.values()
            if o["priority"] == "STAT"
            and (o["released_t"] is not None or o["arrival_t"] + target <= now)
        ]
        ok = [
            o
            for o in due
            if o["released_t"] is not None and o["released_t"] - o["arrival_t"] <= target
        ]
        return {
            "stat_released": stat.get("n", 0),
            "stat_tat_p50_s": stat.get("p50"),
            "stat_tat_p95_s": stat.get("p95"),
            "stat_tat_mean_s": (sum(tats) / len(tats)) if tats else None,
            "stat_on_time_rate": (len(ok) / len(due)) if due else None,
            "routine_tat_p50_s": routine.get("p50"),
            "stat_beats_routine": (
                stat.get("p50") is not None
                and routine.get("p50") is not None
                and stat["p50"] < routine["p50"]
            ),
        }
