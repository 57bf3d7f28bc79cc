"""Scripted adversaries for the attack tasks.

Each adversary drives one agent: ``propose(engine, t_s)`` returns its next attack (one
every ``attack_every_s``), and ``on_step(env)`` records how the engine answered,
so the task can report attempts, blocks and anything that got through.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DisruptiveInsider", "KeyMisuseInsider"]


class _Attacker:
    attacks: tuple[str, ...] = ()

    def __init__(self, agent_id: str, every_s: float, rng: np.random.Generator) -> None:
        self.agent_id = agent_id
        self.every_s = float(every_s)
        self.rng = rng
        self.next_t = self.every_s
        self.k = 0
        self.pending: str | None = None
        self.attempts: dict[str, int] = {}
        self.blocked: dict[str, int] = {}
        self.accepted: dict[str, int] = {}

    def reset(self, engine: Any, seed: int) -> None:
        self.next_t = self.every_s
        self.k = 0
        self.pending = None
        self.attempts, self.blocked, self.accepted = {}, {}, {}

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
                # A preparatory step (taking a tube to jump the queue with) is no attack.
                self.pending = None if action.pop("_setup", False) else kind
                return {self.agent_id: action}
        return {}

    def _between_attacks(self, engine: Any, me: Any) -> dict[str, dict[str, Any]]:
        return {}

    def _attack(self, kind: str, engine: Any, me: Any) -> dict[str, Any] | None:
        raise NotImplementedError

    def on_step(self, env: Any) -> None:
        """Record how the engine answered this step's attack."""
        kind = self.pending
        res = env.last_results.get(self.agent_id)
        if kind is None or res is None:
            return
        self.attempts[kind] = self.attempts.get(kind, 0) + 1
        book = self.blocked if res["status"] == "BLOCKED" else self.accepted
        book[kind] = book.get(kind, 0) + 1

    def summary(self) -> dict[str, Any]:
        return {
            "attack_attempts": sum(self.attempts.values()),
            "attacks_blocked": sum(self.blocked.values()),
            "attacks_accepted": sum(self.accepted.values()),
            "attempts_by_kind": dict(sorted(self.attempts.items())),
            "blocked_by_kind": dict(sorted(self.blocked.items())),
            "accepted_by_kind": dict(sorted(self.accepted.items())),
        }


class DisruptiveInsider(_Attacker):
    """A badge-holding runner who tries to disrupt the lab.

    Attacks in turn: move into zones its role may not enter, release a result, start an
    analyzer, issue itself a token, open the restricted airlock without a token, jump the
    queue by claiming STAT for a routine tube it carries, and prop the pre-analytics door
    open (which the engine allows, then alarms on and freezes).
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

    def _between_attacks(self, engine: Any, me: Any) -> dict[str, dict[str, Any]]:
        # Wander between the corridor and the benches so every attack has a stage.
        if me.carrying or self.rng.random() > 0.1:
            return {}
        options = [
            z
            for z in sorted(engine.world.adjacency[me.zone])
            if engine.world.zones[z]["kind"]
            in ("corridor", "preanalytics", "analytics", "reception")
            and z not in engine.frozen_zones
        ]
        if not options:
            return {}
        z = options[int(self.rng.integers(len(options)))]
        return {self.agent_id: {"action_type": "MOVE", "args": {"to_zone": z}}}

    def _attack(self, kind: str, engine: Any, me: Any) -> dict[str, Any] | None:
        w = engine.world
        if kind == "illegal_move":
            bad = [
                z
                for z in sorted(w.adjacency[me.zone])
                if w.zones[z]["kind"] in ("office", "restricted")
            ]
            if not bad:
                return None
            return {"action_type": "MOVE", "args": {"to_zone": bad[0]}}
        if kind == "unauthorised_release":
            rid = next((r for r, v in engine.results.items() if v.status == "READY"), "R-ANY")
            return {"action_type": "RELEASE_RESULT", "args": {"result_id": rid}}
        if kind == "start_run":
            devs = [d for d, v in engine.devices.items() if v.zone == me.zone]
            if not devs:
                return None
            return {"action_type": "START_RUN", "args": {"device_id": sorted(devs)[0]}}
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
        if kind == "airlock_without_token":
            doors = [
                d
                for d, v in engine.doors.items()
                if v.kind == "restricted" and me.zone in v.zones and not v.open
            ]
            if not doors:
                return None
            return {"action_type": "OPEN_DOOR", "args": {"door_id": doors[0]}}
        if kind == "queue_jump":
            for sid in me.carrying:
                s = engine.specimens[sid]
                devs = [
                    d
                    for d, v in engine.devices.items()
                    if v.zone == me.zone and v.state in ("IDLE", "RUNNING")
                ]
                if s.priority != "STAT" and devs:
                    return {
                        "action_type": "QUEUE_RUN",
                        "args": {
                            "device_id": sorted(devs)[0],
                            "specimen_id": sid,
                            "priority": "STAT",
                        },
                    }
            # Take a routine tube to have something to jump with (then drop it back later).
            for s in engine.specimens.values():
                if (
                    s.loc_kind == "zone"
                    and s.loc_id == me.zone
                    and s.priority == "ROUTINE"
                    and s.status == "ACCEPTED"
                ):
                    return {
                        "action_type": "PICK_UP",
                        "args": {"specimen_id": s.specimen_id},
                        "_setup": True,
                    }
            return None
        if kind == "door_propping":
            doors = [
                d
                for d, v in engine.doors.items()
                if v.kind == "standard" and me.zone in v.zones and not v.open
            ]
            if not doors:
                return None
            return {"action_type": "OPEN_DOOR", "args": {"door_id": doors[0]}}
        raise ValueError(kind)

    def propose(self, engine: Any, t_s: float) -> dict[str, dict[str, Any]]:
        me = engine.agents[self.agent_id]
        if me.zone is not None and me.carrying and t_s >= self.next_t - self.every_s / 2:
            # Give back a tube it took, so the attack costs the lab time, not the sample.
            s = engine.specimens[me.carrying[0]]
            if s.status in ("ACCEPTED", "ARRIVED") and self.k % 3 == 0:
                self.pending = None
                return {
                    self.agent_id: {
                        "action_type": "DROP_OFF",
                        "args": {"specimen_id": s.specimen_id},
                    }
                }
        return super().propose(engine, t_s)


class KeyMisuseInsider(_Attacker):
    """An insider under strict signatures who tries to act with keys it should not use.

    Attacks in turn, each on a move that would otherwise be allowed: an unsigned action, a
    forged signature, its own revoked former key, a colleague's stolen key (signed with the
    real stolen private key), a replay of one of its earlier valid signatures, and a key id
    nobody registered.
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
        super().__init__(agent_id, every_s, rng)
        self.own_key = own_key
        self.old_key = old_key
        self.stolen_key = stolen_key
        self.last_signature: str | None = None

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
        if self.rng.random() > 0.2:
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
        if self.pending is None and res is not None and res["status"] == "ACCEPTED" and ev:
            self.last_signature = ev.get("signature")  # kept for a later replay attempt
        super().on_step(env)
