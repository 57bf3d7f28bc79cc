"""A read-only index of engine state shared by observations, masks, action decoding and
the structured (scripted/LLM) view.

Built lazily, at most once per change of engine state: the env invalidates it only after
an engine step that may have changed something (an accepted action, or internal events),
so idle steps reuse it. Specimens and results enter a live set when they appear and leave
it when they reach a final state, so a build costs the open work, not the episode's
history.
"""

from __future__ import annotations

import bisect
import itertools
from typing import Any

from labtrust_gym.engine.actions_devices import specimen_stage

__all__ = ["LabView", "PICKABLE", "TERMINAL_SPECIMEN"]

PICKABLE = frozenset({"ARRIVED", "ACCEPTED"})
TERMINAL_SPECIMEN = frozenset({"REJECTED", "ALIQUOTED"})
TERMINAL_RESULT = frozenset({"RELEASED", "SUPERSEDED"})


class _UrgencyKey:
    """Sort key of specimens, most urgent first (a class, not a closure: it pickles)."""

    __slots__ = ("rank",)

    def __init__(self, rank: dict[str, int]) -> None:
        self.rank = rank

    def __call__(self, s: Any) -> tuple[int, float, str]:
        return (self.rank[s.priority], s.arrival_t, s.specimen_id)


class LabView:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._built = False
        self._zone_devices: dict[str, list[str]] | None = None
        self.builds = 0
        self.reset()

    def invalidate(self) -> None:
        self._built = False

    def reset(self) -> None:
        """Forget everything: the next build indexes the engine's state from scratch."""
        self._live: set[str] = set()
        self._seen = 0
        self._sigs: dict[str, tuple[Any, ...]] = {}
        #: zone -> its listed specimens, sorted most urgent first (kept by insertion)
        self._members: dict[str, list[Any]] = {}
        self._held: set[str] = set()
        self._live_results: set[str] = set()
        self._seen_results = 0
        self._zone_devices = None
        self.by_zone: dict[str, list[Any]] = {}
        self.held: list[str] = []
        #: Zones whose specimen list changed since the last :meth:`take_dirty_zones`.
        self.dirty_zones: set[str] = set()
        self._built = False

    def take_dirty_zones(self) -> set[str]:
        """The zones whose list (members or their state) changed since the last call."""
        out, self.dirty_zones = self.dirty_zones, set()
        return out

    def zone_devices(self, zone: str | None) -> list[str]:
        """Device ids placed in ``zone``, in the engine's order."""
        if self._zone_devices is None:
            zd: dict[str, list[str]] = {}
            for did, d in self.engine.devices.items():
                zd.setdefault(d.zone, []).append(did)
            self._zone_devices = zd
        return self._zone_devices.get(zone, []) if zone else []

    def _build(self) -> None:
        eng = self.engine
        rank = self.rank = {p: int(v["rank"]) for p, v in eng.world.priorities.items()}
        self._key = key = _UrgencyKey(rank)
        # New specimens since the last build join the live set; finished ones leave it.
        # Each live specimen's signature (its listed zone and what the lists' readers
        # look at) is compared with the last build's: a specimen that changed zone moves
        # between the sorted per-zone lists (bisection), and only the zones whose members
        # or members' signatures changed are republished and reported in ``dirty_zones``.
        specs = eng.specimens
        live = self._live
        if len(specs) != self._seen:
            live.update(itertools.islice(specs, self._seen, None))
            self._seen = len(specs)
        sigs = self._sigs
        members = self._members
        held = self._held
        dirty: set[str] = set()
        held_dirty = False
        done = []
        for sid in live:
            s = specs[sid]
            st = s.status
            if st in TERMINAL_SPECIMEN:
                done.append(sid)
                zone = None
            elif (
                st == "ANALYZED"
                and s.loc_kind == "zone"
                and not s.pending_panels
                and s.parent_id is None
                and not self._has_open_result(sid)
            ):
                zone = None
            else:
                zone = s.loc_id if s.loc_kind == "zone" else None
            sig = (zone, st, bool(s.pending_panels), s.centrifuged, s.aliquoted)
            old = sigs.get(sid)
            if old == sig:
                continue
            sigs[sid] = sig
            oz = old[0] if old is not None else None
            if oz != zone:
                if oz is not None:
                    lst = members[oz]
                    del lst[bisect.bisect_left(lst, key(s), key=key)]
                if zone is not None:
                    bisect.insort(members.setdefault(zone, []), s, key=key)
            if oz is not None:
                dirty.add(oz)
            if zone is not None:
                dirty.add(zone)
            is_held = st == "HELD"
            if is_held != (sid in held):
                held_dirty = True
                if is_held:
                    held.add(sid)
                else:
                    held.discard(sid)
        for sid in done:
            live.discard(sid)
            sigs.pop(sid, None)
        by_zone = self.by_zone
        for z in dirty:
            m = members.get(z)
            if m:
                by_zone[z] = m.copy()  # published lists never change afterwards
            else:
                by_zone.pop(z, None)
                members.pop(z, None)
        self.dirty_zones |= dirty
        if held_dirty:
            self.held = [s.specimen_id for s in sorted((specs[x] for x in held), key=key)]
        rel, notify, ack, rerun = [], [], [], []
        results = eng.results
        if len(results) != self._seen_results:
            self._live_results.update(itertools.islice(results, self._seen_results, None))
            self._seen_results = len(results)
        closed = []
        for rid in self._live_results:
            r = results[rid]
            st = r.status
            if st in TERMINAL_RESULT:
                closed.append(rid)
                continue
            if st == "READY" and (not r.critical or r.crit_state == "ACKED"):
                rel.append(r)
            if r.critical and st in ("READY", "HELD_QC"):
                if r.crit_state == "PENDING":
                    notify.append(r)
                elif r.crit_state == "NOTIFIED":
                    ack.append(r)
            if st == "HELD_QC":
                rerun.append(r)
        for rid in closed:
            self._live_results.discard(rid)

        def rkey(r: Any) -> tuple[int, float, str]:
            return (rank[r.priority], r.generated_t, r.result_id)

        self.results = {
            "RELEASE_RESULT": [r.result_id for r in sorted(rel, key=rkey)],
            "NOTIFY_CRITICAL": [r.result_id for r in sorted(notify, key=rkey)],
            "ACK_CRITICAL": [r.result_id for r in sorted(ack, key=rkey)],
            "REQUEST_RERUN": [r.result_id for r in sorted(rerun, key=rkey)],
        }
        self._built = True
        self.builds += 1

    def _has_open_result(self, sid: str) -> bool:
        return False

    def ensure(self) -> LabView:
        if not self._built:
            self._build()
        return self

    # ---------------------------------------------------------------- lists ------------
    def zone_specimens(self, zone: str | None) -> list[Any]:
        self.ensure()
        return self.by_zone.get(zone, []) if zone else []

    def slot_list(self, agent_id: str, action: str) -> list[str]:
        self.ensure()
        agent = self.engine.agents[agent_id]
        if action == "DROP_OFF":
            return list(agent.carrying)
        if action == "ACCESSION":
            return [s.specimen_id for s in self.zone_specimens(agent.zone) if s.status == "ARRIVED"]
        if action == "PICK_UP":
            return [s.specimen_id for s in self.zone_specimens(agent.zone) if s.status in PICKABLE]
        if action == "RESOLVE_HOLD":
            return self.held
        return self.results.get(action, [])

    def best_specimen_for_device(self, agent_id: str, device_id: str) -> str | None:
        eng = self.engine
        dev = eng.devices[device_id]
        agent = eng.agents[agent_id]
        cands = [eng.specimens[s] for s in agent.carrying] + self.zone_specimens(agent.zone)
        best = None
        for s in cands:
            if s.status != "ACCEPTED" or not s.pending_panels:
                continue
            stage = specimen_stage(s)
            if stage != dev.kind or (stage == "analyzer" and s.analyzer_type != dev.device_type):
                continue
            k = (self.rank[s.priority], s.arrival_t, s.specimen_id)
            if best is None or k < best[0]:
                best = (k, s.specimen_id)
        return best[1] if best else None

    # ---------------------------------------------------------------- structured -------
    def agent_view(self, agent_id: str, max_items: int = 8) -> dict[str, Any]:
        """A JSON-ready description of what ``agent_id`` sees (for scripted/LLM agents)."""
        self.ensure()
        eng = self.engine
        a = eng.agents[agent_id]
        now = eng.now
        targets = eng.world.priorities

        def spec(sid: str) -> dict[str, Any]:
            s = eng.specimens[sid]
            return {
                "specimen_id": sid,
                "priority": s.priority,
                "status": s.status,
                "panels": list(s.pending_panels or s.panels),
                "next_device_kind": specimen_stage(s) if s.pending_panels else None,
                "age_s": round(now - s.arrival_t, 1),
                "due_in_s": round(s.arrival_t + targets[s.priority]["target_tat_s"] - now, 1),
                "stability_left_s": round(s.expires_t - now, 1),
            }

        zone = a.zone
        return {
            "agent_id": agent_id,
            "role": a.role,
            "zone": zone,
            "in_transit": zone is None,
            "moving_to": a.transit_to,
            "arrive_t": a.arrive_t if zone is None else None,
            "t_s": now,
            "carrying": [spec(s) for s in a.carrying],
            "zone_specimens": [spec(s.specimen_id) for s in self.zone_specimens(zone)[:max_items]],
            "zone_devices": [
                {
                    "device_id": d.device_id,
                    "type": d.device_type,
                    "state": d.state,
                    "queue_len": len(d.queue),
                    "running": len(d.runs),
                    "capacity": d.capacity,
                    "qc_failed": d.qc_failed,
                    "reagents": dict(d.reagents),
                }
                for d in (eng.devices[did] for did in self.zone_devices(zone))
            ],
            "neighbours": sorted(eng.world.adjacency[zone]) if zone else [],
            "frozen_zones": sorted(eng.frozen_zones),
            "releasable_results": self.results["RELEASE_RESULT"][:max_items],
            "critical_to_notify": self.results["NOTIFY_CRITICAL"][:max_items],
            "critical_to_ack": self.results["ACK_CRITICAL"][:max_items],
            "held_qc_results": self.results["REQUEST_RERUN"][:max_items],
        }
