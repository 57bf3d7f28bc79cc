"""``hierarchical_hub``: a hub per site over local controllers per zone group, by message."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from labtrust_gym.baselines.coordination.bus_dispatch import (
    BusDispatcher,
    order_row,
    plan_keys,
)
from labtrust_gym.baselines.coordination.comms import Knowledge
from labtrust_gym.baselines.coordination.jobs import Job, site_jobs
from labtrust_gym.baselines.coordination.team_method import TeamMethod
from labtrust_gym.baselines.scripted.hooks import Dispatcher
from labtrust_gym.baselines.scripted.view import INF, StepView
from labtrust_gym.coordination.identities import coordinator_id

__all__ = ["HierarchicalHub", "HubDispatcher", "ZONE_GROUPS"]

#: Zone groups (by zone kind) each run by a local controller.
ZONE_GROUPS: dict[str, tuple[str, ...]] = {
    "front": ("reception", "dispatch", "corridor", "stores", "office"),
    "bench": ("preanalytics", "analytics", "restricted"),
}
_ANCHOR = {"front": "corridor", "bench": "preanalytics"}


class HubDispatcher(BusDispatcher):
    """Two levels, talking over the bus.

    At a step's start the site hub (``C_<SITE>``) reads its controllers' REPORTs (how many
    jobs they could not serve, sent when that number changes; their backlog, once per
    rebalancing period)
    and sends one ORDER: lend runners of the other group it sees idle to a group that
    could not serve its jobs, for this step, and every ``rebalance_steps`` move a runner
    for good towards the group with more backlog per runner. Half-way to the
    agents' decision the local controllers (``C_<SITE>_FRONT``, ``C_<SITE>_BENCH``) apply
    the ORDERs they received, assign their free runners (and runners lent to them) to the
    jobs lying in their zones (the most urgent job to the nearest runner), send the ASSIGN
    and a REPORT (only when it changed). A runner learns its group from the ORDER that
    moves it (its idle post becomes the group's anchor zone).
    """

    coordinators = (None, "FRONT", "BENCH")

    def __init__(self, comms: Any, order_wait_s: float, rebalance_steps: int) -> None:
        super().__init__(comms, order_wait_s)
        self.rebalance_steps = max(1, rebalance_steps)

    def reset(self, team: Any, engine: Any, seed: int) -> None:
        super().reset(team, engine, seed)
        st = team.static
        self.group_of_kind = {k: g for g, kinds in ZONE_GROUPS.items() for k in kinds}
        self.anchor: dict[tuple[str, str], str] = {}
        for z, site in st.zone_site.items():
            for g, kind in _ANCHOR.items():
                if st.zone_kind[z] == kind:
                    self.anchor.setdefault((site, g), z)
        self.sites = sorted(team.runners_by_site)
        self.by_aid = {m.aid: m for m in team.runners}
        # Everybody starts from the duty roster: runners of a site dealt to front / bench.
        self.hub_groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.ctrl_members: dict[tuple[str, str], list[str]] = defaultdict(list)
        for site, runners in team.runners_by_site.items():
            for i, m in enumerate(runners):
                g = "front" if i % 2 == 0 else "bench"
                self.hub_groups[(site, g)].append(m.aid)
                self.ctrl_members[(site, g)].append(m.aid)
                self._post(m, site, g)
        self.last_report: dict[str, dict[str, Any]] = {}
        self.reports: dict[str, dict[str, tuple[dict[str, Any], float]]] = {}
        self.steps = 0
        self.local_assignments = 0
        self.lent = 0
        self.moves_ordered = 0

    def _post(self, m: Any, site: str, group: str) -> None:
        m.group = group
        anchor = self.anchor.get((site, group))
        if anchor is not None and self.team.static.zone_kind[anchor] in m.kinds:
            m.home = anchor

    def group(self, v: StepView, zone: str) -> str:
        return self.group_of_kind.get(v.st.zone_kind[zone], "front")

    # ----------------------------------------------------------------- hub -----------
    def coordinate(self, v: StepView, t_ms: float) -> None:
        self.steps += 1
        c = self.comms
        for site in self.sites:
            self.hub(v, site, t_ms)
        half = t_ms + c.decide_ms / 2.0
        c.deliver(half)
        c.sync(half)
        for site in self.sites:
            for g in ZONE_GROUPS:
                self.controller(v, site, g, t_ms, half)

    def hub(self, v: StepView, site: str, t_ms: float) -> None:
        hub_id = coordinator_id(site)
        board = self.comms.board_of[hub_id]
        latest = self.reports.setdefault(site, {})
        for msg in board.read("REPORT", hub_id):
            g = msg.payload.get("group")
            if isinstance(g, str):
                latest[g] = (dict(msg.payload), msg.t_sent_ms)
        lend: list[list[str]] = []
        for g, other in (("front", "bench"), ("bench", "front")):
            rep = latest.get(g)  # a report stands until the next one
            if rep is None or int(rep[0].get("jobs", 0)) <= 0:
                continue
            # Idle runners of the other group, as the hub sees them (standing, empty
            # hands, no trip on its board).
            pool = [self.by_aid[a] for a in self.hub_groups[(site, other)] if a in self.by_aid]
            idle = self.free_runners(v, board, pool)
            for m, _ in idle[: int(rep[0]["jobs"])]:
                lend.append([m.aid, g])
        moves: list[list[str]] = []
        if self.steps % self.rebalance_steps == 0 and latest:
            f, b = self.hub_groups[(site, "front")], self.hub_groups[(site, "bench")]
            nf = int((latest.get("front") or ({}, 0))[0].get("backlog", 0))
            nb = int((latest.get("bench") or ({}, 0))[0].get("backlog", 0))
            src = dst = None
            if nf * max(1, len(b)) > (nb + 1) * max(1, len(f)) and len(b) > 1:
                src, dst = b, "front"
            elif nb * max(1, len(f)) > (nf + 1) * max(1, len(b)) and len(f) > 1:
                src, dst = f, "bench"
            if src is not None and dst is not None:
                aid = src.pop()
                self.hub_groups[(site, dst)].append(aid)
                moves.append([aid, dst])
                self.moves_ordered += 1
        if lend or moves:
            self.comms.publish(hub_id, "ORDER", {"lend": lend, "moves": moves}, t_ms)

    # ----------------------------------------------------------------- controllers ---
    def controller(self, v: StepView, site: str, g: str, t_ms: float, half: float) -> None:
        cid = coordinator_id(site, g)
        board = self.comms.board_of[cid]
        members = self.ctrl_members[(site, g)]
        lent: list[str] = []
        for msg in board.read("ORDER", cid):
            for aid, dst in msg.payload.get("moves") or ():
                if dst == g and aid not in members:
                    members.append(aid)
                elif dst != g and aid in members:
                    members.remove(aid)
            if msg.t_sent_ms == t_ms:  # lending is for this step only
                lent += [aid for aid, dst in msg.payload.get("lend") or () if dst == g]
        own: dict[str, str] = {}
        v.reserved = Knowledge(board.owner, own)  # type: ignore[assignment]
        v.claims = set()
        self.lent += len(lent)
        mine = set(members) | set(lent)
        free = [x for x in self.idle_runners(board, site) if x[0].aid in mine]
        all_runners = self.team.runners_by_site.get(site, ())
        load = max((v.e.agents[m.aid].capacity for m in all_runners), default=1)
        jobs = [j for j in site_jobs(v, site, load) if self.group(v, j.zone) == g]
        rows, left, rest = self.local(v, free, jobs, own)
        self.local_assignments += len(rows)
        if g == "bench":  # the bench controller sends idle runners to benches about to finish
            rows += self.position_orders(v, board, rest, set())
        self.send_orders(cid, "ASSIGN", rows, half)
        # Report work it cannot serve (when that changes) and, once per rebalancing
        # period, its backlog.
        last = self.last_report.get(cid)
        periodic = self.steps % self.rebalance_steps == self.rebalance_steps - 1
        if periodic or last is None or last["jobs"] != len(left):
            report = {"group": g, "jobs": len(left), "backlog": len(jobs)}
            self.last_report[cid] = report
            self.comms.publish(cid, "REPORT", report, half)

    def local(
        self, v: StepView, free: list[tuple[Any, Any]], jobs: list[Job], own: dict[str, str]
    ) -> tuple[list[list[Any]], list[Job], list[tuple[Any, Any]]]:
        """Greedy: the most urgent job gets the nearest free runner. Returns the orders,
        the jobs left and the runners left."""
        free = list(free)
        rows: list[list[Any]] = []
        rest = []
        for j in jobs:
            best = None
            for i, (m, a) in enumerate(free):
                if j.custody and not m.custody:
                    continue
                d = m.dist(v, a.zone, j.zone)
                if d < INF and (best is None or (d, m.aid) < best[0]):
                    best = ((d, m.aid), i)
            if best is None:
                rest.append(j)
                continue
            m, _ = free.pop(best[1])
            plan = j.plan()
            rows.append(order_row(m.aid, plan, j.rank == 0))
            for k in plan_keys(plan):
                own[k] = m.aid
        return rows, rest, free

    # ----------------------------------------------------------------- runners -------
    def runners_read(self, v: StepView) -> None:
        for board in self.comms.boards:
            for msg in board.read("ORDER", "runners"):
                for aid, dst in msg.payload.get("moves") or ():
                    m = self.by_aid.get(aid)
                    if m is not None and aid in board.members:
                        self._post(m, board.site, dst)

    def telemetry(self) -> dict[str, Any]:
        out = super().telemetry()
        out.update(
            {
                "local_assignments": self.local_assignments,
                "hub_lends": self.lent,
                "rebalance_moves": self.moves_ordered,
            }
        )
        return out


class HierarchicalHub(TeamMethod):
    """Hierarchical: a hub per site, local controllers per zone group, all by message.

    Description: each site's runners are split between two zone groups (front: reception,
    dispatch, corridor, stores, office; bench: pre-analytics and analytics), each run by
    a local controller (``C_<SITE>_FRONT`` / ``_BENCH``) that assigns its free runners to
    jobs lying in its zones (most urgent job, nearest runner) by ASSIGN and REPORTs what
    it could not serve. The site hub (``C_<SITE>``) answers with ORDERs: it lends idle
    runners of the other group, and every ``rebalance_steps`` moves a runner to the group
    with more backlog per runner; idle runners wait at their group's anchor zone. A
    runner that hears none of its site's coordinators for ``order_wait_s`` picks its own
    trips.
    Agents: every generated worker, plus hub and controllers. Observation: the lab
    (read-only) and the messages received. Actions: engine actions in the contract form.
    Messages: ORDER, REPORT, ASSIGN, CLAIM, RELEASE, HEARTBEAT, ALERT. Telemetry: local
    assignments, lends, rebalancing moves.
    """

    method_id = "hierarchical_hub"

    def make_dispatcher(self) -> Dispatcher:
        return HubDispatcher(
            self.team_comms(), self.order_wait_s, int(self.params.get("rebalance_steps", 6))
        )
