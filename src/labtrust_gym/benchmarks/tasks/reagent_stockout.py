"""reagent_stockout."""

from __future__ import annotations

from typing import Any

from labtrust_gym.benchmarks.tasks.base import BenchmarkTask

__all__ = ["ReagentStockout"]


class ReagentStockout(BenchmarkTask):
    """The electrolyte reagent runs out on both chemistry analyzers.

    Description: at t=600 s the on-board U&E reagent of ``DEV_CHEM_0001`` is drained and
    ``DEV_CHEM_0002`` is left with 5 runs. Runs needing it are BLOCKED (stockout) until
    someone restocks from the hub stores; meanwhile U&E work can be rerouted to the
    analyzer that still has reagent.
    Agents, observation, actions, rewards, termination: as ``throughput_sla``.
    Metrics: ``stockout_blocks`` (runs blocked for reagent), ``restocks``,
    ``ue_released`` (U&E results released), ``ue_released_after_stockout``.
    """

    name = "reagent_stockout"

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        eng = env.engine
        t0 = min(
            (
                float(s["t_s"])
                for s in self.params.get("schedule", [])
                if s.get("kind") == "REAGENT_DRAIN"
            ),
            default=0.0,
        )
        ue = [r for r in eng.results.values() if r.panel == "UE" and r.status == "RELEASED"]
        return {
            "stockout_blocks": env.counters["blocked_by_reason_code"].get("REAGENT_STOCKOUT", 0),
            "restocks": env.counters["emits"].get("REAGENT_RESTOCKED", 0),
            "ue_released": len(ue),
            "ue_released_after_stockout": sum(1 for r in ue if r.released_t > t0),
        }
