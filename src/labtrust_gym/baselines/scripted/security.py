"""The supervisor's audit review: detect an insider from the audit log, revoke its keys.

Every ``review_interval_s`` the team reads the audit-log records appended since its last
review (the lab's own hash-chained record; reading it changes nothing). A BLOCKED event
whose reason code starts with one of ``review_code_prefixes`` (RBAC, token, signature
denials; a false priority claim) is a security *anomaly* of the event's agent; so is a
door alarm, charged to whoever opened the door that stayed open too long. Each anomaly
becomes a *finding* ``event_id -> review time``. An agent with ``review_flag_after``
anomalies is flagged, and the supervisor revokes every ACTIVE signing key registered to it
(REVOKE_KEY, one per step): under strict signatures that stops everything it does.

Team parameters: ``audit_review`` (on in the attack tasks; off by default, because the
review trusts the identity an event claims: an attacker spoofing a colleague's identity
gets the colleague flagged and its key revoked), ``review_interval_s``,
``review_flag_after``, ``review_code_prefixes``.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["AuditReview"]


class AuditReview:
    """Findings of the team's audit reviews in one episode (see the module docstring)."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.enabled = bool(params["audit_review"])
        self.interval = float(params["review_interval_s"])
        self.flag_after = int(params["review_flag_after"])
        self.prefixes = tuple(params["review_code_prefixes"])
        self.pos = 0
        self.last_t = -float("inf")
        self.anomalies: dict[str, int] = {}
        #: event id of each anomalous event -> time of the review that found it
        self.findings: dict[str, float] = {}
        #: agent -> time it was flagged
        self.flagged: dict[str, float] = {}
        #: door -> (agent, time, event id) of an OPEN_DOOR not yet followed by a CLOSE_DOOR
        self.open_doors: dict[str, tuple[Any, float, Any]] = {}

    def due(self, now: float) -> bool:
        return self.enabled and now - self.last_t >= self.interval

    def review(self, engine: Any, now: float) -> None:
        """Read the records appended since the last review (cost ~ new records)."""
        self.last_t = now
        log = engine.audit
        n = log.length
        doors = engine.world.doors
        for i in range(self.pos, n):
            blob = log.record_bytes(i)
            blocked = b'"BLOCKED"' in blob
            if not blocked and b"DOOR" not in blob:
                continue
            rec = orjson.loads(blob)
            ev, out = rec.get("event"), rec.get("outcome") or {}
            if blocked:
                code = out.get("blocked_reason_code") or ""
                if isinstance(ev, dict) and code.startswith(self.prefixes):
                    self._anomaly(ev.get("agent_id"), ev.get("event_id"), now)
                continue
            if isinstance(ev, dict) and ev.get("action_type") in ("OPEN_DOOR", "CLOSE_DOOR"):
                door = (ev.get("args") or {}).get("door_id")
                if ev["action_type"] == "OPEN_DOOR" and isinstance(door, str):
                    self.open_doors[door] = (
                        ev.get("agent_id"),
                        float(ev.get("t_s", 0.0)),
                        ev.get("event_id"),
                    )
                elif isinstance(door, str):
                    self.open_doors.pop(door, None)
            if "DOOR_ALARM" in (out.get("emits") or ()):
                t = float(rec.get("clock", rec.get("t_s", now)))
                for door in sorted(self.open_doors):
                    agent, opened, event_id = self.open_doors[door]
                    if opened + float(doors[door]["max_open_s"]) <= t:
                        del self.open_doors[door]  # the opening that raised the alarm
                        self._anomaly(agent, event_id, now)
        self.pos = n

    def _anomaly(self, agent: Any, event_id: Any, now: float) -> None:
        if not isinstance(agent, str):
            return
        if isinstance(event_id, str):
            self.findings.setdefault(event_id, now)
        k = self.anomalies.get(agent, 0) + 1
        self.anomalies[agent] = k
        if k >= self.flag_after:
            self.flagged.setdefault(agent, now)

    def keys_to_revoke(self, engine: Any) -> list[str]:
        """ACTIVE keys registered to a flagged agent (sorted)."""
        if not self.flagged:
            return []
        out = []
        for kid, spec in sorted((engine.initial_state.get("keys") or {}).items()):
            if spec.get("agent_id") in self.flagged:
                entry = engine.keys.get(kid)
                if entry is not None and entry.status == "ACTIVE":
                    out.append(kid)
        return out
