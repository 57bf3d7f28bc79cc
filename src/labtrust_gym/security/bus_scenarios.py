"""Bus attacks: envelopes sent straight to a SignedMessageBus.

A bus attack (``scenario.kind: bus``) builds a bus for the agents of ``roles`` over a
lossless network (median delay 2 ms), with each agent's Ed25519 key drawn from the
scenario seed, and plays its steps one every 100 ms; what a step sent is delivered before
the next step runs unless it says ``hold: true``. Steps:

* ``publish``: a legitimate envelope through :meth:`SignedMessageBus.publish`;
* ``forge``: an envelope in ``sender``'s name signed with the made-up key ``seed_hex``;
* ``tamper``: an earlier envelope with its payload, message type or recipients rewritten
  and its signature kept;
* ``replay``: an earlier envelope sent again unchanged;
* ``replay_on_twin``: an earlier envelope sent to a second bus built exactly like the
  first (same seed, keys and roles), as a recording replayed into another episode;
* ``advance_epoch``: the bus starts a new epoch.

``expect`` is ``accepted``, ``rejected`` (any reason code, or refused at publish) or a
``BUS_*`` code. ``received`` lists, per agent, the step ids whose messages that agent must
receive, exactly, once everything was delivered. Outcome: ``error`` when a step expected
to be accepted was not, ``succeeded`` when a hostile step got through or an agent received
something it should not have, else ``blocked``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from labtrust_gym.errors import LabTrustError

__all__ = ["run_bus_attack", "bus_expected_text"]

#: Milliseconds between two steps, and how long after a step its envelopes are delivered.
_STEP_MS = 100.0
_DELIVER_MS = 50.0
_NETWORK = {"delay_p50_ms": 2.0, "delay_p95_ms": 8.0, "drop_rate": 0.0}


def _keys(seed: int, agents: list[str]) -> dict[str, tuple[str, Any]]:
    from labtrust_gym.engine.signatures import private_key_from_bytes
    from labtrust_gym.rng import stream

    rng = stream(seed, "keys")
    return {a: (f"K_{a}", private_key_from_bytes(rng.bytes(32))) for a in agents}


def _make_bus(seed: int, keys: Mapping[str, Any], roles: Mapping[str, str]) -> Any:
    from labtrust_gym.coordination.bus import SignedMessageBus
    from labtrust_gym.coordination.network import NetworkModel, NetworkPolicy
    from labtrust_gym.rng import stream

    network = NetworkModel(NetworkPolicy.from_dict(_NETWORK), stream(seed, "network"))
    return SignedMessageBus(network, keys, dict(roles))


def _payload(msg: Mapping[str, Any]) -> dict[Any, Any]:
    body = dict(msg["payload"])
    if msg.get("integer_keys"):
        body = {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in body.items()}
    return body


def bus_expected_text(scenario: Mapping[str, Any]) -> str:
    """A one-line summary of the hostile steps' expected outcomes (for reports)."""
    parts = []
    for st in scenario["steps"]:
        exp = st.get("expect")
        if exp is None or exp == "accepted":
            continue
        op = next(k for k in st if k not in ("id", "note", "expect"))
        parts.append(f"{op} {exp}")
    if any(refs is not None for refs in (scenario.get("received") or {}).values()):
        parts.append("only legitimate messages received")
    return "; ".join(parts)


def run_bus_attack(attack: Mapping[str, Any]) -> dict[str, Any]:
    """Play a bus attack; return ``{outcome, passed, expected, observed, findings}``."""
    from labtrust_gym.coordination.bus import Envelope, envelope_signing_bytes
    from labtrust_gym.engine.signatures import private_key_from_bytes

    sc = attack["scenario"]
    seed = int(sc["seed"])
    roles = dict(sc["roles"])
    keys = _keys(seed, sorted(roles))
    bus = _make_bus(seed, keys, roles)
    twin: Any = None
    sent: dict[str, Any] = {}  # step id -> envelope
    checks: list[tuple[int, str, str, Any, Any]] = []  # (step, op, expect, bus, ticket|error)
    t = 0.0
    for i, st in enumerate(sc["steps"]):
        t = _STEP_MS * (i + 1)
        op = next(k for k in st if k not in ("id", "note", "expect"))
        arg = st[op]
        target = bus
        ticket: Any = None
        env: Any = None
        if op == "publish":
            try:
                env = bus.publish(
                    arg["sender"],
                    arg["msg_type"],
                    _payload(arg),
                    t,
                    arg.get("recipients"),
                    track=True,
                )
                ticket = bus.last_ticket
            except (LabTrustError, TypeError, ValueError) as exc:
                ticket = exc  # refused at publish
        elif op == "forge":
            key = private_key_from_bytes(bytes.fromhex(arg["seed_hex"]))
            rcpt = tuple(arg["recipients"]) if arg.get("recipients") is not None else None
            body = _payload(arg)
            nonce = 1 + i
            data = envelope_signing_bytes(
                arg["sender"], arg["msg_type"], body, nonce, bus.epoch, t, rcpt
            )
            env = Envelope(
                arg["sender"], arg["msg_type"], body, nonce, bus.epoch, t, rcpt, key.sign(data)
            )
            ticket = bus.inject(env, t)
        elif op == "tamper":
            orig = sent[arg["step"]]
            changes: dict[str, Any] = {}
            if "payload" in arg:
                changes["payload"] = dict(arg["payload"])
            if "msg_type" in arg:
                changes["msg_type"] = arg["msg_type"]
            if arg.get("broadcast"):
                changes["recipients"] = None
            ticket = bus.inject(dataclasses.replace(orig, **changes), t)
        elif op == "replay":
            ticket = bus.inject(sent[arg["step"]], t)
        elif op == "replay_on_twin":
            if twin is None:
                twin = _make_bus(seed, keys, roles)
            target = twin
            ticket = twin.inject(sent[arg["step"]], t)
        elif op == "advance_epoch":
            bus.advance_epoch()
        if "id" in st and env is not None:
            sent[st["id"]] = env
        if "expect" in st:
            checks.append((i, op, st["expect"], target, ticket))
        if not (isinstance(arg, Mapping) and arg.get("hold")):
            for b in (bus, twin):
                if b is not None:
                    b.deliver_until(t + _DELIVER_MS)
    for b in (bus, twin):
        if b is not None:
            b.deliver_until(t + 100 * _STEP_MS)
    setup_bad: list[str] = []
    attack_bad: list[str] = []
    observed = []
    aid = attack["attack_id"]
    for i, op, expect, target, ticket in checks:
        if isinstance(ticket, Exception):
            # The bus names its reason code first ("BUS_PAYLOAD_INVALID: ..."), when any.
            head = str(ticket).split(":", 1)[0]
            got = head if head.startswith("BUS_") else "refused at publish"
            detail = f"refused at publish: {ticket}"
        else:
            got = target.injected_outcome(ticket)
            detail = got
        rejected = got == "refused at publish" or got.startswith("BUS_")
        ok = (
            got == "accepted"
            if expect == "accepted"
            else rejected
            if expect == "rejected"
            else got == expect
        )
        observed.append({"step": i, "op": op, "expected": expect, "outcome": detail})
        if not ok:
            msg = f"{aid} step {i} [{op}]: expected {expect}, got {detail}"
            (setup_bad if expect == "accepted" else attack_bad).append(msg)
    by_sig = {(e.sender_id, e.nonce, e.epoch): sid for sid, e in sent.items()}
    for agent, refs in sorted((sc.get("received") or {}).items()):
        got_ids = []
        for m in bus.receive(agent):
            got_ids.append(by_sig.get((m.sender_id, m.nonce, m.epoch), f"<{m.msg_type} {m.nonce}>"))
        if sorted(got_ids) != sorted(refs):
            attack_bad.append(f"{aid} received: {agent} got {got_ids!r}, expected {list(refs)!r}")
        observed.append({"agent": agent, "received": got_ids})
    outcome = "error" if setup_bad else "succeeded" if attack_bad else "blocked"
    return {
        "outcome": outcome,
        "passed": outcome == "blocked",
        "expected": bus_expected_text(sc),
        "observed": observed,
        "findings": setup_bad + attack_bad,
    }
