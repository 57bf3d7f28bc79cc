"""Dispatch over the bus: runners act on the orders and claims that reached them.

:class:`BusDispatcher` is the runner side every built-in method shares, and the frame of
a step:

1. at the step's start ``t`` each board reads what was delivered (and forgets holdings of
   tubes no longer lying where they were held); the method's coordinators decide
   (:meth:`BusDispatcher.coordinate`) on their board's knowledge and publish;
2. the bus delivers until ``t + decide_ms``; the boards read again;
3. a runner whose trip's tubes its board shows held by someone else (a better claim, a
   coordinator's order) gives the trip up (``claims_lost``; the moves it made toward it
   are ``stale_actions``);
4. runners decide one after the other over the rest of the step (team order, each at its
   own time, so what an earlier one sent may reach a later one), each with its board's
   knowledge (:class:`~.comms.Knowledge`) and the claims of the room it stands in. A
   runner not on a trip of its own takes its newest order (``orders_adopted``). Without
   one: while it hears its coordinators (anything from them within ``order_wait_s``), no
   order means nothing to fetch; cut off from them it picks its own trip like the
   scripted runner (``fallback_trips``), so it keeps working on what it knows;
5. each runner announces a new trip by a CLAIM (which also acknowledges an order) and a
   trip given up while its tubes still lie there by a RELEASE; an order it will not take
   is released too. Beacons send heartbeats, watchdogs alerts.

Nothing of another agent's memory is read: a coordinator knows the runners' trips from
its board, a runner the others' from its own. The lab itself (where tubes lie, who stands
where, devices, how full a passage is) is observed as before. Within one step two agents
never act on the same thing: runners see the claims of the room they stand in, and the
other roles' work items (a result to release, a hold to resolve, a device to start) are
locked in the laboratory information system, which every agent sees (:class:`Claims`).

:class:`DeskDispatcher` is the scripted team's dispatch as a site dispatch desk
(``C_<SITE>``): it hands STAT tubes to the nearest runner with room and gives every free
runner with nothing to pick up where it stands the most urgent reachable work (the
scripted runner's own rule, applied in team order on the desk's knowledge), by ASSIGN.
"""

from __future__ import annotations

import math
from typing import Any

from labtrust_gym.baselines.coordination.comms import ASSIGN, Knowledge, Order, TeamComms
from labtrust_gym.baselines.coordination.private import PrivateDispatcher
from labtrust_gym.baselines.scripted.view import Plan, StepView
from labtrust_gym.coordination.identities import coordinator_id

__all__ = ["BusDispatcher", "Claims", "DeskDispatcher", "plan_keys"]


class _Elsewhere(dict[Any, Any]):
    """A ``plan_zones`` where someone is already heading to every zone: while a runner's
    coordinators are heard, pre-positioning is theirs to order, not the runner's."""

    def get(self, key: Any, default: Any = None) -> Any:
        return 1

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


_ELSEWHERE = _Elsewhere()


class Claims:
    """An agent's view of this step's claims: its ``own`` set (what it claims goes there)
    over the ``other`` one. Runners claim in their room and see the work items locked in
    the lab information system; the other roles lock there and see the room."""

    __slots__ = ("own", "other")

    def __init__(self, own: set[str], other: set[str]) -> None:
        self.own = own
        self.other = other

    def __contains__(self, key: object) -> bool:
        return key in self.own or key in self.other

    def add(self, key: str) -> None:
        self.own.add(key)

    def update(self, keys: Any) -> None:
        self.own.update(keys)


def plan_keys(plan: Plan | None) -> tuple[str, ...]:
    if plan is None:
        return ()
    return plan.sids + (("con:" + plan.cid,) if plan.cid else ())


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 1e9


class BusDispatcher(PrivateDispatcher):
    """The runner side of every bus method (see the module docstring).

    Subclasses set ``coordinators`` (the identities per site they use: ``None`` for
    ``C_<SITE>``, ``"FRONT"`` / ``"BENCH"`` for the local controllers), ``runner_beacons``
    (runners per site sending heartbeats, for methods without coordinators) and override
    :meth:`coordinate`.
    """

    coordinators: tuple[str | None, ...] = ()
    runner_beacons = 0

    def __init__(self, comms: TeamComms, order_wait_s: float = 30.0) -> None:
        self.comms = comms
        self.order_wait_ms = max(0.0, float(order_wait_s)) * 1000.0

    # ----------------------------------------------------------------- episode -------
    def reset(self, team: Any, engine: Any, seed: int) -> None:
        super().reset(team, engine, seed)
        members = {m.aid: m.site for m in team.members}
        sites = sorted({m.site for m in team.members})
        coords = {coordinator_id(s, g): s for s in sites for g in self.coordinators}
        beacons: dict[str, list[str]] = {}
        for s in sites:
            # One beacon per site: its coordinator (the hub of a hierarchy), or runners.
            ids = [coordinator_id(s)] if None in self.coordinators else []
            if not ids and self.runner_beacons:
                rs = [m.aid for m in team.runners_by_site.get(s, ())]
                step = max(1, len(rs) // self.runner_beacons)
                ids = rs[::step][: self.runner_beacons]
            if ids:
                beacons[s] = ids
        self.comms.reset({**members, **coords}, beacons)
        self.coord_ids = coords
        self.runner_ids = frozenset(m.aid for m in team.runners)
        # The order in which the team consults its runners (their decision times).
        self.runner_index = {
            m.aid: i for i, m in enumerate(x for x in team.members if x.aid in self.runner_ids)
        }
        self._pending: str | None = None
        self._ordered: set[str] = set()
        self._board_no = {a: self.comms.boards.index(b) for a, b in self.comms.board_of.items()}
        # A site whose runners all read one board (no partition splits it): knowledge is
        # shared there, so one runner finding no trip tells the others (Runner's shortcut).
        per_site: dict[str, int] = {}
        for b in self.comms.boards:
            per_site[b.site] = per_site.get(b.site, 0) + 1
        self.split_site = {site: n > 1 for site, n in per_site.items()}
        self.site_coords: dict[str, list[str]] = {}
        for cid, site in coords.items():
            self.site_coords.setdefault(site, []).append(cid)
        self.handled: dict[str, int] = {}
        self.from_order: set[str] = set()
        self.announced: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.declined: dict[str, list[str]] = {}
        self.moves: dict[str, int] = {}
        self.lost = 0
        self.stale = 0
        self.adopted = 0
        self.fallbacks = 0

    # ----------------------------------------------------------------- step ----------
    def begin_step(self, v: StepView) -> None:
        super().begin_step(v)
        self.lis_claims: set[str] = set()
        self._claim_views: dict[tuple[Any, bool], Claims] = {}
        c = self.comms
        t_ms = v.now * 1000.0
        c.sync(t_ms, v.e)
        c.clock_ms = t_ms
        # Runners standing with empty hands and nothing to pick up where they stand, per
        # site (what coordinators see of the lab; each then leaves out those its board
        # knows to be on a trip).
        agents = v.e.agents
        idle: dict[str, list[tuple[Any, Any]]] = {}
        for site, runners in self.team.runners_by_site.items():
            lst = idle[site] = []
            for m in runners:
                a = agents.get(m.aid)
                if a is None or a.zone is None or a.carrying:
                    continue
                if v.lying.get(a.zone) or v.cons_arrived.get(a.zone):
                    continue
                lst.append((m, a))
        self._idle = idle
        self.coordinate(v, t_ms)
        c.clock_ms = t_ms + c.decide_ms
        c.deliver(c.clock_ms)
        c.sync(c.clock_ms)
        self.runners_read(v)
        self._ordered = {a for b in self.comms.boards for a in b.orders}
        # Runners decide one after the other (team order) over the rest of the step.
        self._gap = max(0.0, v.dt * 1000.0 - c.decide_ms) / (len(self.runner_index) + 1)
        self._t0 = c.clock_ms
        self._pending = None

    def coordinate(self, v: StepView, t_ms: float) -> None:
        """The coordinators' decisions at the step's start (none by default)."""

    def runners_read(self, v: StepView) -> None:
        """Runners take what their board brought them (before deciding)."""

    def begin_member(self, v: StepView, m: Any) -> None:
        if self._pending is not None:
            self.announce(v, self._pending)
            self._pending = None
        zone = v.e.agents[m.aid].zone
        idx = self.runner_index.get(m.aid)
        views = self._claim_views
        view = views.get((zone, idx is None))
        if view is None:
            room = self.room_claims.setdefault(zone, set())
            lis = self.lis_claims
            view = views[(zone, idx is None)] = (
                Claims(lis, room) if idx is None else Claims(room, lis)
            )
        v.claims = view  # type: ignore[assignment]
        if idx is None:
            return  # only runners take trips
        c = self.comms
        board = c.board_of[m.aid]
        t_m = self._t0 + (idx + 1) * self._gap
        c.clock_ms = t_m
        c.deliver(t_m)
        c.sync_board(board)
        self._pending = m.aid
        v.private = self.split_site.get(m.site, False)
        plan = v.mem.plans.get(m.aid)
        keys = plan_keys(plan)
        owner = board.owner
        if keys and any(owner.get(k, m.aid) != m.aid for k in keys):
            # Its board now shows the trip's tubes held by someone else: give it up.
            self.lost += 1
            self.stale += self.moves.pop(m.aid, 0)
            v.set_plan(m.aid, None)
            self.from_order.discard(m.aid)
            plan, keys = None, ()
        new = self.take_orders(v, m, plan, keys)
        if new is not None:
            v.set_plan(m.aid, new)
            plan, keys = new, plan_keys(new)
        v.reserved = Knowledge(owner, {k: m.aid for k in keys})  # type: ignore[assignment]
        zones = dict(board.plan_zones())
        if plan is not None and not keys:
            zones[plan.zone] = zones.get(plan.zone, 0) + 1
        v.plan_zones = zones

    def idle_extra(self, v: StepView, aid: str) -> Any:
        if aid in self._ordered:
            return None  # an order waits for it: it decides for itself
        return self._board_no[aid]

    def knowledge(self, v: StepView, m: Any) -> dict[str, str]:  # pragma: no cover
        raise NotImplementedError("BusDispatcher sets the knowledge in begin_member")

    # ----------------------------------------------------------------- orders --------
    def peek_order(self, aid: str, kinds: tuple[int, ...] = (ASSIGN,)) -> Order | None:
        """The newest unhandled order of ``kinds`` for ``aid`` on its board."""
        orders = self.comms.board_of[aid].orders.get(aid)
        if not orders:
            return None
        seen = self.handled.get(aid, -1)
        best = None
        for o in orders:
            if o.seq > seen and o.kind in kinds:
                best = o
        return best

    def consume(self, aid: str, order: Order) -> None:
        """Mark ``order`` (and every older order of ``aid``) handled."""
        self.handled[aid] = max(self.handled.get(aid, -1), order.seq)
        board = self.comms.board_of[aid]
        rest = [o for o in board.orders.get(aid, ()) if o.seq > self.handled[aid]]
        if rest:
            board.orders[aid] = rest
        else:
            board.orders.pop(aid, None)

    def next_order(self, aid: str, kinds: tuple[int, ...] = (ASSIGN,)) -> Order | None:
        o = self.peek_order(aid, kinds)
        if o is not None:
            self.consume(aid, o)
        return o

    def take_orders(
        self, v: StepView, m: Any, plan: Plan | None, keys: tuple[str, ...]
    ) -> Plan | None:
        """The trip an order that reached runner ``m`` gives it now (None: keep going).

        The newest order is taken unless the runner is on a trip of its own choosing
        (then it is released); an order replaces the trip of an older order."""
        order = self.next_order(m.aid)
        if order is None:
            return None
        if keys and m.aid not in self.from_order:
            self.declined.setdefault(m.aid, []).extend(order.keys)  # busy on its own trip
            return None
        return self.adopt(m.aid, order)

    def trip(self, runner: Any, v: StepView, a: Any, z: str) -> Plan | None:
        plan = v.mem.plans.get(runner.aid)
        if plan_keys(plan):
            return plan
        return self.fallback(runner, v, a, z)

    def adopt(self, aid: str, order: Order) -> Plan:
        self.adopted += 1
        self.from_order.add(aid)
        return Plan(order.zone, order.sids, order.cid)

    def coordinator_heard(self, board: Any, site: str) -> bool:
        """Whether ``board`` heard a coordinator of ``site`` within ``order_wait_s``."""
        heard = board.watchdog.heard
        now = self.comms.clock_ms
        return any(
            now - heard.get(cid, -1e18) <= self.order_wait_ms
            for cid in self.site_coords.get(site, ())
        )

    def fallback(self, runner: Any, v: StepView, a: Any, z: str) -> Plan | None:
        """No order. While its coordinators are heard, no order means nothing to fetch;
        cut off from them (silent for ``order_wait_s``: partition, loss, a network too slow
        for the orders to arrive) it picks a trip from what it knows."""
        if self.coordinators and self.coordinator_heard(
            self.comms.board_of[runner.aid], runner.site
        ):
            return None
        plan = runner.default_trip(v, a, z)
        if plan is not None:
            self.fallbacks += 1
            self.from_order.discard(runner.aid)
        return plan

    # ----------------------------------------------------------------- announce ------
    def announce(self, v: StepView, aid: str) -> None:
        """Tell the site what changed about ``aid``'s trip (at its decision time): a new
        trip by CLAIM; a trip it left while its tubes still lie there, or orders it will
        not take, by RELEASE."""
        c = self.comms
        plan = v.mem.plans.get(aid)
        keys = plan_keys(plan)
        old = self.announced.get(aid)
        release = list(self.declined.pop(aid, ()))
        a = v.e.agents[aid]
        if keys and (old is None or old[1] != keys):
            assert plan is not None
            s = min((v.e.specimens[x] for x in plan.sids), key=v.skey, default=None)
            here = a.zone or a.transit_to or plan.zone
            prio = [float(v.rank(s)) if s is not None else 0.0, _finite(v.travel(here, plan.zone))]
            c.publish(aid, "CLAIM", {"zone": plan.zone, "keys": list(keys), "prio": prio})
            self.announced[aid] = (plan.zone, keys)
            self.moves[aid] = 0
        elif not keys and old is not None and a.zone != old[0]:
            # It left (or never reached) the zone of its trip: what still lies there is free.
            del self.announced[aid]
            self.moves.pop(aid, None)
            self.from_order.discard(aid)
            release += old[1]
        if release:
            owner = c.board_of[aid].owner
            mine = sorted({k for k in release if owner.get(k) == aid})
            if mine:
                c.publish(aid, "RELEASE", {"keys": mine})

    def end_step(self, v: StepView, actions: dict[str, dict[str, Any]]) -> None:
        c = self.comms
        if self._pending is not None:
            self.announce(v, self._pending)
            self._pending = None
        for aid, act in actions.items():
            if act["action_type"] == "MOVE" and aid in self.announced:
                self.moves[aid] = self.moves.get(aid, 0) + 1
        c.clock_ms = v.now * 1000.0 + c.decide_ms
        c.tick(c.clock_ms)

    def telemetry(self) -> dict[str, Any]:
        out = self.comms.telemetry()
        out.update(
            {
                "orders_adopted": self.adopted,
                "fallback_trips": self.fallbacks,
                "claims_lost": self.lost,
                "stale_actions": self.stale,
            }
        )
        return out

    # ----------------------------------------------------------------- helpers -------
    def coordinator_view(self, v: StepView, site: str, own: dict[str, str]) -> Any:
        """Set the view to what coordinator ``C_<site>`` knows (its board, its orders of
        this step in ``own``); returns its board."""
        board = self.comms.board_of[coordinator_id(site)]
        v.reserved = Knowledge(board.owner, own)  # type: ignore[assignment]
        v.claims = set()
        return board

    def idle_runners(self, board: Any, site: str) -> list[tuple[Any, Any]]:
        """(member, agent) of the site's runners standing with empty hands and nothing to
        pick up where they stand, that ``board`` knows no trip of."""
        holders = board.holders
        return [x for x in self._idle.get(site, ()) if x[0].aid not in holders]

    def free_runners(self, v: StepView, board: Any, runners: list[Any]) -> list[tuple[Any, Any]]:
        """(member, agent) of runners standing with empty hands that ``board`` knows no
        trip of."""
        out = []
        agents = v.e.agents
        holders = board.holders
        for m in runners:
            if m.aid in holders:
                continue
            a = agents.get(m.aid)
            if a is None or a.zone is None or a.carrying:
                continue
            out.append((m, a))
        return out

    def position_orders(
        self, v: StepView, board: Any, free: list[tuple[Any, Any]], given: set[str]
    ) -> list[list[Any]]:
        """Orders sending free runners that got no trip to a bench whose run is about to
        finish and that nobody is heading to (the scripted runner's anticipation, decided
        by the coordinator on its board's knowledge)."""
        zones = dict(board.plan_zones())
        v.plan_zones = zones
        rows: list[list[Any]] = []
        nothing: set[tuple[Any, ...]] = set()
        for m, a in free:
            if m.aid in given:
                continue
            like = (type(m), a.zone, m.kinds)
            if like in nothing:
                continue
            bench = m.anticipate(v, a.zone)
            if bench is None or bench == a.zone:
                nothing.add(like)
                continue
            zones[bench] = zones.get(bench, 0) + 1
            rows.append(order_row(m.aid, Plan(bench)))
            given.add(m.aid)
        return rows

    def send_orders(self, sender: str, msg_type: str, rows: list[list[Any]], t_ms: float) -> None:
        if rows:
            self.comms.publish(sender, msg_type, {"orders": rows}, t_ms)


def order_row(aid: str, plan: Plan, stat: bool = False) -> list[Any]:
    return [aid, plan.zone, list(plan.sids), plan.cid, stat]


class DeskDispatcher(BusDispatcher):
    """The scripted team's greedy dispatch, run by each site's desk (module docstring)."""

    coordinators = (None,)

    def reset(self, team: Any, engine: Any, seed: int) -> None:
        super().reset(team, engine, seed)
        self.orders_sent = 0
        self.stat_sent = 0
        self._stat: dict[str, Plan] = {}

    def coordinate(self, v: StepView, t_ms: float, sites: set[str] | None = None) -> None:
        """Send this step's orders of the desks of ``sites`` (default: every site)."""
        team = self.team
        merged: dict[str, str] = {}
        for site in team.runners_by_site:
            merged.update(self.comms.board_of[coordinator_id(site)].owner)
        own: dict[str, str] = {}
        v.reserved = Knowledge(merged, own)  # type: ignore[assignment]
        v.claims = set()
        v._cache.pop("stat_calls", None)
        calls = team.stat_calls(v)  # nearest runner with room, per site (desk knowledge)
        v._cache.pop("stat_calls", None)
        rows: dict[str, list[list[Any]]] = {}
        given: set[str] = set()
        for aid, plan in calls.items():
            if merged.get(plan.sids[0]) == aid:
                continue  # it is already on it
            site = v.st.zone_site[plan.zone]
            if sites is not None and site not in sites:
                continue
            rows.setdefault(site, []).append(order_row(aid, plan, True))
            for k in plan_keys(plan):
                own[k] = aid
            given.add(aid)
            self.stat_sent += 1
        for site in team.runners_by_site:
            if sites is not None and site not in sites:
                continue
            board = self.comms.board_of[coordinator_id(site)]
            nothing: set[tuple[Any, ...]] = set()  # runners alike that found no trip
            idle = self.idle_runners(board, site)
            for m, a in idle:
                if m.aid in given:
                    continue  # a STAT call
                z = a.zone
                like = (type(m), z, m.kinds, m.custody, a.capacity)
                if like in nothing:
                    continue
                plan = m.default_trip(v, a, z)
                if plan is None:
                    nothing.add(like)
                    continue
                rows.setdefault(site, []).append(order_row(m.aid, plan))
                given.add(m.aid)
                for k in plan_keys(plan):
                    own[k] = m.aid
            rows.setdefault(site, []).extend(self.position_orders(v, board, idle, given))
        for site, rs in sorted(rows.items()):
            self.orders_sent += len(rs)
            self.send_orders(coordinator_id(site), "ASSIGN", rs, t_ms)

    def runners_read(self, v: StepView) -> None:
        self._stat = {}
        for board in self.comms.boards:
            for aid in [a for a, os in board.orders.items() if any(o.stat for o in os)]:
                o = self.peek_order(aid)
                if o is not None and o.stat:
                    self.consume(aid, o)
                    self._stat[aid] = self.adopt(aid, o)

    def stat_calls(self, v: StepView) -> dict[str, Plan]:
        return self._stat

    def telemetry(self) -> dict[str, Any]:
        out = super().telemetry()
        out["orders_sent"] = self.orders_sent
        out["stat_orders_sent"] = self.stat_sent
        return out
