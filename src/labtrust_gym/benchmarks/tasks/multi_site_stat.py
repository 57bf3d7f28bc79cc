"""multi_site_stat."""

from __future__ import annotations

from typing import Any

from labtrust_gym.benchmarks.tasks.base import BenchmarkTask
from labtrust_gym.numeric import percentile

__all__ = ["MultiSiteStat"]


class MultiSiteStat(BenchmarkTask):
    """STAT work at the acute site that only the hub can analyse.

    Description: the acute hospital receives STAT and urgent tubes; haematology and
    coagulation run in its essential-services lab, but chemistry (troponin, electrolytes)
    must travel to the hub in signed consignments (chain of custody: dispatch and receipt
    are Ed25519-signed), with seeded temperature drift checked on receipt.
    Agents, observation, actions, rewards, termination: as ``throughput_sla``.
    Metrics: transport counts (dispatched, received, temperature excursions, late),
    ``acute_stat_tat_p50_s`` for STAT results from the acute site, and per-site throughput.
    """

    name = "multi_site_stat"

    def episode_metrics(self, env: Any) -> dict[str, Any]:

        eng = env.engine
        tats = []
        by_site: dict[str, int] = {}
        for r in eng.results.values():
            if r.status != "RELEASED":
                continue
            root = r.specimen_id.split("-A")[0]
            spec = eng.specimens[root]
            origin = "SITE_ACUTE" if root.startswith("SACUTE") else spec.site_id
            by_site[origin] = by_site.get(origin, 0) + 1
            if origin == "SITE_ACUTE" and r.priority == "STAT":
                tats.append(r.released_t - r.arrival_t)
        return {
            "acute_stat_released": len(tats),
            "acute_stat_tat_p50_s": percentile(tats, 50),
            "released_by_origin_site": dict(sorted(by_site.items())),
        }
