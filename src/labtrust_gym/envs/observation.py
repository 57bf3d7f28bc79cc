"""Observation vectors: float32 in [0, 1], one fixed layout for every agent of a world.

The layout is local to the agent's *site*, so its size depends on the largest site, not
on the size of the network: a 20-site, 10,000-agent network has the same observation
size as one of its sites. ``ObservationBuilder.layout`` lists the blocks and their
offsets, in this order:

* ``time``: fraction of the episode elapsed;
* ``results``: releasable, critical to notify, critical to acknowledge, QC-held results
  (/20, clipped) — lab-wide, the lists the ``RELEASE_RESULT`` ... slot actions index;
* ``site``: the index of the agent's site among the sorted site ids, / (sites - 1)
  (0 with one site). In transit: the site of the destination zone;
* ``zone``: one-hot of the agent's zone among the zones of its site (sorted zone ids,
  padded with zeros to the most zones of any site); all zero while in transit;
* ``transit``: in-transit flag and time to arrival (/60 s, clipped);
* ``role``: one-hot of the agent's role (sorted role ids);
* ``carry``: load / capacity, and carried specimens per priority (STAT, URGENT, ROUTINE)
  / capacity, clipped;
* ``zone_counts``: specimens in the agent's zone per priority and per next step
  (to accession, centrifuge, aliquot, analyse), each /20 clipped;
* ``work``: the agent's work list, ``N_SLOTS`` rows of [present, STAT, URGENT, ROUTINE,
  age / SLA target, stability left / window (1 for a specimen that never expires)] —
  carried specimens first, then the zone's, most urgent first;
* ``devices``: the status board of the agent's site: per device (sorted device ids of the
  site, padded to the most devices of any site) [IDLE, RUNNING, FAULT, MAINT,
  queue /10, busy slots / capacity, reagent low, QC failed]. A padding slot is all zero;
  a real device always has one of its four state flags set;
* ``frozen``: one flag per zone of the agent's site, in the order of ``zone``.

Building is incremental: one persistent ``(agents, dim)`` array is kept. Per-site boards
(``devices``, ``frozen``) and per-zone blocks (``zone_counts`` and the zone's part of
``work``) are computed once per site or zone and broadcast to the rows of their agents
with fancy indexing: boards only for the sites that changed, zone blocks for the zones
that hold specimens (their ages move on every step) or just emptied. Per-agent blocks are
recomputed only for the agents that acted, are in transit or carry specimens (the only
agents whose own blocks can change). ``full_rebuild=True`` re-indexes the engine and
recomputes every row at every step: a slow reference that gives the same observations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from labtrust_gym.engine.actions_devices import specimen_stage
from labtrust_gym.envs.codec import N_SLOTS

__all__ = ["ObservationBuilder", "GLOBAL_COLUMNS"]

_DEV_STATES = {"IDLE": 0, "RUNNING": 1, "FAULT": 2, "MAINT": 3}
_PRIO = {"STAT": 0, "URGENT": 1, "ROUTINE": 2}
_STAGE = {"ARRIVED": 0, "centrifuge": 1, "aliquoter": 2, "analyzer": 3}
_RESULT_LISTS = ("RELEASE_RESULT", "NOTIFY_CRITICAL", "ACK_CRITICAL", "REQUEST_RERUN")
#: ``time`` and ``results`` come first and are the same for every agent.
GLOBAL_COLUMNS = 5
_ZW = 7 + 6 * N_SLOTS  # a zone's row: zone_counts then work


class ObservationBuilder:
    def __init__(
        self,
        world: Any,
        roles: list[str],
        max_steps: int,
        dt_s: float,
        *,
        full_rebuild: bool = False,
    ) -> None:
        self.world = world
        self.full_rebuild = full_rebuild
        zones = world.zones
        self.zones = sorted(zones)
        self.zone_idx = {z: i for i, z in enumerate(self.zones)}
        self.sites = sorted({str(zones[z].get("site_id", "")) for z in zones} | set(world.sites))
        self.site_idx = {s: i for i, s in enumerate(self.sites)}
        by_site: dict[str, list[str]] = {s: [] for s in self.sites}
        for z in self.zones:
            by_site[str(zones[z].get("site_id", ""))].append(z)
        self.site_zones = by_site
        self.zone_site = {z: self.site_idx[str(zones[z].get("site_id", ""))] for z in self.zones}
        self.zone_local = {z: k for zs in by_site.values() for k, z in enumerate(zs)}
        dev_by_site: dict[str, list[str]] = {s: [] for s in self.sites}
        for did in sorted(world.devices):
            z = world.devices[did]["zone"]
            dev_by_site[str(zones[z].get("site_id", ""))].append(did)
        self.site_devices = dev_by_site
        #: device id -> (site index, slot within the site's board)
        self.device_slot = {
            did: (self.site_idx[s], k) for s, ds in dev_by_site.items() for k, did in enumerate(ds)
        }
        self.max_zones = max([len(v) for v in by_site.values()] + [1])
        self.max_devices = max([len(v) for v in dev_by_site.values()] + [0])
        self.roles = sorted(roles)
        self.role_idx = {r: i for i, r in enumerate(self.roles)}
        self.horizon = max(1.0, max_steps * dt_s)
        blocks = [
            ("time", 1),
            ("results", 4),
            ("site", 1),
            ("zone", self.max_zones),
            ("transit", 2),
            ("role", len(self.roles)),
            ("carry", 4),
            ("zone_counts", 7),
            ("work", 6 * N_SLOTS),
            ("devices", 8 * self.max_devices),
            ("frozen", self.max_zones),
        ]
        self.layout: dict[str, tuple[int, int]] = {}
        off = 0
        for name, size in blocks:
            self.layout[name] = (off, off + size)
            off += size
        self.dim = off
        assert self.layout["results"][1] == GLOBAL_COLUMNS
        self.reorder = {r: int(world.reagents[r]["reorder_level"]) for r in world.reagents}
        #: priority -> ([present, STAT, URGENT, ROUTINE] of a work row, SLA target in s)
        self._prio_row = {
            p: ((1.0, float(k == 0), float(k == 1), float(k == 2)), float(v["target_tat_s"]))
            for p, v in world.priorities.items()
            for k in (_PRIO[p],)
        }
        self._site_scale = 1.0 / max(1, len(self.sites) - 1)
        # An agent's own blocks, site .. carry, are written as one slice; offsets in it:
        self._a0, self._a1 = self.layout["site"][0], self.layout["zone_counts"][0]
        assert self.layout["work"][1] == self._a1 + _ZW
        self._part_len = self._a1 - self._a0
        self._r_zone = self.layout["zone"][0] - self._a0
        self._r_transit = self.layout["transit"][0] - self._a0
        self._r_role = self.layout["role"][0] - self._a0
        self._r_carry = self.layout["carry"][0] - self._a0
        self._s0, self._s1 = self.layout["devices"][0], self.layout["frozen"][1]
        self._zero_zw = [0.0] * _ZW
        self._n_zones = len(self.zones)
        # Episode state (bind()).
        self.engine: Any = None
        self.view: Any = None
        self.agent_ids: list[str] = []
        self.buf = np.zeros((0, self.dim), dtype=np.float32)

    # ------------------------------------------------------------------ episode -------
    def bind(self, engine: Any, view: Any, agent_ids: list[str]) -> np.ndarray:
        """Start an episode: allocate the rows of ``agent_ids`` and build them all."""
        self.engine = engine
        self.view = view
        self.agent_ids = list(agent_ids)
        n = len(self.agent_ids)
        self.buf = np.zeros((n, self.dim), dtype=np.float32)
        self.a_zone = np.full(n, -1, dtype=np.int64)  # global zone index; n_zones = transit
        self.a_site = np.full(n, -1, dtype=np.int64)
        self.a_carry = np.zeros(n, dtype=bool)
        self._moving: set[int] = set()
        self._carriers: set[int] = set()
        # Rows per zone (agents not carrying) and per site, for the broadcasts.
        self._zkey = [-1] * n
        self._skey = [-1] * n
        self._zone_members: dict[int, set[int]] = {}
        self._site_members: dict[int, set[int]] = {}
        self._zone_rows: dict[int, np.ndarray] = {}
        self._site_rows: dict[int, np.ndarray] = {}
        self._zt = np.zeros((self._n_zones + 1, _ZW), dtype=np.float32)
        self._zone_lists: dict[int, tuple[list[float], list[Any]]] = {}
        self._zrows: dict[int, list[float]] = {}  # the zone table's active rows, as lists
        self._zactive: set[int] = set()
        s0, s1 = self.layout["devices"][0], self.layout["frozen"][1]
        self._st = np.zeros((len(self.sites), s1 - s0), dtype=np.float32)
        self._results = np.zeros(4, dtype=np.float32)
        self.touched: np.ndarray | None = None
        self.agent_rows: np.ndarray | None = None
        self._full()
        return self.buf

    def update(self, acted: Iterable[int], changed: bool) -> np.ndarray:
        """Bring the rows up to date after an env step; returns the persistent array.

        ``acted``: row indices of the agents whose action reached the engine this step;
        ``changed``: whether engine state (anything but the clock) may have changed.
        ``self.touched`` is set to the rows that may differ in more than the global
        columns, ``self.agent_rows`` to those whose own blocks (``site`` to ``carry``) were
        recomputed (None: all rows).
        """
        if self.full_rebuild:
            self._full()
            return self.buf
        buf = self.buf
        now = self.engine.now
        if changed:
            self.view.ensure()
            self._refresh_zone_lists()
            site_mask = self._refresh_site_table()
            self._refresh_results()
        else:
            site_mask = None
        bcast = self._refresh_zone_table(now)
        dirty = set(acted)
        dirty |= self._moving
        dirty |= self._carriers
        ids = self.agent_ids
        agents = self.engine.agents
        for i in dirty:
            self._agent_row(i, agents[ids[i]], now)
        mine = np.fromiter(dirty, dtype=np.int64, count=len(dirty))
        mine.sort()
        self.agent_rows = mine
        touched = np.zeros(len(ids), dtype=bool)
        touched[mine] = True
        # Broadcast the changed zone rows to their (non-carrying) agents, and the changed
        # site boards to their sites' agents.
        a1 = self._a1
        for zi in bcast:
            rows = self._members_of(self._zone_members, self._zone_rows, zi)
            if rows.size:
                buf[rows, a1 : a1 + _ZW] = self._zt[zi]
                touched[rows] = True
        if site_mask is not None:
            for si in np.flatnonzero(site_mask).tolist():
                rows = self._members_of(self._site_members, self._site_rows, si)
                if rows.size:
                    buf[rows, self._s0 : self._s1] = self._st[si]
                    touched[rows] = True
        buf[:, 0] = min(1.0, now / self.horizon)
        buf[:, 1:GLOBAL_COLUMNS] = self._results
        self.touched = np.flatnonzero(touched)
        return buf

    # ------------------------------------------------------------------ pieces --------
    @staticmethod
    def _members_of(
        members: dict[int, set[int]], cache: dict[int, np.ndarray], key: int
    ) -> np.ndarray:
        """The sorted rows of ``members[key]`` as an array (cached until it changes)."""
        rows = cache.get(key)
        if rows is None:
            rows = np.array(sorted(members.get(key, ())), dtype=np.int64)
            cache[key] = rows
        return rows

    def _place(self, i: int, zone_key: int, site: int) -> None:
        """Record row ``i``'s zone (-1: carrying, so no zone broadcast) and site."""
        old = self._zkey[i]
        if old != zone_key:
            if old >= 0:
                self._zone_members[old].discard(i)
                self._zone_rows.pop(old, None)
            if zone_key >= 0:
                self._zone_members.setdefault(zone_key, set()).add(i)
                self._zone_rows.pop(zone_key, None)
            self._zkey[i] = zone_key
        old = self._skey[i]
        if old != site:
            if old >= 0:
                self._site_members[old].discard(i)
                self._site_rows.pop(old, None)
            self._site_members.setdefault(site, set()).add(i)
            self._site_rows.pop(site, None)
            self._skey[i] = site

    def _full(self) -> None:
        """Recompute every row from scratch."""
        eng = self.engine
        buf = self.buf
        buf[:] = 0.0
        now = eng.now
        if self.full_rebuild:
            self.view.reset()  # the reference: index the engine from scratch too
        self.view.ensure()
        self.a_zone[:] = -1
        self.a_site[:] = -1
        self._zactive = set()
        self._zrows = {}
        self._zt[:] = 0.0
        self._st[:] = 0.0
        self._refresh_zone_lists(full=True)
        self._refresh_site_table()
        self._refresh_results()
        self._refresh_zone_table(now)
        self._moving = set()
        self._carriers = set()
        agents = eng.agents
        for i, aid in enumerate(self.agent_ids):
            self._agent_row(i, agents[aid], now)
        buf[:, 0] = min(1.0, now / self.horizon)
        buf[:, 1:GLOBAL_COLUMNS] = self._results
        self.touched = None
        self.agent_rows = None

    def digest(self, h: Any, cur: np.ndarray, prev: np.ndarray | None) -> None:
        """Feed hash ``h`` with observations ``cur`` (rows of the persistent array as of
        the last update), given the previous step's ``prev``.

        The first observations go in whole; after that, only what determines the rows:
        the global columns, the per-site and per-zone tables, the own blocks (``site`` to
        ``carry``) of the rows where they changed, and the ``zone_counts`` and ``work``
        of agents that carry (everyone else's are their zone's table row). Each part is
        a function of the observations alone, so incremental and full builds hash alike.
        """
        if prev is None or prev.shape != cur.shape or not len(cur):
            h.update(cur.tobytes())
            return
        L = self.layout
        a0, a1 = L["site"][0], L["zone_counts"][0]
        rows = self.agent_rows
        if rows is None:
            diff = np.flatnonzero((cur[:, a0:a1] != prev[:, a0:a1]).any(axis=1))
        else:
            diff = rows[(cur[rows, a0:a1] != prev[rows, a0:a1]).any(axis=1)]
        carriers = np.flatnonzero(cur[:, L["carry"][0]] > 0)
        h.update(cur[0, :GLOBAL_COLUMNS].tobytes())
        h.update(self._st.tobytes())
        h.update(self._zt.tobytes())
        h.update(diff.astype("<i8").tobytes())
        h.update(cur[diff, a0:a1].tobytes())
        h.update(carriers.astype("<i8").tobytes())
        h.update(cur[carriers, a1 : a1 + _ZW].tobytes())

    def _refresh_results(self) -> None:
        res = self.view.results
        self._results = np.array(
            [min(1.0, len(res[k]) / 20.0) for k in _RESULT_LISTS], dtype=np.float32
        )

    def _refresh_site_table(self) -> np.ndarray:
        """Recompute the per-site boards; returns a bool mask of the sites that changed."""
        eng = self.engine
        width = self._st.shape[1]
        f0 = self.layout["frozen"][0] - self.layout["devices"][0]
        reorder = self.reorder
        devices = eng.devices
        rows: list[list[float]] = []
        for site in self.sites:
            row = [0.0] * width
            base = 0
            for did in self.site_devices[site]:
                d = devices[did]
                st = _DEV_STATES.get(d.state)
                if st is not None:
                    row[base + st] = 1.0
                if d.queue:
                    row[base + 4] = min(1.0, len(d.queue) / 10.0)
                if d.runs:
                    row[base + 5] = min(1.0, len(d.runs) / max(1, d.capacity))
                for r, v in d.reagents.items():
                    if v <= reorder.get(r, 0):
                        row[base + 6] = 1.0
                        break
                if d.qc_failed:
                    row[base + 7] = 1.0
                base += 8
            rows.append(row)
        for z in eng.frozen_zones:
            if z in self.zone_site:
                rows[self.zone_site[z]][f0 + self.zone_local[z]] = 1.0
        new = np.array(rows, dtype=np.float32).reshape(self._st.shape)
        mask: np.ndarray = (new != self._st).any(axis=1)
        self._st = new
        return mask

    def _refresh_zone_lists(self, full: bool = False) -> None:
        """Per zone with specimens: its counts and the head of its work list (only the
        zones whose list changed, unless ``full``)."""
        view = self.view
        dirty = view.take_dirty_zones()
        if full:
            self._zone_lists = {}
            dirty = set(view.by_zone)
        lists = self._zone_lists
        zidx = self.zone_idx
        for zone in dirty:
            zi = zidx.get(zone)
            if zi is None:
                continue
            lst = view.by_zone.get(zone)
            if not lst:
                lists.pop(zi, None)
                continue
            counts = [0.0] * 7
            for s in lst:
                counts[_PRIO[s.priority]] += 1
                if s.status == "ARRIVED":
                    counts[3] += 1
                elif s.pending_panels and s.status == "ACCEPTED":
                    counts[3 + _STAGE[specimen_stage(s)]] += 1
            lists[zi] = ([min(1.0, c / 20.0) for c in counts], lst[:N_SLOTS])

    def _refresh_zone_table(self, now: float) -> set[int]:
        """Rows of the zone table (time-dependent); returns the zones to broadcast."""
        zt = self._zt
        old = self._zactive
        new = set(self._zone_lists)
        zrows = self._zrows
        for zi in old - new:
            zt[zi] = 0.0
            zrows.pop(zi, None)
        for zi, (counts, head) in self._zone_lists.items():
            row: list[float] = list(counts)
            for s in head:
                row.extend(self._slot(s, now))
            row.extend([0.0] * (_ZW - len(row)))
            zt[zi] = row
            zrows[zi] = row
        self._zactive = new
        return old | new

    def _slot(self, s: Any, now: float) -> tuple[float, ...]:
        """One work-list row: [present, STAT, URGENT, ROUTINE, age / target, stability]."""
        head, target = self._prio_row[s.priority]
        age = (now - s.arrival_t) / target
        age = 0.0 if age < 0.0 else (1.0 if age > 1.0 else age)
        exp = s.expires_t
        if exp < math.inf:
            window = exp - s.collected_t
            stab = (exp - now) / (window if window > 1.0 else 1.0)
            stab = 0.0 if stab < 0.0 else (1.0 if stab > 1.0 else stab)
        else:
            stab = 1.0
        return (*head, age, stab)

    def _agent_row(self, i: int, a: Any, now: float) -> None:
        """Recompute the agent's own blocks (``site`` to ``carry``) and, from its zone's
        table row and what it carries, its ``zone_counts`` and ``work``."""
        row = self.buf[i]
        zone = a.zone
        if zone is not None:
            zi = self.zone_idx[zone]
            s = self.zone_site[zone]
        else:
            zi = self._n_zones
            s = self.zone_site.get(a.transit_to, -1) if a.transit_to is not None else -1
            if s < 0:
                s = max(0, int(self.a_site[i]))
        if s != self.a_site[i]:
            self.a_site[i] = s
            row[self._s0 : self._s1] = self._st[s]
        self.a_zone[i] = zi
        part = [0.0] * self._part_len
        part[0] = s * self._site_scale
        if zone is not None:
            part[self._r_zone + self.zone_local[zone]] = 1.0
            self._moving.discard(i)
        else:
            part[self._r_transit] = 1.0
            part[self._r_transit + 1] = min(1.0, max(0.0, a.arrive_t - now) / 60.0)
            self._moving.add(i)
        if a.role is not None:
            part[self._r_role + self.role_idx[a.role]] = 1.0
        carried = a.carrying
        if not carried:
            row[self._a0 : self._a1] = part
            row[self._a1 : self._a1 + _ZW] = self._zt[zi]
            self.a_carry[i] = False
            self._carriers.discard(i)
            self._place(i, zi, s)
            return
        cap = max(1, a.capacity)
        per = [0, 0, 0]
        specs = self.engine.specimens
        work: list[float] = []
        for k, sid in enumerate(carried):
            sp = specs[sid]
            per[_PRIO[sp.priority]] += 1
            if k < N_SLOTS:
                work.extend(self._slot(sp, now))
        c = self._r_carry
        part[c] = min(1.0, len(carried) / cap)
        part[c + 1] = min(1.0, per[0] / cap)
        part[c + 2] = min(1.0, per[1] / cap)
        part[c + 3] = min(1.0, per[2] / cap)
        zrow = self._zrows.get(zi, self._zero_zw)
        row[self._a0 : self._a1 + _ZW] = part + zrow[:7] + work + zrow[7 : _ZW - len(work)]
        self.a_carry[i] = True
        self._carriers.add(i)
        self._place(i, -1, s)
