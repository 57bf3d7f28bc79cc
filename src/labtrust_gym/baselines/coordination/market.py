"""``market_auction``: contract-net allocation of transport jobs."""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.coordination.jobs import Job, site_jobs
from labtrust_gym.baselines.coordination.team_method import TeamMethod
from labtrust_gym.baselines.scripted.hooks import Dispatcher
from labtrust_gym.baselines.scripted.view import INF, Plan, StepView

__all__ = ["ContractNet", "ContractNetDispatcher"]


class ContractNetDispatcher(Dispatcher):
    """Sequential single-item auctions, most urgent job first.

    For each announced job every eligible runner of the site bids the time at which it
    could be at the job: a free runner its travel time; a runner still delivering its
    load the time to finish that delivery plus the travel on from there (its commitment
    is part of its bid). The lowest bid wins (ties by agent id); a winner takes at most
    ``max_contracts`` contracts at a time, its later contracts queued behind the current
    one. An awarded contract reserves its tubes; a contract not started within
    ``contract_ttl_s`` is cancelled and re-announced.
    """

    def __init__(self, max_contracts: int = 2, contract_ttl_s: float = 300.0) -> None:
        self.max_contracts = max_contracts
        self.ttl = contract_ttl_s

    def reset(self, team: Any, engine: Any, seed: int) -> None:
        super().reset(team, engine, seed)
        self.by_site: dict[str, list[Any]] = team.runners_by_site
        self.queue: dict[str, list[tuple[Plan, float]]] = {}  # runner -> queued contracts
        self.auctions = 0
        self.bids = 0
        self.awards = 0
        self.expired = 0

    def _busy_until(self, v: StepView, m: Any, a: Any) -> tuple[float, str] | None:
        """(seconds until free, zone where free) or None if the runner cannot bid."""
        if a.zone is None:
            if not a.transit_to:
                return None
            t0, here = max(0.0, a.arrive_t - v.now), a.transit_to
        else:
            t0, here = 0.0, a.zone
        plan = v.mem.plans.get(m.aid)
        if plan is not None:
            t0 += m.dist(v, here, plan.zone)
            here = plan.zone
        elif a.carrying:
            # Deliver the most urgent carried tube first (what the runner will do).
            s = min((v.e.specimens[x] for x in a.carrying), key=v.skey)
            tgt = v.target(s, here)
            if tgt is not None and tgt[1] != here:
                t0 += m.dist(v, here, tgt[1])
                here = tgt[1]
        for p, _ in self.queue.get(m.aid, ()):
            t0 += m.dist(v, here, p.zone)
            here = p.zone
        return (t0, here) if t0 < INF else None

    def begin_step(self, v: StepView) -> None:
        for aid, q in list(self.queue.items()):
            keep = []
            for p, t in q:
                if v.now - t > self.ttl:
                    self.expired += 1
                else:
                    keep.append((p, t))
                    for sid in p.sids:
                        v.reserved.setdefault(sid, aid)
                    if p.cid:
                        v.reserved.setdefault("con:" + p.cid, aid)
            self.queue[aid] = keep
        for site, runners in self.by_site.items():
            jobs = site_jobs(v, site, max(v.e.agents[m.aid].capacity for m in runners))
            if not jobs:
                continue
            status = {}
            for m in runners:
                a = v.e.agents.get(m.aid)
                if a is None or len(self.queue.get(m.aid, ())) >= self.max_contracts:
                    continue
                b = self._busy_until(v, m, a)
                if b is not None:
                    status[m.aid] = (m, a, b)
            for job in jobs:
                if not status:
                    break
                self.auctions += 1
                best: tuple[float, str] | None = None
                for aid, (m, _, (t0, here)) in status.items():
                    if job.custody and not m.custody:
                        continue
                    d = m.dist(v, here, job.zone)
                    if d == INF:
                        continue
                    self.bids += 1
                    bid = (t0 + d, aid)
                    if best is None or bid < best:
                        best = bid
                if best is None:
                    continue
                self.award(v, status, best[1], job)

    def award(self, v: StepView, status: dict[str, Any], aid: str, job: Job) -> None:
        self.awards += 1
        m, a, (t0, here) = status[aid]
        plan = job.plan()
        if a.zone is not None and not a.carrying and aid not in v.mem.plans:
            v.set_plan(aid, plan)  # free now: start at once
        else:
            self.queue.setdefault(aid, []).append((plan, v.now))
            for sid in plan.sids:
                v.reserved[sid] = aid
            if plan.cid:
                v.reserved["con:" + plan.cid] = aid
        if len(self.queue.get(aid, ())) >= self.max_contracts:
            del status[aid]
        else:
            status[aid] = (m, a, (t0 + m.dist(v, here, job.zone), job.zone))

    def stat_calls(self, v: StepView) -> dict[str, Plan]:
        return {}  # STAT jobs are auctioned first

    def trip(self, runner: Any, v: StepView, a: Any, z: str) -> Plan | None:
        plan = v.mem.plans.get(runner.aid)
        if plan is not None:
            return plan
        q = self.queue.get(runner.aid)
        if q:
            return q.pop(0)[0]
        return None

    def telemetry(self) -> dict[str, Any]:
        return {
            "auctions": self.auctions,
            "bids": self.bids,
            "awards": self.awards,
            "contracts_expired": self.expired,
        }


class ContractNet(TeamMethod):
    """Market / contract-net: transport jobs are auctioned to runners every step.

    Description: the site's manager announces each open transport job (most urgent
    first: STAT, then earliest deadline); runners bid the time at which they could reach
    it, counting the delivery they are committed to; the lowest bid wins and the contract
    reserves its tubes. Runners hold up to ``max_contracts`` contracts (one active, the
    rest queued); stale contracts expire after ``contract_ttl_s``. Devices are chosen by
    least expected wait when a tube is queued.
    Agents: every generated worker. Observation: full engine state (read-only).
    Actions: engine actions in the contract form. Telemetry: auctions, bids, awards,
    expired contracts.
    """

    method_id = "market_auction"

    def make_dispatcher(self) -> Dispatcher:
        return ContractNetDispatcher(
            int(self.params.get("max_contracts", 2)),
            float(self.params.get("contract_ttl_s", 300.0)),
        )
