"""``market_auction``: contract-net allocation of transport jobs over the bus."""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.coordination.bus_dispatch import (
    BusDispatcher,
    order_row,
    plan_keys,
)
from labtrust_gym.baselines.coordination.comms import AWARD, TeamComms
from labtrust_gym.baselines.coordination.jobs import site_jobs
from labtrust_gym.baselines.coordination.team_method import TeamMethod
from labtrust_gym.baselines.scripted.hooks import Dispatcher
from labtrust_gym.baselines.scripted.view import INF, Plan, StepView
from labtrust_gym.coordination.identities import coordinator_id

__all__ = ["ContractNet", "ContractNetDispatcher"]


class ContractNetDispatcher(BusDispatcher):
    """Sequential single-item auctions, most urgent job first, on standing bids.

    Each runner keeps a standing BID on its site's channel, re-sent only when it changes
    (its zone or free slots, or its free time by 30 s or more): when and where it will be
    free (a free runner: now, at its post; a runner still delivering
    its load after that delivery; then after the contracts it holds) and how many more
    contracts it takes (``max_contracts`` at most). Every step the site's manager
    (``C_<SITE>``) announces the open jobs to itself in urgency order and, for each, takes
    the lowest bid that reaches the job (time to be free plus travel on from there; ties
    by agent id), updating that runner's bid as if it had won; awards go out as one AWARD
    per site and step. A runner queues the contracts it receives and works them in order;
    a contract not started within ``contract_ttl_s`` is given back (RELEASE) and
    re-auctioned. Runners the manager sees idle are sent (ASSIGN) to a bench whose run is
    about to finish. A manager knows only the bids it received: a lost or late bid makes it
    award on stale availability.
    """

    coordinators = (None,)

    def __init__(
        self, comms: TeamComms, order_wait_s: float, max_contracts: int, contract_ttl_s: float
    ) -> None:
        super().__init__(comms, order_wait_s)
        self.max_contracts = max_contracts
        self.ttl = contract_ttl_s
        #: A bid is re-sent when the runner's zone or free slots change, or its free time
        #: moves by this much (s).
        self.bid_tolerance = 30.0

    def reset(self, team: Any, engine: Any, seed: int) -> None:
        super().reset(team, engine, seed)
        self.by_site: dict[str, list[Any]] = team.runners_by_site
        self.queue: dict[str, list[tuple[Plan, float]]] = {}  # runner -> its contracts
        self.last_bid: dict[str, tuple[Any, ...]] = {}
        self.auctions = 0
        self.bids = 0
        self.awards = 0
        self.expired = 0

    # ----------------------------------------------------------------- manager -------
    def coordinate(self, v: StepView, t_ms: float) -> None:
        now = v.now
        for site, runners in self.by_site.items():
            own: dict[str, str] = {}
            board = self.coordinator_view(v, site, own)
            status: dict[str, tuple[Any, float, str, int]] = {}
            for m in runners:
                bid = board.bids.get(m.aid)
                if bid is None:
                    continue
                p = bid[0]
                slots = int(p.get("slots", 0))
                if slots > 0:
                    t0 = max(0.0, float(p["free_s"]) - now)
                    status[m.aid] = (m, t0, str(p["zone"]), slots)
            jobs = site_jobs(v, site, max(v.e.agents[m.aid].capacity for m in runners))
            rows = []
            for job in jobs:
                if not status:
                    break
                self.auctions += 1
                best: tuple[float, str] | None = None
                for aid, (m, t0, here, _) in status.items():
                    if job.custody and not m.custody:
                        continue
                    d = m.dist(v, here, job.zone)
                    if d == INF:
                        continue
                    self.bids += 1
                    cand = (t0 + d, aid)
                    if best is None or cand < best:
                        best = cand
                if best is None:
                    continue
                aid = best[1]
                m, t0, here, slots = status[aid]
                plan = job.plan()
                rows.append(order_row(aid, plan, job.rank == 0))
                for k in plan_keys(plan):
                    own[k] = aid
                self.awards += 1
                if slots <= 1:
                    del status[aid]
                else:
                    status[aid] = (m, t0 + m.dist(v, here, job.zone), job.zone, slots - 1)
            self.send_orders(coordinator_id(site), "AWARD", rows, t_ms)
            idle = self.idle_runners(board, site)
            pos = self.position_orders(v, board, idle, {r[0] for r in rows})
            self.send_orders(coordinator_id(site), "ASSIGN", pos, t_ms)

    # ----------------------------------------------------------------- runners -------
    def runners_read(self, v: StepView) -> None:
        for board in self.comms.boards:
            for aid in list(board.orders):
                if aid not in self.runner_ids:
                    continue
                while True:
                    o = self.next_order(aid, (AWARD,))
                    if o is None:
                        break
                    q = self.queue.setdefault(aid, [])
                    plan = Plan(o.zone, o.sids, o.cid)
                    if all(p.sids != plan.sids or p.cid != plan.cid for p, _ in q):
                        q.append((plan, o.t_ms / 1000.0))

    def take_orders(
        self, v: StepView, m: Any, plan: Plan | None, keys: tuple[str, ...]
    ) -> Plan | None:
        """A free runner starts its next contract (expired or lost ones are dropped)."""
        if keys:
            return None
        aid = m.aid
        pos = self.next_order(aid)  # the manager's positioning order (a bench to wait at)
        q = self.queue.get(aid)
        owner = self.comms.board_of[aid].owner
        while q:
            nxt, t_award = q.pop(0)
            nkeys = plan_keys(nxt)
            if v.now - t_award > self.ttl:
                self.expired += 1
                self.declined.setdefault(aid, []).extend(nkeys)
                continue
            if any(owner.get(k, aid) != aid for k in nkeys):
                self.lost += 1  # re-awarded (or claimed by a better claim) meanwhile
                continue
            self.adopted += 1
            self.from_order.add(aid)
            return nxt
        return self.adopt(aid, pos) if pos is not None else None

    def _bid(self, v: StepView, m: Any, a: Any) -> tuple[Any, ...] | None:
        """(zone, free at s, slots): when and where this runner is free, from what it
        knows of itself (its trip, its load, its contracts)."""
        q = self.queue.get(m.aid, ())
        slots = self.max_contracts - len(q)
        plan = v.mem.plans.get(m.aid)
        if not q and not a.carrying and not plan_keys(plan):
            # Free: available now, waiting at (or walking back to) its post; passing
            # through zones on the way does not change what the manager needs to know.
            return (m.home, 0, max(0, slots))
        if a.zone is None:
            if not a.transit_to:
                return None
            t0, here = max(0.0, a.arrive_t - v.now), a.transit_to
        else:
            t0, here = 0.0, a.zone
        if plan_keys(plan):
            assert plan is not None
            t0 += m.dist(v, here, plan.zone)
            here = plan.zone
        elif a.carrying:
            s = min((v.e.specimens[x] for x in a.carrying), key=v.skey)
            tgt = v.target(s, here)
            if tgt is not None and tgt[1] != here:
                t0 += m.dist(v, here, tgt[1])
                here = tgt[1]
        for p, _ in q:
            t0 += m.dist(v, here, p.zone)
            here = p.zone
        if t0 == INF:
            return None
        # A runner free now bids 0 ("now"), so an idle runner's bid does not change.
        return (here, round(v.now + t0) if t0 > 0 else 0, max(0, slots))

    def end_step(self, v: StepView, actions: dict[str, dict[str, Any]]) -> None:
        super().end_step(v, actions)
        agents = v.e.agents
        for m in self.team.runners:
            a = agents.get(m.aid)
            if a is None:
                continue
            bid = self._bid(v, m, a)
            last = self.last_bid.get(m.aid)
            if bid is None or (
                last is not None
                and bid[0] == last[0]
                and bid[2] == last[2]
                and abs(bid[1] - last[1]) < self.bid_tolerance
            ):
                continue  # nothing the manager needs to know changed
            self.last_bid[m.aid] = bid
            # Stamped with the runner's decision time this step.
            t_ms = self._t0 + (self.runner_index[m.aid] + 1) * self._gap
            self.comms.publish(
                m.aid, "BID", {"zone": bid[0], "free_s": float(bid[1]), "slots": bid[2]}, t_ms
            )

    def telemetry(self) -> dict[str, Any]:
        out = super().telemetry()
        out.update(
            {
                "auctions": self.auctions,
                "bids": self.bids,
                "awards": self.awards,
                "contracts_expired": self.expired,
            }
        )
        return out


class ContractNet(TeamMethod):
    """Market / contract-net: transport jobs are auctioned to runners over the bus.

    Description: each site's manager (``C_<SITE>``) auctions every open transport job,
    most urgent first (STAT, then earliest deadline), on the standing bids runners keep
    on the bus (when and where each will be free, counting the delivery and the contracts
    it is committed to); the lowest bid wins and the AWARD reserves the job's tubes.
    Runners hold up to ``max_contracts`` contracts (one active, the rest queued) and give
    back those not started within ``contract_ttl_s``. A runner with no contract for
    ``order_wait_s`` from its manager picks its own trips. Devices are chosen by least expected wait
    when a tube is queued.
    Agents: every generated worker, plus the managers. Observation: the lab (read-only)
    and the messages received. Actions: engine actions in the contract form. Messages:
    BID, AWARD, CLAIM, RELEASE, HEARTBEAT, ALERT. Telemetry: auctions, bids, awards,
    expired contracts.
    """

    method_id = "market_auction"

    def make_dispatcher(self) -> Dispatcher:
        return ContractNetDispatcher(
            self.team_comms(),
            self.order_wait_s,
            int(self.params.get("max_contracts", 2)),
            float(self.params.get("contract_ttl_s", 300.0)),
        )
