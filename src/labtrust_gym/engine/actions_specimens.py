"""Specimens: arrival, accessioning with acceptance rules, holds, carrying, expiry."""

from __future__ import annotations

import heapq
import math
import re
from typing import Any

from labtrust_gym.engine.base import Blocked, EngineBase, arg_str
from labtrust_gym.engine.state import SpecimenState
from labtrust_gym.errors import ConfigError

__all__ = ["SpecimenActions", "IN_LAB_STATUSES"]

_ALIQUOT_ID = re.compile(r"-A[0-9]+$")

#: Statuses of a specimen that is in the lab's custody and still has work to do.
IN_LAB_STATUSES = frozenset({"ACCEPTED", "QUEUED", "IN_RUN"})

_DEFAULT_HIDDEN = {
    "id_match": True,
    "leak": False,
    "haemolysis_index": 0,
    "clotted": False,
    "fill_ratio": 1.0,
}


class SpecimenActions(EngineBase):
    # ---------------------------------------------------------------- creation ---------
    def _validate_spec(self, spec: Any) -> tuple[str, list[str], str, str, str, str, str]:
        """Check a specimen spec; returns (id, panels, tube, analyzer type, site, zone, prio).

        Optional fields besides site, zone and priority: ``status`` (initial specimens that
        are already accessioned), ``centrifuged: true`` (already spun: only with status
        ACCEPTED and a panel that needs a centrifuge), ``arrival_t`` and ``collected_t``
        (finite seconds; negative means before the episode began, so turnaround and
        stability count from the true times).
        """
        w = self.world
        if not isinstance(spec, dict):
            raise ConfigError(f"specimen spec {spec!r} is not a mapping")
        sid = spec.get("specimen_id")
        if not isinstance(sid, str) or not sid:
            raise ConfigError(f"specimen spec {spec!r} has no specimen_id")
        if _ALIQUOT_ID.search(sid):
            raise ConfigError(
                f"specimen id {sid!r} ends like an aliquot id ('-A<n>'), which "
                "the engine reserves for aliquots; rename it"
            )
        panels = list(spec.get("panels") or [])
        if not panels or any(p not in w.panels for p in panels):
            raise ConfigError(
                f"specimen {sid}: panels {panels!r} must be a non-empty list of catalogue "
                f"panels ({', '.join(sorted(w.panels))})"
            )
        tubes = {w.panels[p]["tube_type"] for p in panels}
        atypes = {w.panels[p]["analyzer_type"] for p in panels}
        if len(tubes) != 1 or len(atypes) != 1:
            raise ConfigError(
                f"specimen {sid}: panels {panels} need one tube type and one analyzer type; "
                "split them into separate specimens"
            )
        tube = tubes.pop()
        site = spec.get("site_id") or next(iter(w.sites))
        if site not in w.sites:
            raise ConfigError(f"specimen {sid}: site_id {site!r} is not a site")
        zone = spec.get("zone") or w.sites[site]["reception_zone"]
        if zone not in w.zones:
            raise ConfigError(f"specimen {sid}: zone {zone!r} is not a zone")
        prio = spec.get("priority", "ROUTINE")
        if prio not in w.priorities:
            raise ConfigError(
                f"specimen {sid}: priority {prio!r} is not one of {', '.join(w.priorities)}"
            )
        for name in ("arrival_t", "collected_t"):
            if name not in spec:
                continue
            v = spec[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(
                    f"specimen {sid}: {name} must be a finite number of seconds (negative: "
                    f"before the episode started), got {v!r}"
                )
        spun = spec.get("centrifuged", False)
        if not isinstance(spun, bool):
            raise ConfigError(f"specimen {sid}: centrifuged must be true or false, got {spun!r}")
        if spun:
            status = spec.get("status", "ARRIVED")
            if status != "ACCEPTED":
                raise ConfigError(
                    f"specimen {sid}: centrifuged: true needs status ACCEPTED (a tube is spun "
                    f"only after it was accepted at accessioning), got status {status!r}"
                )
            if not any(w.panels[p]["needs_centrifuge"] for p in panels):
                raise ConfigError(
                    f"specimen {sid}: centrifuged: true, but its panels {panels} need no "
                    "centrifuge; drop the field"
                )
        return sid, panels, tube, atypes.pop(), site, zone, prio

    def _add_specimen(self, spec: dict[str, Any], t: float | None, *, emit: bool) -> SpecimenState:
        """Add a specimen arriving at ``t`` (None: the spec's ``arrival_t``, default 0)."""
        w = self.world
        sid, panels, tube, atype, site, zone, prio = self._validate_spec(spec)
        if t is None:
            t = float(spec.get("arrival_t", 0.0))
        if sid in self.specimens:
            raise ConfigError(f"specimen {sid} appears twice in the initial state / schedule")
        lag = float(self.specimen_defaults.get("collection_lag_s", 0.0))
        collected = float(spec.get("collected_t", t - lag))
        hidden: dict[str, Any] = dict(_DEFAULT_HIDDEN)
        hidden["volume_ml"] = 2.0 * float(w.tube_types[tube]["min_volume_ml"])
        hidden.update(spec.get("hidden", {}))
        hidden["values"] = self._draw_values(panels, hidden)
        stab = w.stability[tube]
        s = SpecimenState(
            specimen_id=sid,
            site_id=site,
            priority=prio,
            panels=panels,
            tube_type=tube,
            arrival_t=float(t),
            collected_t=collected,
            status=spec.get("status", "ARRIVED"),
            loc_kind="zone",
            loc_id=zone,
            needs_centrifuge=any(w.panels[p]["needs_centrifuge"] for p in panels),
            needs_aliquot=any(w.panels[p]["needs_aliquot"] for p in panels),
            analyzer_type=atype,
            centrifuged=bool(spec.get("centrifuged", False)),
            pending_panels=list(panels),
            expires_t=collected + float(stab["max_age_s"]),
            hidden=hidden,
        )
        self.specimens[sid] = s
        if s.status == "ACCEPTED":
            self._schedule(s.expires_t, "SPECIMEN_EXPIRY", (sid,))
        if emit:
            self._emit("SPECIMEN_ARRIVED")
        return s

    def _draw_values(self, panels: list[str], hidden: dict[str, Any]) -> dict[str, float]:
        given = dict(hidden.get("values") or {})
        forced = set(hidden.get("critical_analytes") or ())
        rng = self.rng["values"]
        out: dict[str, float] = {}
        for p in panels:
            for name, a in self.world.panels[p]["analytes"].items():
                # Draw for every analyte, even a given one, so that the stream stays aligned
                # whatever the caller fixes.
                u = float(rng.random())
                z = float(rng.standard_normal())
                if name in given:
                    v = float(given[name])
                elif name in forced or u < float(a.get("p_critical", 0.0)):
                    v = float(a["critical_value"]) * (1.0 + 0.02 * z)
                else:
                    v = max(0.0, float(a["mean"]) + float(a["sd"]) * z)
                out[name] = round(v, 2)
        return out

    def _on_arrival(self, spec: dict[str, Any]) -> None:
        self._add_specimen(spec, self.now, emit=True)

    # ---------------------------------------------------------------- accessioning -----
    def _spec(self, args: dict[str, Any]) -> SpecimenState:
        sid = arg_str(args, "specimen_id")
        s = self.specimens.get(sid)
        if s is None:
            raise Blocked("SPEC_UNKNOWN")
        return s

    def _act_accession(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        s = self._spec(args)
        if s.loc_kind != "zone" or s.loc_id != agent.zone:
            raise Blocked("SPEC_NOT_HERE")
        if self.world.zones[s.loc_id]["kind"] != "reception":
            raise Blocked("SPEC_NOT_AT_RECEPTION")
        if s.status != "ARRIVED":
            raise Blocked("SPEC_ALREADY_ACCESSIONED")
        outcome, code = self._acceptance(s)
        self._emit("ACCESSIONED")
        self._touch("specimens", s.specimen_id)
        if outcome == "ACCEPTED":
            self._accept(s)
        elif outcome == "HELD":
            s.status = "HELD"
            s.hold_reason = code
            self._emit("SPECIMEN_HELD")
        else:
            s.status = "REJECTED"
            s.reject_reason = code
            self._emit("SPECIMEN_REJECTED")

    def _accept(self, s: SpecimenState) -> None:
        s.status = "ACCEPTED"
        s.hold_reason = None
        self._emit("SPECIMEN_ACCEPTED")
        if s.expires_t != float("inf"):
            self._schedule(s.expires_t, "SPECIMEN_EXPIRY", (s.specimen_id,))

    def _acceptance(self, s: SpecimenState) -> tuple[str, str | None]:
        acc = self.world.acceptance
        h = s.hidden
        tube = self.world.tube_types[s.tube_type]
        for rule in acc["rules"]:
            tubes = rule.get("tube_types")
            if tubes and s.tube_type not in tubes:
                continue
            check = rule["check"]
            if check == "id_mismatch":
                fired = not h["id_match"]
            elif check == "leak":
                fired = bool(h["leak"])
            elif check == "stability_expired":
                fired = self.now > s.expires_t
            elif check == "insufficient_volume":
                fired = float(h["volume_ml"]) < float(tube["min_volume_ml"])
            elif check == "citrate_underfill":
                fired = float(h["fill_ratio"]) < float(tube.get("min_fill_ratio", 0.0))
            elif check == "clotted":
                fired = bool(h["clotted"])
            elif check == "haemolysed":
                fired = float(h["haemolysis_index"]) >= float(
                    acc["haemolysis_index_threshold"]
                ) and any(self.world.panels[p]["haemolysis_sensitive"] for p in s.panels)
            else:  # validated by the policy schema; kept for a clear failure if not
                raise ConfigError(f"acceptance rule {rule['rule_id']}: unknown check {check!r}")
            if fired:
                return rule["outcome"], rule["reason_code"]
        return "ACCEPTED", None

    def _act_resolve_hold(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        s = self._spec(args)
        decision = arg_str(args, "decision")
        if decision not in ("ACCEPT", "REJECT"):
            raise Blocked("ARGS_INVALID")
        if s.status != "HELD":
            raise Blocked("SPEC_NOT_HELD")
        if decision == "ACCEPT":
            if self.now > s.expires_t:
                raise Blocked("SPEC_STABILITY_EXPIRED")
            self._require_token(agent, "RESOLVE_HOLD", "HOLD_OVERRIDE", s.specimen_id, None)
            self._emit("HOLD_RESOLVED")
            self._accept(s)
        else:
            self._emit("HOLD_RESOLVED")
            s.status = "REJECTED"
            s.reject_reason = s.hold_reason
            self._emit("SPECIMEN_REJECTED")

    # ---------------------------------------------------------------- carrying ---------
    def _act_pick_up(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        s = self._spec(args)
        if s.loc_kind == "device":
            self._unload_faulted(agent, s)
            return
        if s.loc_kind == "consignment":
            raise Blocked("SPEC_NOT_MOVABLE")
        if s.loc_kind != "zone" or s.loc_id != agent.zone:
            raise Blocked("SPEC_NOT_HERE")
        if len(agent.carrying) >= agent.capacity:
            raise Blocked("SPEC_CARRY_LIMIT")
        s.loc_kind = "agent"
        s.loc_id = agent.agent_id
        agent.carrying.append(s.specimen_id)
        self._touch("specimens", s.specimen_id)
        self._emit("SPECIMEN_PICKED_UP")

    def _unload_faulted(self, agent: Any, s: SpecimenState) -> None:
        """Take a queued tube out of a FAULTED device's rack so it can be rerouted."""
        dev = self.devices[s.loc_id]
        if dev.state != "FAULT" or s.status != "QUEUED":
            raise Blocked("SPEC_NOT_MOVABLE")
        if agent.zone != dev.zone:
            raise Blocked("AGENT_NOT_COLOCATED")
        if len(agent.carrying) >= agent.capacity:
            raise Blocked("SPEC_CARRY_LIMIT")
        wid = next(w for w, it in dev.work.items() if it.specimen_id == s.specimen_id)
        del dev.work[wid]
        dev.queue = [e for e in dev.queue if e[3] != wid]
        heapq.heapify(dev.queue)
        s.status = "ACCEPTED"
        s.loc_kind = "agent"
        s.loc_id = agent.agent_id
        agent.carrying.append(s.specimen_id)
        self._touch("specimens", s.specimen_id)
        self._emit("SPECIMEN_PICKED_UP")

    def _act_drop_off(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        s = self._spec(args)
        if s.loc_kind != "agent" or s.loc_id != agent.agent_id:
            raise Blocked("SPEC_NOT_CARRIED")
        agent.carrying.remove(s.specimen_id)
        s.loc_kind = "zone"
        s.loc_id = agent.zone
        self._touch("specimens", s.specimen_id)
        self._emit("SPECIMEN_DROPPED")

    def _take_from_agent_or_zone(self, agent: Any, s: SpecimenState) -> None:
        """Remove ``s`` from the agent's hands or the agent's zone (caller checked)."""
        if s.loc_kind == "agent":
            self.agents[s.loc_id].carrying.remove(s.specimen_id)

    def _reachable(self, agent: Any, s: SpecimenState) -> None:
        if s.loc_kind == "agent" and s.loc_id == agent.agent_id:
            return
        if s.loc_kind == "zone" and s.loc_id == agent.zone:
            return
        if s.loc_kind in ("device", "consignment"):
            raise Blocked("SPEC_NOT_MOVABLE")
        raise Blocked("SPEC_NOT_HERE")

    def _on_specimen_expiry(self, sid: str) -> None:
        s = self.specimens[sid]
        if s.expired or s.status not in IN_LAB_STATUSES or not s.pending_panels:
            return
        if s.aliquoted:
            return
        s.expired = True
        self._emit("SPECIMEN_EXPIRED")
        self._touch("expired", sid)
