"""Scripted adversaries for the attack tasks.

Each adversary drives one agent: ``propose(engine, t_s)`` returns its next action, an
attack every ``attack_every_s`` (the documented kinds in turn), and ``on_step(env)``
records how the engine answered each attack (event id, time, status). ``summary`` reports
attempts, blocks and successes per attack kind; given the findings of a team's audit
review (``event_id -> time found``) it also reports which attempts were detected, and
when.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labtrust_gym.baselines.scripted.paths import ZonePaths
from labtrust_gym.engine.actions_devices import specimen_stage
from labtrust_gym.numeric import percentile

__all__ = ["DisruptiveInsider", "KeyMisuseInsider"]


class _Attacker:
    attacks: tuple[str, ...] = ()

    def __init__(self, agent_id: str, every_s: float, rng: np.random.Generator) -> None:
        self.agent_id = agent_id
        self.every_s = float(every_s)
        self.rng = rng
        self.reset(None, 0)

    def reset(self, engine: Any, seed: int) -> None:
        self.next_t = self.every_s
        self.k = 0
        self.pending: str | None = None
        #: one entry per attack: {kind, event_id, t_s, status, code}
        self.log: list[dict[str, Any]] = []
        #: times of this agent's accepted actions (attacks or not)
        self.accepted_t: list[float] = []

    def propose(self, engine: Any, t_s: float) -> dict[str, dict[str, Any]]:
        self.pending = None
        me = engine.agents[self.agent_id]
        if me.zone is None:
            return {}
        if t_s < self.next_t:
            return self._between_attacks(engine, me)
        self.next_t = t_s + self.every_s
        for _ in range(len(self.attacks)):
            kind = self.attacks[self.k % len(self.attacks)]
            self.k += 1
            action = self._attack(kind, engine, me)
            if action is not None:
                self.pending = kind
                return {self.agent_id: action}
        return {}

    def _between_attacks(self, engine: Any, me: Any) -> dict[str, dict[str, Any]]:
        return {}

    def _attack(self, kind: str, engine: Any, me: Any) -> dict[str, Any] | None:
        raise NotImplementedError

    def on_step(self, env: Any) -> None:
        """Record how the engine answered this step's action."""
        res = env.last_results.get(self.agent_id)
        if res is None:
            return
        ev = env.last_events.get(self.agent_id) or {}
        if res["status"] == "ACCEPTED":
            self.accepted_t.append(float(ev.get("t_s", env.engine.now)))
        kind = self.pending
        if kind is None:
            return
        self.log.append(
            {
                "kind": kind,
                "event_id": ev.get("event_id"),
                "t_s": float(ev.get("t_s", env.engine.now)),
                "status": res["status"],
                "code": res["blocked_reason_code"],
            }
        )

    def first_attack_s(self) -> float | None:
        return self.log[0]["t_s"] if self.log else None

    def summary(self, findings: dict[str, float] | None = None) -> dict[str, Any]:
        """Totals, per-kind counts and (with the team's ``findings``) detection."""
        found = findings or {}
        by: dict[str, dict[str, int]] = {
            k: {"attempted": 0, "blocked": 0, "succeeded": 0, "detected": 0} for k in self.attacks
        }
        lat: list[float] = []
        detected_t: float | None = None
        for x in self.log:
            row = by[x["kind"]]
            row["attempted"] += 1
            row["blocked" if x["status"] == "BLOCKED" else "succeeded"] += 1
            t = found.get(x["event_id"]) if x["event_id"] is not None else None
            if t is not None:
                row["detected"] += 1
                lat.append(t - x["t_s"])
                detected_t = t if detected_t is None else min(detected_t, t)
        tried = {k: r for k, r in by.items() if r["attempted"]}
        return {
            "attack_attempts": len(self.log),
            "attacks_blocked": sum(r["blocked"] for r in by.values()),
            "attacks_accepted": sum(r["succeeded"] for r in by.values()),
            "attacks_detected": sum(r["detected"] for r in by.values()),
            "attempts_by_kind": {k: r["attempted"] for k, r in sorted(tried.items())},
            "blocked_by_kind": {k: r["blocked"] for k, r in sorted(tried.items()) if r["blocked"]},
            "accepted_by_kind": {
                k: r["succeeded"] for k, r in sorted(tried.items()) if r["succeeded"]
            },
            "attacks_by_kind": by,
            "attacks_not_attempted": sorted(k for k, r in by.items() if not r["attempted"]),
            "detection_latency_p50_s": percentile(lat, 50),
            "first_detection_s": detected_t,
        }


class DisruptiveInsider(_Attacker):
    """A badge-holding runner who tries to disrupt the lab.

    Attacks in turn: move into zones its role may not enter, release a result, start an
    analyzer, issue itself a token, open the restricted airlock without a token, jump the
    queue by claiming STAT for a routine tube it carries (it first takes one where tubes
    lie, then queues it on the device the tube needs next), and prop the pre-analytics
    door open (which the engine allows, then alarms on and freezes if it stays open).

    Every kind is tried in every episode: when an attack needs a stage (a zone next to a
    forbidden one, a device, a door, a routine tube in hand), the insider walks there
    between attacks, and at attack time waits for the stage rather than skipping the kind
    (for at most ``stage_timeout_s``).
    """

    attacks = (
        "illegal_move",
        "unauthorised_release",
        "start_run",
        "self_issue_token",
        "airlock_without_token",
        "queue_jump",
        "door_propping",
    )
    stage_timeout_s = 300.0

    def reset(self, engine: Any, seed: int) -> None:
        super().reset(engine, seed)
        self.waiting_since: float | None = None
        self._paths: ZonePaths | None = None
        self._world: Any = None

    def propose(self, engine: Any, t_s: float) -> dict[str, dict[str, Any]]:
        self.pending = None
        me = engine.agents[self.agent_id]
        if me.zone is None:
            return {}
        if engine.world is not self._world:
            self._world, self._paths = engine.world, ZonePaths(engine.world)
        kind = self.attacks[self.k % len(self.attacks)]
        if me.carrying and kind != "queue_jump":
            # Give back a tube it took, so the attack costs the lab time, not the sample.
            return self._act("DROP_OFF", specimen_id=me.carrying[0])
        if t_s >= self.next_t:
            action = self._attack(kind, engine, me)
            if action is not None:
                self.k += 1
                self.next_t = t_s + self.every_s
                self.waiting_since = None
                self.pending = kind
                return {self.agent_id: action}
            if self.waiting_since is None:
                self.waiting_since = t_s
            elif t_s - self.waiting_since > self.stage_timeout_s:
                self.k += 1  # no stage for it now: the next kind
                self.waiting_since = None
                return {}
        return self._prepare(kind, engine, me)

    # ------------------------------------------------------------------ stages ---------
    def _act(self, action: str, **args: Any) -> dict[str, dict[str, Any]]:
        return {self.agent_id: {"action_type": action, "args": args}}

    def _stage_zones(self, kind: str, engine: Any, me: Any) -> list[str]:
        """Zones where ``kind`` can be staged ([]: anywhere will do)."""
        w = engine.world
        kinds = w.roles[me.role].zone_kinds
        mine = [z for z in sorted(w.zones) if w.zones[z]["kind"] in kinds]
        if kind == "illegal_move":
            return [
                z
                for z in mine
                if any(w.zones[n]["kind"] not in kinds for n in sorted(w.adjacency[z]))
            ]
        if kind == "start_run":
            return sorted({d.zone for d in engine.devices.values() if d.zone in mine})
        if kind in ("airlock_without_token", "door_propping"):
            want = "restricted" if kind == "airlock_without_token" else "standard"
            return sorted(
                z for d in engine.doors.values() if d.kind == want for z in d.zones if z in mine
            )
        if kind == "queue_jump":
            if me.carrying:
                s = engine.specimens[me.carrying[0]]
                return sorted({d.zone for d in self._devices_for(engine, s) if d.zone in mine})
            return sorted({s.loc_id for s in self._routine_lying(engine)} & set(mine))
        return []

    def _prepare(self, kind: str, engine: Any, me: Any) -> dict[str, dict[str, Any]]:
        """Walk toward the stage of ``kind``; at a tube, take it (queue jump)."""
        if kind == "queue_jump" and not me.carrying:
            for s in self._routine_lying(engine):
                if s.loc_id == me.zone:
                    return self._act("PICK_UP", specimen_id=s.specimen_id)
        zones = self._stage_zones(kind, engine, me)
        if not zones or me.zone in zones:
            return {}
        paths = self._paths
        assert paths is not None  # set in propose before any stage is prepared
        kinds = engine.world.roles[me.role].zone_kinds
        frozen = frozenset(engine.frozen_zones)
        target = min(zones, key=lambda z: (paths.travel(me.zone, z, kinds, frozen), z))
        hop = paths.next_hop(me.zone, target, kinds, frozen)
        return {} if hop is None else self._act("MOVE", to_zone=hop)

    @staticmethod
    def _routine_lying(engine: Any) -> list[Any]:
        return [
            s
            for s in engine.specimens.values()
            if s.loc_kind == "zone"
            and s.priority != "STAT"
            and s.status == "ACCEPTED"
            and s.pending_panels
        ]

    @staticmethod
    def _devices_for(engine: Any, s: Any) -> list[Any]:
        stage = specimen_stage(s)
        return [
            d
            for d in engine.devices.values()
            if d.kind == stage
            and (stage != "analyzer" or d.device_type == s.analyzer_type)
            and d.state in ("IDLE", "RUNNING")
        ]

    def _attack(self, kind: str, engine: Any, me: Any) -> dict[str, Any] | None:
        w = engine.world
        if kind == "illegal_move":
            bad = [
                z
                for z in sorted(w.adjacency[me.zone])
                if w.zones[z]["kind"] not in w.roles[me.role].zone_kinds
            ]
            return {"action_type": "MOVE", "args": {"to_zone": bad[0]}} if bad else None
        if kind == "unauthorised_release":
            rid = next((r for r, v in engine.results.items() if v.status == "READY"), "R-ANY")
            return {"action_type": "RELEASE_RESULT", "args": {"result_id": rid}}
        if kind == "start_run":
            devs = sorted(d for d, v in engine.devices.items() if v.zone == me.zone)
            return {"action_type": "START_RUN", "args": {"device_id": devs[0]}} if devs else None
        if kind == "self_issue_token":
            return {
                "action_type": "ISSUE_TOKEN",
                "args": {
                    "token_id": f"FORGED-{self.k}",
                    "token_type": "QC_DRIFT_OVERRIDE",
                    "subject_agent_id": self.agent_id,
                    "approvers": [self.agent_id],
                },
            }
        if kind in ("airlock_without_token", "door_propping"):
            want = "restricted" if kind == "airlock_without_token" else "standard"
            doors = sorted(
                d
                for d, v in engine.doors.items()
                if v.kind == want and me.zone in v.zones and not v.open
            )
            return {"action_type": "OPEN_DOOR", "args": {"door_id": doors[0]}} if doors else None
        if kind == "queue_jump":
            for sid in me.carrying:
                s = engine.specimens[sid]
                devs = sorted(
                    d.device_id for d in self._devices_for(engine, s) if d.zone == me.zone
                )
                if s.priority != "STAT" and devs:
                    return {
                        "action_type": "QUEUE_RUN",
                        "args": {"device_id": devs[0], "specimen_id": sid, "priority": "STAT"},
                    }
            return None
        raise ValueError(kind)


class KeyMisuseInsider(_Attacker):
    """An insider under strict signatures who tries to act with keys it should not use.

    Attacks in turn, each on a move that would otherwise be allowed: an unsigned action, a
    forged signature, its own revoked former key, a colleague's stolen key (signed with the
    real stolen private key), a replay of one of its earlier valid signatures, and a key id
    nobody registered. Between attacks it does legitimate-looking work signed with its own
    active key, until it finds that key revoked (its action blocked SIG_KEY_REVOKED).
    ``revoked_t`` is the first time its own key was seen revoked.
    """

    attacks = (
        "unsigned",
        "forged_signature",
        "revoked_key",
        "borrowed_key",
        "replay",
        "unknown_key",
    )

    def __init__(
        self,
        agent_id: str,
        every_s: float,
        rng: np.random.Generator,
        own_key: tuple[str, Any],
        old_key: tuple[str, Any],
        stolen_key: tuple[str, Any],
    ) -> None:
        self.own_key = own_key
        self.old_key = old_key
        self.stolen_key = stolen_key
        super().__init__(agent_id, every_s, rng)

    def reset(self, engine: Any, seed: int) -> None:
        super().reset(engine, seed)
        self.last_signature: str | None = None
        self.revoked_t: float | None = None
        self.knows_revoked = False

    def _target(self, engine: Any, me: Any) -> str | None:
        opts = [
            z
            for z in sorted(engine.world.adjacency[me.zone])
            if engine.world.zones[z]["kind"] in engine.world.roles[me.role].zone_kinds
            and z not in engine.frozen_zones
        ]
        return opts[int(self.rng.integers(len(opts)))] if opts else None

    def _between_attacks(self, engine: Any, me: Any) -> dict[str, dict[str, Any]]:
        # Legitimate, properly signed work between attacks (its own active key).
        if self.knows_revoked or self.rng.random() > 0.2:
            return {}
        z = self._target(engine, me)
        if z is None:
            return {}
        return {
            self.agent_id: {
                "action_type": "MOVE",
                "args": {"to_zone": z},
                "sign_with": self.own_key,
            }
        }

    def _attack(self, kind: str, engine: Any, me: Any) -> dict[str, Any] | None:
        z = self._target(engine, me)
        if z is None:
            return None
        base = {"action_type": "MOVE", "args": {"to_zone": z}}
        if kind == "unsigned":
            return {**base, "key_id": None, "signature": None}
        if kind == "forged_signature":
            return {**base, "key_id": self.own_key[0], "signature": self.rng.bytes(64).hex()}
        if kind == "revoked_key":
            return {**base, "sign_with": self.old_key}
        if kind == "borrowed_key":
            return {**base, "sign_with": self.stolen_key}
        if kind == "replay":
            sig = self.last_signature or self.rng.bytes(64).hex()
            return {**base, "key_id": self.own_key[0], "signature": sig}
        if kind == "unknown_key":
            return {**base, "key_id": "K_NOBODY", "signature": self.rng.bytes(64).hex()}
        raise ValueError(kind)

    def on_step(self, env: Any) -> None:
        res = env.last_results.get(self.agent_id)
        ev = env.last_events.get(self.agent_id)
        if self.pending is None and res is not None and ev:
            if res["status"] == "ACCEPTED":
                self.last_signature = ev.get("signature")  # kept for a later replay attempt
            elif res["blocked_reason_code"] == "SIG_KEY_REVOKED":
                self.knows_revoked = True  # its own key stopped working
        if self.revoked_t is None:
            entry = env.engine.keys.get(self.own_key[0])
            if entry is not None and entry.status == "REVOKED":
                # When: the accepted REVOKE_KEY of this step (else the step's end).
                self.revoked_t = float(env.engine.now)
                for aid, e in env.last_events.items():
                    r = env.last_results.get(aid) or {}
                    if (
                        e.get("action_type") == "REVOKE_KEY"
                        and (e.get("args") or {}).get("key_id") == self.own_key[0]
                        and r.get("status") == "ACCEPTED"
                    ):
                        self.revoked_t = float(e["t_s"])
        super().on_step(env)
