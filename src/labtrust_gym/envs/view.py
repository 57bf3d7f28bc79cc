"""A read-only, per-step index of engine state shared by observations, masks, action
decoding and the structured (scripted/LLM) view. Built at most once per env step."""

from __future__ import annotations

from typing import Any

from labtrust_gym.engine.actions_devices import specimen_stage

__all__ = ["LabView", "PICKABLE", "TERMINAL_SPECIMEN"]

PICKABLE = frozenset({"ARRIVED", "ACCEPTED"})
TERMINAL_SPECIMEN = frozenset({"REJECTED", "ALIQUOTED"})


class LabView:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._built = False
        self._live: set[str] = set()
        self._seen = 0

    def invalidate(self) -> None:
        self._built = False

    def reset(self) -> None:
        self._live = set()
        self._seen = 0
        self._built = False

    def _build(self) -> None:
        eng = self.engine
        rank = {p: int(v["rank"]) for p, v in eng.world.priorities.items()}
        self.rank = rank
        # New specimens since the last build join the live set; finished ones leave it.
        specs = eng.specimens
        if len(specs) != self._seen:
            for sid in list(specs)[self._seen :]:
                self._live.add(sid)
            self._seen = len(specs)
        by_zone: dict[str, list[Any]] = {}
        held: list[Any] = []
        done = []
        for sid in self._live:
            s = specs[sid]
            st = s.status
            if st in TERMINAL_SPECIMEN or (
                st == "ANALYZED"
                and s.loc_kind == "zone"
                and not s.pending_panels
                and s.parent_id is None
                and not self._has_open_result(sid)
            ):
                if st in TERMINAL_SPECIMEN:
                    done.append(sid)
                continue
            if st == "HELD":
                held.append(s)
            if s.loc_kind == "zone":
                by_zone.setdefault(s.loc_id, []).append(s)
        for sid in done:
            self._live.discard(sid)
        key = lambda s: (rank[s.priority], s.arrival_t, s.specimen_id)  # noqa: E731
        for lst in by_zone.values():
            lst.sort(key=key)
        held.sort(key=key)
        self.by_zone = by_zone
        self.held = [s.specimen_id for s in held]
        rel, notify, ack, rerun = [], [], [], []
        for r in eng.results.values():
            st = r.status
            if st == "READY" and (not r.critical or r.crit_state == "ACKED"):
                rel.append(r)
            if r.critical and st in ("READY", "HELD_QC"):
                if r.crit_state == "PENDING":
                    notify.append(r)
                elif r.crit_state == "NOTIFIED":
                    ack.append(r)
            if st == "HELD_QC":
                rerun.append(r)
        rkey = lambda r: (rank[r.priority], r.generated_t, r.result_id)  # noqa: E731
        self.results = {
            "RELEASE_RESULT": [r.result_id for r in sorted(rel, key=rkey)],
            "NOTIFY_CRITICAL": [r.result_id for r in sorted(notify, key=rkey)],
            "ACK_CRITICAL": [r.result_id for r in sorted(ack, key=rkey)],
            "REQUEST_RERUN": [r.result_id for r in sorted(rerun, key=rkey)],
        }
        self._built = True

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
                for d in eng.devices.values()
                if d.zone == zone
            ]
            if zone
            else [],
            "neighbours": sorted(eng.world.adjacency[zone]) if zone else [],
            "frozen_zones": sorted(eng.frozen_zones),
            "releasable_results": self.results["RELEASE_RESULT"][:max_items],
            "critical_to_notify": self.results["NOTIFY_CRITICAL"][:max_items],
            "critical_to_ack": self.results["ACK_CRITICAL"][:max_items],
            "held_qc_results": self.results["REQUEST_RERUN"][:max_items],
        }
