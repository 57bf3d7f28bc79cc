"""Risk injections for ``coord_risk`` (and any coordination run): the registry and the
one hook protocol.

A :class:`RiskInjection` is created fresh for every episode (``make_injection(id,
params)``; defaults from ``policy/coordination/injections.v0.1.yaml``) and receives, in
this order (the benchmark runner calls every hook; ``coord_scale``/``coord_risk`` call
``on_initial_state`` while the env resets):

1. ``on_initial_state(init, ctx)``: may edit the initial state before the engine sees it
   (e.g. add ``schedule`` items such as ``DEVICE_FAULT``). ``ctx.env``/``bus`` are None.
2. ``network_overrides(ctx) -> dict``: a partial ``network`` mapping merged over the
   network policy before the episode's network is built.
3. ``on_reset(ctx)``: the episode starts; ``ctx`` now holds the env, engine, bus and keys.
4. ``before_step(t, actions) -> actions``: every step, after every controller proposed
   and before the env applies them; may add, replace or drop actions
   (``{agent_id: action}``; engine ids or PettingZoo names) or put envelopes on the bus.
5. ``after_step(t, results)``: every step, with ``{agent_id: step result}``.
6. ``metrics() -> dict``: once at the end; ``injection.*`` keys merged into the episode's
   metrics.

**Detection** is measured, never relabelled: an injection that names the suspicion it
should raise (``detect_kind``: ``partition``, ``loss``, ``delay``, ``reorder``,
``forgery``) counts as detected when an agent of the team published an ``ALERT`` of that
kind on the bus at or after the injection's onset (``bus.alerts``; the alert need not be
delivered: it records that an agent noticed), and ``injection.detection_latency_s`` is the
time from the onset to the first such alert. The device fault counts as detected when a
team agent first acts on the faulted device (``REPAIR_DEVICE``). Injections with no
measure of detection (identity spoofing, collusion: the engine blocks them, no agent
reports them) report no ``injection.detected`` at all.

All randomness comes from ``ctx.rng`` (``stream(seed, "injection")``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labtrust_gym.coordination.bus import Envelope, SignedMessageBus, envelope_signing_bytes
from labtrust_gym.coordination.network import NetworkModel
from labtrust_gym.engine.signatures import private_key_from_bytes
from labtrust_gym.errors import ConfigError, RegistryError
from labtrust_gym.policy.loader import load_policy_document, thaw
from labtrust_gym.registry import BUILTIN_ORIGIN, Registry
from labtrust_gym.rng import derive_seed, stream

__all__ = [
    "InjectionContext",
    "RiskInjection",
    "register_injection",
    "get_injection_factory",
    "list_injections",
    "make_injection",
    "injection_catalogue",
    "INJECTIONS",
]


@dataclass
class InjectionContext:
    """What an injection may look at and act through in one episode."""

    task: Any
    seed: int
    rng: np.random.Generator
    dt_s: float
    max_steps: int
    agent_ids: list[str]
    roles: dict[str, str | None]
    env: Any = None
    engine: Any = None
    bus: SignedMessageBus | None = None
    keys: Mapping[str, tuple[str, Any]] | None = None
    #: The base ``network`` mapping of the network policy (before any override).
    network: dict[str, Any] = field(default_factory=dict)
    agent_sites: dict[str, str] = field(default_factory=dict)

    @property
    def horizon_ms(self) -> float:
        return self.max_steps * self.dt_s * 1000.0

    def step_of(self, t: float) -> int:
        return int(round(t / self.dt_s))


class RiskInjection:
    """The hook protocol (see the module docstring); every hook defaults to doing nothing.

    Subclasses tally attacks with :meth:`_record`; :meth:`metrics` reports
    ``injection.attempts``, ``injection.blocked``, ``injection.accepted``,
    ``injection.detected`` and breakdowns by kind and reason code.
    """

    injection_id: str = ""
    family: str = "other"

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params: dict[str, Any] = dict(params or {})
        self.ctx: InjectionContext | None = None
        self.attempts: dict[str, int] = {}
        self.blocked: dict[str, int] = {}
        self.accepted: dict[str, int] = {}
        self.blocked_by_reason: dict[str, int] = {}

    # ----------------------------------------------------------------- hooks ---------
    def on_initial_state(self, init: dict[str, Any], ctx: InjectionContext) -> None:
        """Edit the initial state (called while the env resets)."""

    def network_overrides(self, ctx: InjectionContext) -> dict[str, Any]:
        """A partial ``network`` mapping merged over the network policy."""
        return {}

    def on_reset(self, ctx: InjectionContext) -> None:
        self.ctx = ctx

    def before_step(self, t: float, actions: dict[str, Any]) -> dict[str, Any]:
        return actions

    def after_step(self, t: float, results: Mapping[str, Any]) -> None:
        """Called after the env step with ``{agent_id: step result}``."""

    #: The ALERT kind whose publication counts as detection ("" = not measured).
    detect_kind: str = ""

    def onset_ms(self) -> float | None:
        """When the injection starts acting (None: it never did)."""
        return 0.0

    def detection(self) -> dict[str, Any]:
        """``injection.detected`` (0/1), ``injection.detection_latency_s`` and
        ``injection.alerts_before_onset`` from the bus's ALERT journal."""
        bus = self.ctx.bus if self.ctx is not None else None
        onset = self.onset_ms()
        if not self.detect_kind or bus is None:
            return {}
        first = None
        before = 0
        for env in bus.alerts:
            if env.payload.get("kind") != self.detect_kind:
                continue
            if onset is None or env.t_ms < onset:
                before += 1
            elif first is None:
                first = env.t_ms
        return {
            "injection.detect_kind": self.detect_kind,
            "injection.onset_s": None if onset is None else onset / 1000.0,
            "injection.detected": 0 if first is None else 1,
            "injection.detection_latency_s": (
                None if first is None or onset is None else (first - onset) / 1000.0
            ),
            "injection.alerts_before_onset": before,
        }

    def metrics(self) -> dict[str, Any]:
        att = sum(self.attempts.values())
        blk = sum(self.blocked.values())
        out = {
            "injection.attempts": att,
            "injection.blocked": blk,
            "injection.accepted": sum(self.accepted.values()),
            "injection.attempts_by_kind": dict(sorted(self.attempts.items())),
            "injection.blocked_by_reason": dict(sorted(self.blocked_by_reason.items())),
        }
        out.update(self.detection())
        return out

    # ----------------------------------------------------------------- helpers -------
    def _record(self, kind: str, code: str | None, *, accepted: bool = False) -> None:
        """One attempt of ``kind``: blocked with ``code``, accepted, or neither (lost)."""
        self.attempts[kind] = self.attempts.get(kind, 0) + 1
        if code is not None:
            self.blocked[kind] = self.blocked.get(kind, 0) + 1
            self.blocked_by_reason[code] = self.blocked_by_reason.get(code, 0) + 1
        elif accepted:
            self.accepted[kind] = self.accepted.get(kind, 0) + 1

    def _frac_ms(self, ctx: InjectionContext, key: str, default: float) -> float:
        return float(self.params.get(key, default)) * ctx.horizon_ms

    def _attack_step(self, t: float) -> bool:
        """Whether step ``t`` is an attack step (``start_frac``, ``every_steps``)."""
        ctx = self.ctx
        if ctx is None:
            return False
        start = math.ceil(float(self.params.get("start_frac", 0.0)) * ctx.max_steps)
        every = max(1, int(self.params.get("every_steps", 1)))
        k = ctx.step_of(t)
        return k >= start and (k - start) % every == 0

    def _kinds(self, default: tuple[str, ...]) -> list[str]:
        return list(self.params.get("kinds") or default)


def _replace_action(
    ctx: InjectionContext, actions: dict[str, Any], agent_id: str, action: dict[str, Any]
) -> None:
    """Make ``action`` the agent's action this step (whichever id form the team used)."""
    pz = getattr(ctx.env, "pz_id", {}).get(agent_id) if ctx.env is not None else None
    if pz is not None:
        actions.pop(pz, None)
    actions[agent_id] = action


# ----------------------------------------------------------------------- network ----
class _NetworkInjection(RiskInjection):
    family = "network"
    counter = ""

    def metrics(self) -> dict[str, Any]:
        out = super().metrics()
        bus = self.ctx.bus if self.ctx is not None else None
        n = int(getattr(bus.network.counters, self.counter, 0)) if bus is not None else 0
        out["injection.messages_affected"] = n
        return out


class PartitionInjection(_NetworkInjection):
    """The network splits in two during ``[start_frac, end_frac)`` of the horizon.

    ``split: halves`` (default): in every site the agents of each role are dealt
    alternately to two halves, in an order drawn from the injection stream, and one half
    of every site forms a group; the other half and the coordination identities
    (``C_<SITE>...``, not listed) the other, so every site's team is cut in two and half of
    it from its coordinators. ``split: sites``: the first site against the others (only
    traffic between sites is cut, and site teams talk within their site).
    """

    counter = "partition_events"
    detect_kind = "partition"

    def network_overrides(self, ctx: InjectionContext) -> dict[str, Any]:
        sites = sorted(set(ctx.agent_sites.values()))
        split = str(self.params.get("split", "halves"))
        if split not in ("halves", "sites"):
            raise ConfigError(
                f"{self.injection_id or 'partition'}: params.split must be 'halves' or "
                f"'sites', got {split!r}"
            )
        if split == "sites" and len(sites) > 1:
            group = [sites[0]]
        else:
            # Every role of every site is split across the halves.
            by_role: dict[tuple[str, str], list[str]] = {}
            for aid in sorted(ctx.agent_ids):
                key = (ctx.agent_sites.get(aid, ""), str(ctx.roles.get(aid)))
                by_role.setdefault(key, []).append(aid)
            group = []
            flip = 0
            for key in sorted(by_role):
                members = by_role[key]
                perm = ctx.rng.permutation(len(members))
                for j, i in enumerate(perm):
                    if (j + flip) % 2 == 0:
                        group.append(members[int(i)])
                flip += len(members)
            group.sort()
            if not group:
                group = sorted(ctx.agent_ids)[:1]
        start = self._frac_ms(ctx, "start_frac", 0.25)
        end = max(start + 1.0, self._frac_ms(ctx, "end_frac", 0.6))
        self.window_ms = (start, end)
        self.group = group
        self._record("partition", None)
        return {
            "partitions": [
                *ctx.network.get("partitions", []),
                {"start_ms": start, "end_ms": end, "groups": [group]},
            ]
        }

    def onset_ms(self) -> float | None:
        w = getattr(self, "window_ms", None)
        return None if w is None else w[0]


class DropSpikeInjection(_NetworkInjection):
    """The drop rate jumps to ``drop_rate`` during ``[start_frac, end_frac)``."""

    counter = "dropped"
    detect_kind = "loss"

    def onset_ms(self) -> float | None:
        w = getattr(self, "window_ms", None)
        return None if w is None else w[0]

    def network_overrides(self, ctx: InjectionContext) -> dict[str, Any]:
        start = self._frac_ms(ctx, "start_frac", 0.3)
        end = max(start + 1.0, self._frac_ms(ctx, "end_frac", 0.55))
        self.window_ms = (start, end)
        self._record("drop_spike", None)
        return {
            "drop_spikes": [
                *ctx.network.get("drop_spikes", []),
                {
                    "start_ms": start,
                    "end_ms": end,
                    "drop_rate": float(self.params.get("drop_rate", 0.6)),
                },
            ]
        }


class _OverrideInjection(_NetworkInjection):
    keys: tuple[str, ...] = ()

    def network_overrides(self, ctx: InjectionContext) -> dict[str, Any]:
        self._record(self.family_kind, None)
        return {k: self.params[k] for k in self.keys if k in self.params}

    family_kind = ""


class DelayInjection(_OverrideInjection):
    """Seconds of delay, the tail longer than a step (``comm.late`` counts those)."""

    counter = "late"
    keys = ("delay_p50_ms", "delay_p95_ms")
    family_kind = "delay"
    detect_kind = "delay"


class ReorderInjection(_OverrideInjection):
    """Heavy jitter and a wide reorder window (``comm.reordered`` counts overtaken ones)."""

    counter = "reordered"
    keys = ("reorder_window", "delay_p50_ms", "delay_p95_ms")
    family_kind = "reorder"
    detect_kind = "reorder"


# ----------------------------------------------------------------------- device -----
class DeviceFaultInjection(RiskInjection):
    """The first ``count`` devices of ``device_type`` fault at ``at_frac`` of the horizon."""

    family = "device"

    def on_initial_state(self, init: dict[str, Any], ctx: InjectionContext) -> None:
        dtype = str(self.params.get("device_type", "CHEM"))
        eff = init.get("effective_policy") or {}
        reg = eff.get("equipment_registry") or ctx.task.policy["equipment_registry"]
        devs = sorted(d["device_id"] for d in reg["devices"] if d["device_type"] == dtype)
        t_s = round(ctx.max_steps * ctx.dt_s * float(self.params.get("at_frac", 1 / 3)), 1)
        chosen = devs[: int(self.params.get("count", 1))]
        init["schedule"] = [
            *init.get("schedule", []),
            *({"t_s": t_s, "kind": "DEVICE_FAULT", "device_id": d} for d in chosen),
        ]
        self.targets = chosen
        self.attempts = {"device_fault": len(chosen)} if chosen else {}

    def on_reset(self, ctx: InjectionContext) -> None:
        super().on_reset(ctx)
        self.responded: float | None = None

    def onset_ms(self) -> float | None:
        ctx = self.ctx
        if ctx is None:
            return None
        return ctx.max_steps * ctx.dt_s * float(self.params.get("at_frac", 1 / 3)) * 1000.0

    def before_step(self, t: float, actions: dict[str, Any]) -> dict[str, Any]:
        if self.responded is None and getattr(self, "targets", None):
            onset = self.onset_ms()
            if onset is not None and t * 1000.0 >= onset:
                for a in actions.values():
                    info = a.get("action_info", a) if isinstance(a, dict) else None
                    if (
                        isinstance(info, dict)
                        and info.get("action_type") == "REPAIR_DEVICE"
                        and (info.get("args") or {}).get("device_id") in self.targets
                    ):
                        self.responded = t * 1000.0
                        break
        return actions

    def detection(self) -> dict[str, Any]:
        onset = self.onset_ms()
        r = getattr(self, "responded", None)
        return {
            "injection.detect_kind": "repair",
            "injection.onset_s": None if onset is None else onset / 1000.0,
            "injection.detected": 0 if r is None else 1,
            "injection.detection_latency_s": (
                None if r is None or onset is None else (r - onset) / 1000.0
            ),
        }

    def metrics(self) -> dict[str, Any]:
        out = super().metrics()
        env = self.ctx.env if self.ctx is not None else None
        emits = env.counters["emits"] if env is not None else {}
        out["injection.device_faults"] = emits.get("DEVICE_FAULT", 0)
        out["injection.runs_aborted"] = emits.get("RUN_ABORTED", 0)
        out["injection.targets"] = list(getattr(self, "targets", []))
        return out


# ----------------------------------------------------------------------- message ----
class MessagePoisonInjection(RiskInjection):
    """Poisoned and forged traffic on the bus, one envelope per attack step in turn:

    * ``forged_signature``: a colleague's name, signed with a key the attacker made up;
    * ``tampered_payload``: a real recent envelope with its payload rewritten;
    * ``replay``: a real recent envelope sent again unchanged;
    * ``unknown_sender``: an identity with no registered key;
    * ``forbidden_type``: a compromised insider, with its own valid key, sends a message
      type its role may not send;
    * ``cross_bus_replay``: an authentic envelope of another bus built from the same seed
      (the same keys, the same episode id; a fresh, unseen nonce);
    * ``non_canonical_payload``: a real recent envelope whose payload arrays became tuples
      (the same canonical bytes, so the signature still verifies, but not what was signed).

    Every one must be rejected by the bus (``injection.accepted`` must stay 0); an
    envelope the network loses counts as an attempt that was neither. The receivers'
    verifiers see the refusals: detection is a ``forgery`` ALERT.
    """

    family = "message"
    detect_kind = "forgery"
    KINDS = (
        "forged_signature",
        "tampered_payload",
        "replay",
        "unknown_sender",
        "forbidden_type",
        "cross_bus_replay",
        "non_canonical_payload",
    )

    def on_reset(self, ctx: InjectionContext) -> None:
        super().on_reset(ctx)
        self.kinds = self._kinds(self.KINDS)
        self.k = 0
        self.key = private_key_from_bytes(ctx.rng.bytes(32))
        self.tickets: list[tuple[int, str]] = []
        self.first_ms: float | None = None
        self.senders = sorted(ctx.agent_ids)
        bus = ctx.bus
        self.insider: tuple[str, str] | None = None
        self.shadow: SignedMessageBus | None = None
        if bus is not None and ctx.keys is not None:
            # Another bus of the same episode: the keys of the same seed, its own bus id.
            self.shadow = SignedMessageBus(
                NetworkModel(
                    bus.network.policy, stream(derive_seed(ctx.seed, "shadow"), "network")
                ),
                ctx.keys,
                dict(bus.roles),
                bus.policy,
                episode_id=bus.episode_id,
            )
        if bus is not None:
            for aid in self.senders:
                role = ctx.roles.get(aid)
                pol = bus.policy
                banned = sorted(t for t in pol.message_types if not pol.allows(role, t))
                if banned:
                    self.insider = (aid, banned[0])
                    break

    def _forge(self, sender: str, msg_type: str, payload: dict[str, Any], t_ms: float) -> Envelope:
        bus = self.ctx.bus if self.ctx is not None else None
        assert bus is not None
        nonce = int(self.ctx.rng.integers(1 << 40, 1 << 50)) if self.ctx else 1
        # The binding fields are public (every envelope on the wire shows them).
        data = envelope_signing_bytes(
            sender,
            msg_type,
            payload,
            nonce,
            bus.epoch,
            t_ms,
            None,
            episode_id=bus.episode_id,
            bus_id=bus.bus_id,
        )
        return Envelope(
            sender,
            msg_type,
            payload,
            nonce,
            bus.epoch,
            t_ms,
            None,
            self.key.sign(data),
            bus.episode_id,
            bus.bus_id,
        )

    def before_step(self, t: float, actions: dict[str, Any]) -> dict[str, Any]:
        ctx = self.ctx
        if ctx is None or ctx.bus is None or not self._attack_step(t):
            return actions
        bus = ctx.bus
        t_ms = t * 1000.0
        for _ in range(len(self.kinds)):
            kind = self.kinds[self.k % len(self.kinds)]
            self.k += 1
            ticket = self._attack(kind, bus, t_ms)
            if ticket is not None:
                self.tickets.append((ticket, kind))
                if self.first_ms is None:
                    self.first_ms = t_ms
                break
        return actions

    def onset_ms(self) -> float | None:
        return getattr(self, "first_ms", None)

    def _attack(self, kind: str, bus: SignedMessageBus, t_ms: float) -> int | None:
        ctx = self.ctx
        assert ctx is not None
        poison = {"claim": "*", "status": "all devices idle", "poisoned": True}
        if kind == "forged_signature" and self.senders:
            victim = self.senders[int(ctx.rng.integers(len(self.senders)))]
            return bus.inject(self._forge(victim, "STATUS", poison, t_ms), t_ms)
        if kind == "tampered_payload" and bus.recent:
            real = bus.recent[-1]
            fake = dataclasses.replace(real, payload={**dict(real.payload), **poison})
            return bus.inject(fake, t_ms)
        if kind == "replay" and bus.recent:
            return bus.inject(bus.recent[0], t_ms)
        if kind == "unknown_sender":
            return bus.inject(self._forge("A_INTRUDER_01", "STATUS", poison, t_ms), t_ms)
        if kind == "forbidden_type" and self.insider is not None:
            aid, msg_type = self.insider
            bus.publish(aid, msg_type, poison, t_ms, track=True)
            return bus.last_ticket
        if kind == "cross_bus_replay" and self.shadow is not None and self.senders:
            sender = self.senders[int(ctx.rng.integers(len(self.senders)))]
            return bus.inject(self.shadow.publish(sender, "STATUS", {"zone": "?"}, t_ms), t_ms)
        if kind == "non_canonical_payload":
            for real in reversed(bus.recent):
                payload = _tuples(real.payload)
                if payload != dict(real.payload):  # it held a list: now a tuple
                    return bus.inject(dataclasses.replace(real, payload=payload), t_ms)
        return None

    def metrics(self) -> dict[str, Any]:
        bus = self.ctx.bus if self.ctx is not None else None
        self.attempts, self.blocked, self.accepted, self.blocked_by_reason = {}, {}, {}, {}
        lost = 0
        for ticket, kind in getattr(self, "tickets", []):
            outcome = bus.injected_outcome(ticket) if bus is not None else "unknown"
            if outcome.startswith("BUS_"):
                self._record(kind, outcome)
            elif outcome == "accepted":
                self._record(kind, None, accepted=True)
            else:
                self._record(kind, None)
                lost += 1
        out = super().metrics()
        out["injection.lost_in_network"] = lost
        return out


def _tuples(obj: Any) -> Any:
    """``obj`` with every list turned into a tuple (the same canonical JSON)."""
    if isinstance(obj, Mapping):
        return {k: _tuples(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return tuple(_tuples(v) for v in obj)
    return obj


# ----------------------------------------------------------------------- identity ---
class _EngineAttack(RiskInjection):
    """An attack made of engine actions by one agent, tallied from its step results."""

    def on_reset(self, ctx: InjectionContext) -> None:
        super().on_reset(ctx)
        self.pending: tuple[str, str] | None = None  # (agent acting, kind)
        self.k = 0

    def after_step(self, t: float, results: Mapping[str, Any]) -> None:
        if self.pending is None:
            return
        aid, kind = self.pending
        self.pending = None
        res = results.get(aid)
        if res is None:
            return
        if res["status"] == "BLOCKED":
            self._record(kind, res["blocked_reason_code"])
        else:
            self._record(kind, None, accepted=True)


class IdentitySpoofInjection(_EngineAttack):
    """An agent acts as a colleague: the colleague's move, signed with the attacker's own
    key (``wrong_key``) or carrying a made-up signature under the colleague's key id
    (``forged_signature``). The engine must block every one with a ``SIG_*`` code."""

    family = "identity"

    def on_reset(self, ctx: InjectionContext) -> None:
        super().on_reset(ctx)
        self.kinds = self._kinds(("wrong_key", "forged_signature"))
        ids = sorted(ctx.agent_ids)
        if len(ids) < 2:
            self.pair: tuple[str, str] | None = None
            return
        i, j = (int(x) for x in ctx.rng.choice(len(ids), size=2, replace=False))
        self.pair = (ids[i], ids[j])

    def before_step(self, t: float, actions: dict[str, Any]) -> dict[str, Any]:
        ctx = self.ctx
        if ctx is None or ctx.engine is None or self.pair is None or ctx.keys is None:
            return actions
        if not self._attack_step(t):
            return actions
        attacker, victim = self.pair
        eng = ctx.engine
        me = eng.agents[victim]
        if me.zone is None or me.role is None:
            return actions
        w = eng.world
        near = sorted(w.adjacency.get(me.zone, {}))
        ok = [
            z
            for z in near
            if w.zones[z]["kind"] in w.roles[me.role].zone_kinds and z not in eng.frozen_zones
        ]
        target = (ok or near or [None])[0]
        if target is None:
            return actions
        kind = self.kinds[self.k % len(self.kinds)]
        self.k += 1
        act: dict[str, Any] = {"action_type": "MOVE", "args": {"to_zone": target}}
        if kind == "wrong_key":
            act["sign_with"] = ctx.keys[attacker]
        else:
            act["key_id"] = ctx.keys[victim][0]
            act["signature"] = ctx.rng.bytes(64).hex()
        _replace_action(ctx, actions, victim, act)
        self.pending = (victim, kind)
        return actions

    def metrics(self) -> dict[str, Any]:
        out = super().metrics()
        out["injection.forged_accepted"] = out["injection.accepted"]
        pair = getattr(self, "pair", None)
        out["injection.pair"] = list(pair) if pair is not None else []
        return out


# ----------------------------------------------------------------------- collusion --
class CollusionInjection(_EngineAttack):
    """Two colluding insiders: an issuer (a role that may issue tokens, if the team has
    one) issues its partner a ``token_type`` override approved by the pair alone —
    ``self_approval`` (the subject approves its own token) or ``pair_only`` (the issuer
    alone, fewer approvers than required). Separation of duties must block both."""

    family = "collusion"

    def on_reset(self, ctx: InjectionContext) -> None:
        super().on_reset(ctx)
        self.kinds = self._kinds(("self_approval", "pair_only"))
        self.token_type = str(self.params.get("token_type", "QC_DRIFT_OVERRIDE"))
        ids = sorted(ctx.agent_ids)
        self.pair: tuple[str, str] | None = None
        if len(ids) < 2 or ctx.engine is None:
            return
        w = ctx.engine.world
        spec = w.token_types.get(self.token_type, {})

        def can_issue(a: str) -> bool:
            role = ctx.roles.get(a)
            return role is not None and "ISSUE_TOKEN" in w.roles[role].actions

        issuers = [a for a in ids if can_issue(a)] or ids
        issuer = issuers[int(ctx.rng.integers(len(issuers)))]
        subjects = [
            a for a in ids if a != issuer and ctx.roles.get(a) in spec.get("subject_roles", ())
        ] or [a for a in ids if a != issuer]
        self.pair = (issuer, subjects[int(ctx.rng.integers(len(subjects)))])

    def before_step(self, t: float, actions: dict[str, Any]) -> dict[str, Any]:
        ctx = self.ctx
        if ctx is None or ctx.engine is None or self.pair is None or not self._attack_step(t):
            return actions
        issuer, subject = self.pair
        if ctx.engine.agents[issuer].zone is None:
            return actions
        kind = self.kinds[self.k % len(self.kinds)]
        self.k += 1
        approvers = [issuer, subject] if kind == "self_approval" else [issuer]
        act = {
            "action_type": "ISSUE_TOKEN",
            "args": {
                "token_id": f"INJ-COLLUDE-{self.k:04d}",
                "token_type": self.token_type,
                "subject_agent_id": subject,
                "approvers": approvers,
            },
        }
        _replace_action(ctx, actions, issuer, act)
        self.pending = (issuer, kind)
        return actions

    def metrics(self) -> dict[str, Any]:
        out = super().metrics()
        pair = getattr(self, "pair", None)
        out["injection.pair"] = list(pair) if pair is not None else []
        return out


# ----------------------------------------------------------------------- registry ---
Factory = Callable[[dict[str, Any]], RiskInjection]


def _check(injection_id: str, factory: Any) -> None:
    if not callable(factory):
        raise RegistryError(f"risk injection {injection_id!r}: factory is not callable")


_BUILTINS: dict[str, type[RiskInjection]] = {
    "INJ-NET-PARTITION-001": PartitionInjection,
    "INJ-NET-REORDER-001": ReorderInjection,
    "INJ-NET-DROP-SPIKE-001": DropSpikeInjection,
    "INJ-NET-DELAY-001": DelayInjection,
    "INJ-DEVICE-FAULT-001": DeviceFaultInjection,
    "INJ-MSG-POISON-001": MessagePoisonInjection,
    "INJ-ID-SPOOF-001": IdentitySpoofInjection,
    "INJ-COLLUSION-001": CollusionInjection,
}


def _builtins() -> None:
    for iid, cls in _BUILTINS.items():
        INJECTIONS.register(iid, cls, origin=BUILTIN_ORIGIN)


INJECTIONS: Registry[Factory] = Registry("risk injection", check=_check, load_builtins=_builtins)


def register_injection(
    injection_id: str, factory: Factory, *, override: bool = False, origin: str = "runtime"
) -> None:
    """Register ``factory(params) -> RiskInjection``; an existing id needs ``override``."""
    INJECTIONS.register(injection_id, factory, override=override, origin=origin)


def get_injection_factory(injection_id: str) -> Factory:
    return INJECTIONS.get(injection_id)


def list_injections() -> list[str]:
    return INJECTIONS.ids()


def injection_catalogue(repo_root: Path | str | None = None) -> dict[str, Any]:
    """The entries of ``policy/coordination/injections.v0.1.yaml`` (id -> entry)."""
    doc: dict[str, Any] = thaw(load_policy_document("injections", repo_root))
    out: dict[str, Any] = doc["injections"]
    return out


def make_injection(
    injection_id: str,
    params: Mapping[str, Any] | None = None,
    *,
    repo_root: Path | str | None = None,
) -> RiskInjection:
    """A fresh injection: catalogue defaults with ``params`` merged over them."""
    factory = get_injection_factory(injection_id)
    entry = injection_catalogue(repo_root).get(injection_id, {})
    merged = dict(entry.get("params") or {})
    merged.update(params or {})
    inj = factory(merged)
    if not isinstance(inj, RiskInjection):
        raise RegistryError(
            f"risk injection {injection_id!r}: factory returned {type(inj).__name__}, "
            "not a RiskInjection"
        )
    inj.injection_id = injection_id
    return inj
