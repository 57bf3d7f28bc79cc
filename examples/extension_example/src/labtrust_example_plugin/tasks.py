"""``example_task``: a quiet overnight half hour in the hub laboratory."""

from __future__ import annotations

from typing import Any

from labtrust_gym.benchmarks.tasks import BenchmarkTask
from labtrust_gym.policy.loader import merge_overlay

__all__ = ["ExampleTask"]


class ExampleTask(BenchmarkTask):
    """A quiet overnight half hour: routine and urgent demand at a third of the day rate.

    Parameters: the built-in task defaults with ``OVERNIGHT`` merged over them (then any
    ``params`` given). Agents, observations, actions and rewards: as ``throughput_sla``.
    Metric added: ``example.released_per_hour``.
    """

    name = "example_task"

    #: Merged over the defaults of policy/tasks/benchmark_tasks.v0.1.yaml.
    OVERNIGHT: dict[str, Any] = {
        "max_steps": 180,
        "arrivals": [
            {
                "site_id": "SITE_HUB",
                "rate_per_min": 0.5,
                "start_s": 0,
                "end_s": 900,
                "priority_mix": {"URGENT": 0.2, "ROUTINE": 0.8},
                "panel_mix": {"UE": 0.5, "FBC": 0.5},
            }
        ],
    }

    def __init__(self, params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(merge_overlay(self.OVERNIGHT, params or {}), **kwargs)

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        hours = env.step_count * self.dt_s / 3600.0
        released = sum(1 for r in env.engine.results.values() if r.status == "RELEASED")
        return {"example.released_per_hour": released / hours if hours else 0.0}
