"""reagent_stockout."""

from __future__ import annotations

from typing import Any

from labtrust_gym.benchmarks.tasks.base import BenchmarkTask
from labtrust_gym.numeric import percentile

__all__ = ["ReagentStockout"]


class ReagentStockout(BenchmarkTask):
    """The electrolyte reagent runs out on both chemistry analyzers.

    Description: at t=600 s the on-board U&E reagent of ``DEV_CHEM_0001`` is drained and
    ``DEV_CHEM_0002`` is left with 5 runs. A run needing it cannot start (its device queue
    is stuck behind it) until someone restocks: a carrier whose role may restock walks to
    the hub stores (``Z_STORES``), draws a pack (RESTOCK_REAGENT there; the stores hold a
    limited inventory), carries it to the analyzer and loads it (RESTOCK_REAGENT at the
    device). Meanwhile U&E work can be rerouted to the analyzer that still has reagent.
    What it exercises: noticing a low or empty reagent and running the restock trip early
    enough; the ablations ``restock: false`` (never) and a negative
    ``restock_margin_runs`` (only once the reagent is out: late) show the cost.
    Agents, observation, actions, rewards, termination: as ``throughput_sla``.
    Metrics: ``stockout_s`` (seconds any analyzer reagent was out, summed over device and
    reagent; ``stockout_s_by_device``), ``runs_held_for_reagent`` (work items that waited
    in an analyzer queue while a reagent they need was out), ``stockout_blocks``
    (START_RUN blocked with REAGENT_STOCKOUT), ``packs_fetched``, ``restocks`` (packs
    loaded), ``ue_released``, ``ue_released_after_stockout`` and ``ue_tat_p50_s`` (U&E
    orders arriving after the drain).
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
        by_dev: dict[str, dict[str, float]] = {}
        held = 0
        for did in sorted(eng.devices):
            d = eng.devices[did]
            out = eng.stockout_seconds(d)
            if out:
                by_dev[did] = {r: round(v, 3) for r, v in out.items()}
            held += len(d.held_for_reagent)
        ue = [r for r in eng.results.values() if r.panel == "UE" and r.status == "RELEASED"]
        late = [r.released_t - r.arrival_t for r in ue if r.arrival_t >= t0]
        c = env.counters
        return {
            "stockout_s": round(sum(v for d in by_dev.values() for v in d.values()), 3),
            "stockout_s_by_device": by_dev,
            "runs_held_for_reagent": held,
            "stockout_blocks": c["blocked_by_reason_code"].get("REAGENT_STOCKOUT", 0),
            "packs_fetched": c["emits"].get("REAGENT_PACK_FETCHED", 0),
            "restocks": c["emits"].get("REAGENT_RESTOCKED", 0),
            "ue_released": len(ue),
            "ue_released_after_stockout": sum(1 for r in ue if r.released_t > t0),
            "ue_tat_p50_s": percentile(late, 50),
        }
