"""Runner: carries tubes between benches and sites."""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.scripted.common import RoleAgent, act
from labtrust_gym.baselines.scripted.restock import restock_step
from labtrust_gym.baselines.scripted.view import INF, Plan, StepView

__all__ = ["Runner"]


class Runner(RoleAgent):
    """Moves every accepted tube to the device its next stage needs, and ships the ones
    its site cannot analyse.

    Each step, in order: close a door of its zone left open; fetch or load a reagent pack
    of a restock job it holds (:mod:`~.restock`); RECEIVE_TRANSPORT a
    consignment that arrived at this dock; QUEUE_RUN a carried tube whose device is here
    (shortest expected wait for its priority); DISPATCH_TRANSPORT the tubes waiting here
    for another site (a STAT at once, others in small batches); queue tubes lying here;
    fetch a STAT tube the team assigned to this runner (the nearest one with room); head
    for the stores or the analyzer of its restock job;
    PICK_UP tubes lying here that must go elsewhere (STAT first, oldest first, up to
    capacity; with a STAT aboard only tubes going the same way); otherwise walk
    (Dijkstra) to the target of the most urgent tube carried, or to the zone with the most
    urgent unreserved work, a dock where a consignment is about to arrive, or a bench
    whose run is about to finish. A trip reserves its tubes so that two runners never
    chase the same ones.
    """

    is_runner = True

    def __init__(self, agent_id: str, role: Any, home: str, team: Any) -> None:
        super().__init__(agent_id, role, home, team)
        self.linger = 0
        signers = team.params.get("signers")
        self.custody = signers is None or agent_id in signers

    def idle_key(self, v: StepView, a: Any) -> tuple[Any, ...] | None:
        team = v.team
        if (
            a.carrying
            or a.packs
            or self.aid in v.mem.plans
            or self.aid in v.mem.restock.values()
            or not team.dispatcher.memo_runners
        ):
            return None
        extra = team.dispatcher.idle_extra(v, self.aid)
        if extra is None or team.stat_call(v, self.aid) is not None:
            return None
        return (Runner, a.zone, self.home, self.site, self.custody, self.linger, extra)

    def decide(self, v: StepView, a: Any) -> dict[str, Any] | None:
        z, e, aid = a.zone, v.e, self.aid
        door = self.close_door(v, a)
        if door is not None:
            return door
        restock = restock_step(self, v, a, move=False)  # fetch or load a reagent pack here
        if restock is not None:
            return restock
        job = aid in v.mem.restock.values()
        if (
            not a.carrying
            and not job
            and aid not in v.mem.plans
            and not v.lying.get(z)
            and not v.cons_arrived.get(z)
            and v.team.stat_call(v, aid) is None
            and (
                (v._cache.get(("no_trip", self.site)) and not v.private)
                or v.team.site_quiet(v, self.site)
            )
        ):
            return self.go_home(v, z)  # nothing on the site is left for another runner
        plan = v.mem.plans.get(aid)
        if plan is not None and plan.zone == z and plan.cid is None:
            v.set_plan(aid, None)
        carried = sorted((e.specimens[x] for x in a.carrying), key=v.skey)
        here, away, ship = [], [], []
        for s in carried:
            tgt = v.target(s, z)
            if tgt is None:
                continue
            if tgt[1] != z:
                away.append((s, tgt))
            elif tgt[0] == "ship":
                ship.append(s)
            else:
                here.append((s, tgt))
        if self.custody and self.can("RECEIVE_TRANSPORT"):
            for c in v.cons_arrived.get(z, ()):
                if v.claim("con:" + c.consignment_id):
                    v.set_plan(aid, None)
                    return act("RECEIVE_TRANSPORT", consignment_id=c.consignment_id)
        for s, tgt in here:
            if tgt[2] is not None and v.claim(s.specimen_id):
                if not v.may_queue(e.devices[tgt[2]], s):  # just-in-time: leave it on the bench
                    return act("DROP_OFF", specimen_id=s.specimen_id)
                v.add_load(tgt[2], s)
                return act("QUEUE_RUN", device_id=tgt[2], specimen_id=s.specimen_id)
        zw = v.zone_work(z)
        if (ship or zw.ship) and self.custody and self.can("DISPATCH_TRANSPORT"):
            batch = ship + [s for s in zw.ship if s.specimen_id not in v.claims]
            action = self.dispatch(v, z, batch)
            if action is not None:
                return action
        for s, tgt in here:  # every device for it is down: leave it at the bench
            if tgt[2] is None and v.claim(s.specimen_id):
                return act("DROP_OFF", specimen_id=s.specimen_id)
        for s in zw.inzone:
            if s.specimen_id not in v.claims:
                best = v.best_device(s, z, types=self.types, zone=z)
                if (
                    best is not None
                    and best[0] < 2
                    and v.may_queue(e.devices[best[1]], s)
                    and v.claim(s.specimen_id)
                ):
                    v.add_load(best[1], s)
                    return act("QUEUE_RUN", device_id=best[1], specimen_id=s.specimen_id)
        call = v.team.stat_call(v, aid)
        if call is not None and call.zone != z:  # a STAT tube waits elsewhere: fetch it
            v.set_plan(aid, call)
            move = self.move_toward(v, z, call.zone)
            if move is not None:
                return move
        if job:  # a reagent pack to fetch or deliver: go now, tubes aboard ride along
            v.set_plan(aid, None)
            move = restock_step(self, v, a, move=True)
            if move is not None:
                return move
        stat_to = {t[1] for s, t in away if v.rank(s) == 0}
        stat_carried = bool(stat_to) or any(v.rank(s) == 0 for s in carried)
        if len(a.carrying) < a.capacity:
            for s, tgt in zw.movable:
                if s.specimen_id in v.claims:
                    continue
                if (
                    stat_carried
                    and v.rank(s) > 0
                    and (v.rank(s) == v.st.low_rank or tgt[1] not in stat_to)
                ):
                    continue  # a STAT aboard: only detour for tubes going the same way
                if self.dist(v, z, tgt[1]) < INF and v.claim(s.specimen_id):
                    return act("PICK_UP", specimen_id=s.specimen_id)
        if ship:  # not due yet: leave them at the dock if anything else needs doing
            if away or self.site_work(v, z):
                for s in ship:
                    if v.claim(s.specimen_id):
                        return act("DROP_OFF", specimen_id=s.specimen_id)
            return None
        if (
            not stat_carried
            and len(a.carrying) < a.capacity
            and self.linger < int(v.params["linger_steps"])
            and self.soon_here(v, z)
        ):
            self.linger += 1
            return None
        self.linger = 0
        for _, _, zone in sorted((v.rank(s), self.dist(v, z, t[1]), t[1]) for s, t in away):
            move = self.move_toward(v, z, zone)
            if move is not None:
                return move
        return self.plan_trip(v, a, z)

    # ------------------------------------------------------------------ helpers --------
    def dispatch(self, v: StepView, z: str, batch: list[Any]) -> dict[str, Any] | None:
        if not v.ship_due(batch):
            return None
        site = v.st.zone_site[z]
        batch.sort(key=v.skey)
        route = v.st.ship[(site, batch[0].analyzer_type)][0]
        sids = [
            s.specimen_id
            for s in batch
            if v.st.ship.get((site, s.analyzer_type), ("",))[0] == route
        ]
        if not all(v.claim(sid) for sid in sids):
            return None
        mem = v.mem
        mem.cons_seq += 1
        cid = f"CN-{self.aid}-{mem.cons_seq:05d}"
        while cid in v.e.consignments:
            mem.cons_seq += 1
            cid = f"CN-{self.aid}-{mem.cons_seq:05d}"
        return act("DISPATCH_TRANSPORT", consignment_id=cid, route_id=route, specimen_ids=sids)

    def soon_here(self, v: StepView, z: str) -> bool:
        """Tubes about to be accessioned here, or a bench run here about to finish."""
        if v.arrived.get(z):
            return True
        horizon = float(v.params["linger_s"])
        return any(
            v.team.outputs_leave(v, v.e.devices[did])
            and min(r.end_t for r in v.e.devices[did].runs.values()) - v.now <= horizon
            for did in v.st.by_zone.get(z, ())
            if v.e.devices[did].runs and v.st.dev_kind[did] != "analyzer"
        )

    def site_work(self, v: StepView, z: str) -> bool:
        for zone in v.lying_zones(self.site):
            if any(s.specimen_id not in v.claims for s, _ in v.zone_work(zone).movable):
                return True
        return False

    def plan_trip(self, v: StepView, a: Any, z: str) -> dict[str, Any] | None:
        """Head for the trip the team's dispatcher chooses; else a bench about to finish;
        else home."""
        plan = v.team.trip_for(self, v, a, z)
        if plan is not None:
            v.set_plan(self.aid, plan)
            return self.move_toward(v, z, plan.zone)
        bench = self.anticipate(v, z)
        if bench is not None:
            v.set_plan(self.aid, Plan(bench))
            return self.move_toward(v, z, bench)  # None: wait here for the run to end
        v.set_plan(self.aid, None)
        v._cache[("no_trip", self.site)] = True
        return self.go_home(v, z)

    def default_trip(self, v: StepView, a: Any, z: str) -> Plan | None:
        """The most urgent reachable work of the site: tubes lying in a zone (STAT first,
        then nearest, then oldest), a dock with a consignment due, or an incoming
        consignment; nothing reserved by another runner."""
        aid = self.aid
        room = a.capacity - len(a.carrying)
        best: tuple[Any, ...] | None = None
        for zone in v.lying_zones(self.site):
            if zone == z or not self.zone_ok(v, zone):
                continue
            d = self.dist(v, z, zone)
            if d == INF:
                continue
            zw = v.zone_work(zone)
            free = [
                s
                for s, t in zw.movable
                if s.specimen_id not in v.claims
                and v.reserved.get(s.specimen_id, aid) == aid
                and self.dist(v, zone, t[1]) < INF
            ][:room]
            if free:
                key = (v.rank(free[0]), d, free[0].arrival_t, zone)
                if best is None or key < best[0]:
                    best = (key, Plan(zone, tuple(s.specimen_id for s in free)))
            docked = [s for s in zw.ship if v.reserved.get(s.specimen_id, aid) == aid]
            if docked and self.custody and v.ship_due(docked):
                key = (min(v.rank(s) for s in docked), d, 0.0, zone)
                if best is None or key < best[0]:
                    best = (key, Plan(zone, tuple(s.specimen_id for s in docked)))
        if self.custody and self.can("RECEIVE_TRANSPORT"):
            for c, dock in v.incoming_consignments(self.site):
                key2 = self.consignment_key(v, z, c, dock)
                if key2 is not None and (best is None or key2 < best[0]):
                    best = (key2, Plan(dock, (), c.consignment_id))
        return None if best is None else best[1]

    def consignment_key(self, v: StepView, z: str, c: Any, dock: str) -> tuple[Any, ...] | None:
        """Sort key of fetching consignment ``c`` at ``dock`` (None: not for us now)."""
        if v.reserved.get("con:" + c.consignment_id, self.aid) != self.aid:
            return None
        d = self.dist(v, z, dock)
        if d == INF or (c.status != "ARRIVED" and c.eta - v.now > d + float(v.params["dt_hint_s"])):
            return None
        rank = min((v.rank(v.e.specimens[s]) for s in c.specimen_ids), default=9)
        return (rank, max(d, c.eta - v.now), c.dispatched_t, dock)

    def anticipate(self, v: StepView, z: str) -> str | None:
        """A bench whose run ends about when we could get there (and no runner is going)."""
        best: tuple[Any, ...] | None = None
        slack = float(v.params["linger_s"])
        for did in v.st.by_site.get(self.site, ()):
            d = v.e.devices[did]
            if not d.runs or d.kind == "analyzer" or not self.zone_ok(v, d.zone):
                continue
            if v.plan_zones.get(d.zone, 0) or (d.zone != z and v.runners_at(d.zone)):
                continue
            dist = self.dist(v, z, d.zone)
            end = min(r.end_t for r in d.runs.values())
            if end - v.now <= dist + slack and v.team.outputs_leave(v, d):
                key = (end, dist, did)
                if best is None or key < best:
                    best = key
        return None if best is None else v.e.devices[best[2]].zone
