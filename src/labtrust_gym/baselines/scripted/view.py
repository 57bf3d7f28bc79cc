"""What the scripted team knows: static tables, memory across steps, and a per-step view.

* :class:`Static` is compiled once per episode from ``engine.world`` (devices by site and
  kind, transport routes for analyzer types a site lacks, priority ranks, service times).
* :class:`Memory` survives between steps: the ids of live specimens, results and
  consignments (kept incrementally, so finished work costs nothing), runner plans,
  QC bookkeeping.
* :class:`StepView` is rebuilt every step from the live ids only: specimens by zone and
  status, results by status, consignments by destination, plus the claims that keep two
  agents from acting on the same thing in one step.

Nothing here writes to the engine. Hidden truth (``specimen.hidden``, ``device.qc_drift``,
``result.qc_drift``) is never read.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from labtrust_gym.baselines.scripted.paths import ZonePaths
from labtrust_gym.engine.actions_devices import specimen_stage

__all__ = ["Static", "Memory", "StepView", "Plan", "DONE_STATUSES"]

INF = math.inf
#: Specimen statuses with nothing left to do (a rerun brings an ANALYZED one back).
DONE_STATUSES = frozenset({"REJECTED", "ALIQUOTED", "ANALYZED"})
_OUT = ("FAULT", "MAINT")


class Static:
    """Per-episode tables compiled from ``engine.world``."""

    def __init__(self, engine: Any) -> None:
        w = engine.world
        self.world = w
        self.paths = ZonePaths(w)
        self.zone_site = {z: d["site_id"] for z, d in w.zones.items()}
        self.zone_kind = {z: d["kind"] for z, d in w.zones.items()}
        self.dev_zone: dict[str, str] = {}
        self.dev_kind: dict[str, str] = {}
        self.by_site_kind: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.by_site_type: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.by_zone: dict[str, list[str]] = defaultdict(list)
        self.by_site: dict[str, list[str]] = defaultdict(list)
        self.types_at_site: dict[str, set[str]] = defaultdict(set)
        for did in sorted(w.devices):
            d = w.devices[did]
            kind = w.device_types[d["device_type"]]["kind"]
            self.dev_zone[did] = d["zone"]
            self.dev_kind[did] = kind
            self.by_site_kind[(d["site_id"], kind)].append(did)
            self.by_site_type[(d["site_id"], d["device_type"])].append(did)
            self.by_zone[d["zone"]].append(did)
            self.by_site[d["site_id"]].append(did)
            self.types_at_site[d["site_id"]].add(d["device_type"])
        self.site_dispatch = {s: spec["dispatch_zone"] for s, spec in w.sites.items()}
        self.dispatch_zones = frozenset(self.site_dispatch.values())
        self.route_dest = {r: self.site_dispatch[spec["to_site"]] for r, spec in w.routes.items()}
        # Analyzer types a site lacks are shipped on a route to a site that has them.
        self.ship: dict[tuple[str, str], tuple[str, str]] = {}
        for rid in sorted(w.routes):
            r = w.routes[rid]
            src, dst = r["from_site"], r["to_site"]
            for typ in sorted(self.types_at_site.get(dst, ())):
                if typ not in self.types_at_site.get(src, ()):
                    self.ship.setdefault((src, typ), (rid, self.site_dispatch[src]))
        self.rank = {p: int(v["rank"]) for p, v in w.priorities.items()}
        self.low_rank = max(self.rank.values()) if self.rank else 0
        self.fifo_types = frozenset(w.fifo_types)
        self.target_tat = {p: float(v["target_tat_s"]) for p, v in w.priorities.items()}
        self.service = {t: spec["service_s"] for t, spec in w.device_types.items()}
        self.reagent_of = {p: spec.get("reagent_id") for p, spec in w.panels.items()}
        self.analyte_stats = {
            p: {a: (float(s["mean"]), float(s["sd"])) for a, s in spec["analytes"].items()}
            for p, spec in w.panels.items()
        }

    def analyzer_site_ok(self, site: str, analyzer_type: str) -> bool:
        return analyzer_type in self.types_at_site.get(site, ())


@dataclass
class Plan:
    """A runner's trip: the zone it heads for and what it reserved there."""

    zone: str
    sids: tuple[str, ...] = ()
    cid: str | None = None


@dataclass
class Memory:
    """Team state kept across steps (never engine state)."""

    specs_ref: Any = None
    n_specs: int = 0
    live: dict[str, None] = field(default_factory=dict)
    res_ref: Any = None
    n_res: int = 0
    live_results: dict[str, None] = field(default_factory=dict)
    new_results: list[str] = field(default_factory=list)
    cons_ref: Any = None
    n_cons: int = 0
    live_cons: dict[str, None] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)
    last_qc: dict[str, float] = field(default_factory=dict)
    calibrated: dict[str, float] = field(default_factory=dict)
    suspect: dict[str, float] = field(default_factory=dict)
    pb_window: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    last_audit: float = 0.0
    cons_seq: int = 0
    restock: dict[tuple[str, str], str] = field(default_factory=dict)  # (device, reagent) -> agent

    def sync(self, engine: Any) -> None:
        """Bring the live-id sets up to date; cost ~ live work plus what is new."""
        specs = engine.specimens
        if specs is not self.specs_ref or len(specs) < self.n_specs:
            self.specs_ref = specs
            self.live = {k: None for k, s in specs.items() if s.status not in DONE_STATUSES}
        elif len(specs) > self.n_specs:
            for k in reversed(list(islice(reversed(specs), len(specs) - self.n_specs))):
                self.live[k] = None
        self.n_specs = len(specs)
        results = engine.results
        self.new_results = []
        if results is not self.res_ref or len(results) < self.n_res:
            self.res_ref = results
            self.live_results = {
                k: None for k, r in results.items() if r.status in ("READY", "HELD_QC")
            }
        elif len(results) > self.n_res:
            new = list(reversed(list(islice(reversed(results), len(results) - self.n_res))))
            self.new_results = new
            for k in new:
                self.live_results[k] = None
        self.n_res = len(results)
        for rid in list(self.live_results):
            r = results[rid]
            if r.status == "SUPERSEDED":
                del self.live_results[rid]
                self.live[r.specimen_id] = None  # a rerun: the specimen has work again
            elif r.status not in ("READY", "HELD_QC"):
                del self.live_results[rid]
        for sid in list(self.live):
            if specs[sid].status in DONE_STATUSES:
                del self.live[sid]
        cons = engine.consignments
        if cons is not self.cons_ref or len(cons) < self.n_cons:
            self.cons_ref = cons
            self.live_cons = {k: None for k, c in cons.items() if c.status != "RECEIVED"}
        elif len(cons) > self.n_cons:
            for k in islice(reversed(cons), len(cons) - self.n_cons):
                self.live_cons[k] = None
        self.n_cons = len(cons)
        for cid in list(self.live_cons):
            if cons[cid].status == "RECEIVED":
                del self.live_cons[cid]
                for p in self.plans.values():
                    if p.cid == cid:
                        p.cid = None


class _ZoneWork:
    __slots__ = ("movable", "inzone", "ship")

    def __init__(self) -> None:
        self.movable: list[tuple[Any, tuple[str, str, str | None]]] = []
        self.inzone: list[Any] = []
        self.ship: list[Any] = []


class StepView:
    """One step's index of live work, device load estimates and claims."""

    def __init__(self, team: Any, engine: Any, now: float) -> None:
        self.e = engine
        self.st: Static = team.static
        self.mem: Memory = team.mem
        self.params: dict[str, Any] = team.params
        self.team = team
        self.now = now
        self.dt = float(team.params["dt_hint_s"])
        self.tactics = bool(team.params["stat_tactics"])
        self.frozen = frozenset(engine.frozen_zones)
        self.claims: set[str] = set()
        self.private = False  # decentralized methods: no knowledge shared across zones
        self.qc_now: set[str] = set()
        self._extra: dict[str, list[tuple[int, float]]] = {}
        self._wait: dict[tuple[str, int], float] = {}
        self._work: dict[str, _ZoneWork] = {}
        self.arrived: dict[str, list[Any]] = defaultdict(list)
        self.lying: dict[str, list[Any]] = defaultdict(list)
        self.held: list[Any] = []
        specs = engine.specimens
        for sid in self.mem.live:
            s = specs[sid]
            if s.loc_kind != "zone":
                continue
            if s.status == "ACCEPTED":
                if s.pending_panels and s.expires_t > now:
                    self.lying[s.loc_id].append(s)
            elif s.status == "ARRIVED":
                self.arrived[s.loc_id].append(s)
            elif s.status == "HELD":
                self.held.append(s)
        self.ready: list[Any] = []
        self.held_qc: list[Any] = []
        results = engine.results
        for rid in self.mem.live_results:
            r = results[rid]
            (self.ready if r.status == "READY" else self.held_qc).append(r)
        self.cons_arrived: dict[str, list[Any]] = defaultdict(list)
        self.cons_transit: list[tuple[Any, str]] = []
        for cid in self.mem.live_cons:
            c = engine.consignments[cid]
            dz = self.st.route_dest.get(c.route_id)
            if dz is None:
                continue
            if c.status == "ARRIVED":
                self.cons_arrived[dz].append(c)
            elif c.status == "IN_TRANSIT":
                self.cons_transit.append((c, dz))
        self.reserved: dict[str, str] = {}
        self.plan_zones: dict[str, int] = {}
        for aid, plan in self.mem.plans.items():
            self._reserve(aid, plan, 1)
        self._cache: dict[Any, Any] = {}

    # ------------------------------------------------------------------ basics ---------
    def claim(self, key: str) -> bool:
        if key in self.claims:
            return False
        self.claims.add(key)
        return True

    def rank(self, s: Any) -> int:
        """The tube's priority rank as the team treats it (all alike without tactics)."""
        if not self.tactics:
            return self.st.low_rank
        return self.st.rank.get(s.priority, self.st.low_rank)

    def qrank(self, d: Any, entry: tuple[Any, ...]) -> int:
        """The team's rank of a device queue entry (its tube's, whatever the device's
        queue discipline)."""
        return self.rank(self.e.specimens[d.work[entry[3]].specimen_id])

    def may_queue(self, d: Any, s: Any) -> bool:
        """Whether to put ``s`` in ``d``'s queue now. On a first-come device the team loads
        just in time: a non-STAT tube waits on the bench once ``jit_queue_depth`` tubes wait
        (a batch device: once one seat is left, kept for a STAT tube)."""
        if not self.tactics or d.device_type not in self.st.fifo_types or self.rank(s) == 0:
            return True
        waiting = len(d.queue) + len(self._extra.get(d.device_id, ()))
        if d.batch:
            return waiting < d.capacity - 1
        return waiting < int(self.params["jit_queue_depth"])

    def skey(self, s: Any) -> tuple[int, float, str]:
        return (self.rank(s), s.arrival_t, s.specimen_id)

    def travel(self, a: str, b: str) -> float:
        return self.st.paths.travel(a, b, None, self.frozen)

    def _reserve(self, aid: str, plan: Plan, sign: int) -> None:
        keys = list(plan.sids) + ([] if plan.cid is None else ["con:" + plan.cid])
        for k in keys:
            if sign > 0:
                self.reserved[k] = aid
            elif self.reserved.get(k) == aid:
                del self.reserved[k]
        self.plan_zones[plan.zone] = self.plan_zones.get(plan.zone, 0) + sign

    def set_plan(self, aid: str, plan: Plan | None) -> None:
        """Replace an agent's trip plan (and its reservations)."""
        old = self.mem.plans.pop(aid, None)
        if old is not None:
            self._reserve(aid, old, -1)
        if plan is not None:
            self.mem.plans[aid] = plan
            self._reserve(aid, plan, 1)

    # ------------------------------------------------------------------ sorted work ----
    def sorted_arrived(self, zone: str) -> list[Any]:
        key = ("arrived", zone)
        out = self._cache.get(key)
        if out is None:
            out = self._cache[key] = sorted(self.arrived.get(zone, ()), key=self.skey)
        return out

    def sorted_ready(self) -> list[Any]:
        """READY results: criticals first, then by priority and age."""
        out = self._cache.get("ready")
        if out is None:
            rank = self.st.rank
            out = self._cache["ready"] = sorted(
                self.ready,
                key=lambda r: (not r.critical, rank.get(r.priority, 9), r.arrival_t, r.result_id),
            )
        return out

    def lying_zones(self, site: str) -> list[str]:
        """Zones of ``site`` where accepted tubes lie."""
        by_site = self._cache.get("lying_by_site")
        if by_site is None:
            by_site = defaultdict(list)
            for zone in sorted(self.lying):
                if self.lying[zone]:
                    by_site[self.st.zone_site[zone]].append(zone)
            self._cache["lying_by_site"] = by_site
        return by_site.get(site, [])

    def incoming_consignments(self, site: str) -> list[tuple[Any, str]]:
        """Consignments in transit to, or arrived at, the dock of ``site``."""
        by_site = self._cache.get("cons_by_site")
        if by_site is None:
            by_site = defaultdict(list)
            for dock, cs in self.cons_arrived.items():
                for c in cs:
                    by_site[self.st.zone_site[dock]].append((c, dock))
            for c, dock in self.cons_transit:
                by_site[self.st.zone_site[dock]].append((c, dock))
            self._cache["cons_by_site"] = by_site
        return by_site.get(site, [])

    def runners_at(self, zone: str) -> int:
        counts = self._cache.get("runner_zones")
        if counts is None:
            counts = defaultdict(int)
            for aid in self.team.runner_ids:
                a = self.e.agents.get(aid)
                if a is not None and a.zone is not None:
                    counts[a.zone] += 1
            self._cache["runner_zones"] = counts
        return counts.get(zone, 0)

    # ------------------------------------------------------------------ devices --------
    def item_service(self, dev: Any, s: Any) -> float:
        svc = self.st.service[dev.device_type]
        if dev.kind == "analyzer":
            return float(sum(svc.get(p, svc["default"]) for p in s.pending_panels))
        return float(svc["default"])

    def dev_wait(self, did: str, rank: int) -> float:
        """Expected wait before a new item of priority ``rank`` would start on the device
        (a priority queue serves equal or better ranks first, so only they count; on a
        first-come device every queued item does)."""
        key = (did, rank)
        w = self._wait.get(key)
        if w is None:
            d = self.e.devices[did]
            specs = self.e.specimens
            rem = sorted(max(0.0, r.end_t - self.now) for r in d.runs.values())
            fifo = d.device_type in self.st.fifo_types
            ahead = [
                self.item_service(d, specs[d.work[it[3]].specimen_id])
                for it in sorted(d.queue)
                if fifo or it[0] <= rank
            ]
            ahead += [svc for r, svc in self._extra.get(did, ()) if fifo or r <= rank]
            cap = max(1, d.capacity)
            if d.batch:
                svc = float(self.st.service[d.device_type]["default"])
                w = (rem[-1] if rem else 0.0) + svc * (len(ahead) // cap)
                if not rem and rank > 0 and self.reserved_for_stat(d):
                    w = max(w, float(self.params["centrifuge_reserve_wait_s"]))
            else:
                free = rem + [0.0] * max(0, cap - len(rem))
                heapq.heapify(free)
                for x in ahead:
                    heapq.heappush(free, heapq.heappop(free) + x)
                w = free[0]
            self._wait[key] = w
        return w

    def reserved_for_stat(self, d: Any) -> bool:
        """Whether ``d`` is the last idle device of its kind on its bench (kept for STAT)."""
        if not self.params["centrifuge_reserve"] or not self.tactics or d.kind != "centrifuge":
            return False
        others = [
            self.e.devices[o]
            for o in self.st.by_zone.get(d.zone, ())
            if o != d.device_id and self.st.dev_kind[o] == d.kind
        ]
        others = [o for o in others if o.state not in _OUT]
        return bool(others) and all(o.runs for o in others)

    def stat_soon(self, site: str, analyzer_type: str) -> int:
        """STAT tubes of a site expected at an analyzer of the type within
        ``stat_hold_s`` (being carried, aliquoted, or nearly spun)."""
        if not self.tactics:
            return 0
        table = self._cache.get("stat_soon")
        if table is None:
            table = self._cache["stat_soon"] = defaultdict(int)
            horizon = self.now + float(self.params["stat_hold_s"])
            e, st = self.e, self.st
            for sid in self.mem.live:
                s = e.specimens[sid]
                if self.st.rank.get(s.priority) != 0 or not s.pending_panels:
                    continue
                if s.loc_kind == "zone":
                    zone = s.loc_id
                elif s.loc_kind == "agent":
                    zone = e.agents[s.loc_id].zone or e.agents[s.loc_id].transit_to
                elif s.loc_kind == "device":
                    zone = st.dev_zone[s.loc_id]
                else:
                    continue
                stage = specimen_stage(s)
                if s.loc_kind == "device":
                    d = e.devices[s.loc_id]
                    if d.kind == "analyzer" or s.status != "IN_RUN":
                        continue
                    end = min(r.end_t for r in d.runs.values())
                    eta = end + (30.0 if d.kind == "aliquoter" or not s.needs_aliquot else 90.0)
                elif stage == "analyzer":
                    eta = self.now + 30.0
                elif stage == "aliquoter":
                    eta = self.now + 90.0
                else:
                    continue
                if eta <= horizon and zone is not None:
                    table[(st.zone_site[zone], s.analyzer_type)] += 1
        return table.get((site, analyzer_type), 0)

    def add_load(self, did: str, s: Any) -> None:
        """Account for an item queued on the device this step."""
        d = self.e.devices[did]
        self._extra.setdefault(did, []).append((self.rank(s), self.item_service(d, s)))
        self._wait = {k: v for k, v in self._wait.items() if k[0] != did}

    def reagent_ok(self, d: Any, s: Any, *, with_stores: bool) -> bool:
        w = self.st.world
        store = self.e.inventory.get(d.site_id, {})
        for p in s.pending_panels:
            rid = self.st.reagent_of.get(p)
            if rid is None:
                continue
            if d.reagents.get(rid, 0) < int(w.reagents[rid]["per_run"]) and (
                not with_stores or store.get(rid, 0) <= 0
            ):
                return False
        return True

    def restock_wait(self, d: Any, s: Any) -> float:
        """Expected wait for the packs ``s`` needs on ``d`` (10 min when none is coming)."""
        w = self.st.world
        wait = 0.0
        for p in s.pending_panels:
            rid = self.st.reagent_of.get(p)
            if rid is not None and d.reagents.get(rid, 0) < int(w.reagents[rid]["per_run"]):
                wait = max(wait, min(self.restock_eta(d, rid), 600.0))
        return wait + self.dt

    def restock_eta(self, d: Any, rid: str) -> float:
        """Seconds until a pack of ``rid`` could be loaded into ``d`` (INF: none coming)."""
        aid = self.mem.restock.get((d.device_id, rid))
        if aid is None:
            return INF
        a = self.e.agents[aid]
        here = a.zone or a.transit_to
        if here is None:
            return INF
        paths = self.st.paths
        if any(r == rid for r, _ in a.packs):
            return paths.travel(here, d.zone, None, self.frozen)
        stores = self.st.world.stores_zones.get(d.site_id, ())
        return min(
            (
                paths.travel(here, s, None, self.frozen)
                + paths.travel(s, d.zone, None, self.frozen)
                for s in stores
            ),
            default=INF,
        )

    def tier(self, d: Any, s: Any) -> int:
        """0 usable now, 1 usable but not ideal (QC failed, no reagent), 2 down."""
        if d.state in _OUT:
            return 2
        if d.kind == "analyzer" and (d.qc_failed or not self.reagent_ok(d, s, with_stores=True)):
            return 1
        return 0

    def best_device(
        self,
        s: Any,
        from_zone: str,
        *,
        types: frozenset[str] | None = None,
        zone: str | None = None,
    ) -> tuple[int, str] | None:
        """(tier, device) for the specimen's next stage at the site of ``from_zone``."""
        st = self.st
        site = st.zone_site[from_zone]
        stage = specimen_stage(s)
        if stage == "analyzer":
            cands = st.by_site_type.get((site, s.analyzer_type), ())
        else:
            cands = st.by_site_kind.get((site, stage), ())
        best: tuple[Any, ...] | None = None
        for did in cands:
            d = self.e.devices[did]
            if (types is not None and d.device_type not in types) or d.zone in self.frozen:
                continue
            if zone is not None and d.zone != zone:
                continue
            if d.kind == "analyzer" and d.device_type != s.analyzer_type:
                continue
            tier = self.tier(d, s)
            cost = self.travel(from_zone, d.zone) + self.dev_wait(did, self.rank(s))
            if cost == INF:
                continue
            if tier == 0 and d.kind == "analyzer" and not self.reagent_ok(d, s, with_stores=False):
                cost += self.restock_wait(d, s)  # a restock comes first
            key = (tier, cost, -len(d.queue) if d.batch and not d.runs else 0, did)
            if best is None or key < best:
                best = key
        return None if best is None else (best[0], best[3])

    def target(self, s: Any, from_zone: str) -> tuple[str, str, str | None] | None:
        """Where the specimen must go next from ``from_zone``.

        ``("dev", zone, device_id | None)`` (None: every device is down, wait there) or
        ``("ship", dispatch_zone, route_id)`` when its analyzer type is not on this site.
        """
        st = self.st
        site = st.zone_site[from_zone]
        if not st.analyzer_site_ok(site, s.analyzer_type):
            ship = st.ship.get((site, s.analyzer_type))
            return None if ship is None else ("ship", ship[1], ship[0])
        best = self.best_device(s, from_zone)
        if best is None:
            return None
        tier, did = best
        return ("dev", st.dev_zone[did], did if tier < 2 else None)

    def zone_work(self, zone: str) -> _ZoneWork:
        """Accepted specimens lying in ``zone``: to carry away, to queue here, to ship."""
        zw = self._work.get(zone)
        if zw is None:
            zw = _ZoneWork()
            for s in sorted(self.lying.get(zone, ()), key=self.skey):
                tgt = self.target(s, zone)
                if tgt is None:
                    continue
                if tgt[1] != zone:
                    zw.movable.append((s, tgt))
                elif tgt[0] == "ship":
                    zw.ship.append(s)
                elif tgt[2] is not None:
                    zw.inzone.append(s)
            self._work[zone] = zw
        return zw

    def ship_due(self, batch: list[Any]) -> bool:
        """Dispatch now: a STAT aboard, a full batch, or the oldest waited long enough."""
        if not batch:
            return False
        p = self.params
        if any(self.rank(s) == 0 for s in batch) or len(batch) >= int(p["ship_batch"]):
            return True
        return self.now - min(s.arrival_t for s in batch) >= float(p["ship_max_wait_s"])
