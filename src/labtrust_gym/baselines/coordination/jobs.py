"""Transport jobs: what the allocation methods allocate.

A job is a batch of tubes lying in one zone that must go elsewhere (at most a runner's
load), a docked batch due to ship, or a consignment at (or about to reach) a dock. Its
``due`` is the earliest turnaround deadline of its tubes (arrival + the priority's
target), so allocation can be deadline-aware.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labtrust_gym.baselines.scripted.view import INF, Plan, StepView

__all__ = ["Job", "site_jobs"]


@dataclass(frozen=True)
class Job:
    zone: str
    sids: tuple[str, ...]
    rank: int
    due: float
    cid: str | None = None
    custody: bool = False  # a dispatch or receipt: only runners who may sign custody

    def plan(self) -> Plan:
        return Plan(self.zone, self.sids, self.cid)

    def key(self) -> tuple[Any, ...]:
        return (self.rank, self.due, self.zone, self.sids[:1], self.cid or "")


def _due(v: StepView, specs: list[Any]) -> float:
    tat = v.st.target_tat
    return min((s.arrival_t + tat.get(s.priority, 3600.0) for s in specs), default=INF)


def site_jobs(v: StepView, site: str, load: int, *, custody: bool = True) -> list[Job]:
    """Open (unreserved, unclaimed) jobs of ``site``, most urgent first."""
    jobs: list[Job] = []
    res = v.reserved
    for zone in v.lying_zones(site):
        zw = v.zone_work(zone)
        free = [
            s for s, _ in zw.movable if s.specimen_id not in res and s.specimen_id not in v.claims
        ]
        for i in range(0, len(free), max(1, load)):
            chunk = free[i : i + load]
            jobs.append(
                Job(zone, tuple(s.specimen_id for s in chunk), v.rank(chunk[0]), _due(v, chunk))
            )
        if custody:
            docked = [s for s in zw.ship if s.specimen_id not in res]
            if docked and v.ship_due(docked):
                jobs.append(
                    Job(
                        zone,
                        tuple(s.specimen_id for s in docked),
                        min(v.rank(s) for s in docked),
                        _due(v, docked),
                        custody=True,
                    )
                )
    if custody:
        dt = float(v.params["dt_hint_s"])
        for c, dock in v.incoming_consignments(site):
            if "con:" + c.consignment_id in res:
                continue
            if c.status != "ARRIVED" and c.eta - v.now > 60.0 + dt:
                continue
            specs = [v.e.specimens[s] for s in c.specimen_ids]
            rank = min((v.rank(s) for s in specs), default=v.st.low_rank)
            jobs.append(Job(dock, (), rank, _due(v, specs), c.consignment_id, custody=True))
    jobs.sort(key=Job.key)
    return jobs
