"""The signed message bus: signing, verification and its reason codes, epochs, replay
protection, fan-out structure, telemetry; the bus policy against RBAC and reason codes."""

from __future__ import annotations

import dataclasses

import pytest

from labtrust_gym.coordination.bus import (
    BUS_REASON_CODES,
    Envelope,
    SignedMessageBus,
    envelope_signing_bytes,
    load_bus_policy,
)
from labtrust_gym.coordination.network import (
    NetworkModel,
    NetworkPolicy,
    load_network_document,
)
from labtrust_gym.engine.signatures import private_key_from_bytes
from labtrust_gym.errors import UnknownIdError
from labtrust_gym.policy import load_policy
from labtrust_gym.rng import stream

ROLES = {
    "A_RUN_1": "ROLE_RUNNER",
    "A_RUN_2": "ROLE_RUNNER",
    "A_SCI_1": "ROLE_CLINICAL_SCIENTIST",
    "A_QC_1": "ROLE_QC",
}


def _keys(ids: list[str], seed: int = 0) -> dict[str, tuple[str, object]]:
    rng = stream(seed, "keys")
    return {a: (f"K_{a}", private_key_from_bytes(rng.bytes(32))) for a in ids}


def _bus(roles: dict[str, str] | None = None, **net: object) -> SignedMessageBus:
    roles = roles or ROLES
    d: dict[str, object] = {"delay_p50_ms": 2.0, "delay_p95_ms": 8.0, "drop_rate": 0.0}
    d.update(net)
    network = NetworkModel(NetworkPolicy.from_dict(d), stream(0, "network"))
    return SignedMessageBus(network, _keys(sorted(roles)), roles)  # type: ignore[arg-type]


def _resign(env: Envelope, key: object, **changes: object) -> Envelope:
    e = dataclasses.replace(env, **changes)  # type: ignore[arg-type]
    sig = key.sign(e.signing_bytes())  # type: ignore[attr-defined]
    assert e.signing_bytes() == envelope_signing_bytes(
        e.sender_id,
        e.msg_type,
        e.payload,
        e.nonce,
        e.epoch,
        e.t_ms,
        e.recipients,
        episode_id=e.episode_id,
        bus_id=e.bus_id,
        channel=e.channel,
    )
    return dataclasses.replace(e, signature=sig)


def test_published_messages_are_delivered_verified_and_in_order() -> None:
    bus = _bus()
    bus.publish("A_RUN_1", "STATUS", {"zone": "Z1"}, 0.0)
    bus.publish("A_RUN_1", "CLAIM", {"keys": ["S1"]}, 0.0, recipients=["A_RUN_2", "A_QC_1"])
    assert bus.receive("A_RUN_2") == []  # nothing has arrived yet
    assert bus.deliver_until(1000.0) == 2
    got = bus.receive("A_RUN_2")
    assert [(m.msg_type, m.sender_id, dict(m.payload)) for m in got] == [
        ("STATUS", "A_RUN_1", {"zone": "Z1"}),
        ("CLAIM", "A_RUN_1", {"keys": ["S1"]}),
    ]
    m = got[1]
    assert (m.nonce, m.epoch, m.t_sent_ms, m.recipients) == (2, 0, 0.0, ("A_RUN_2", "A_QC_1"))
    assert 0.0 < m.t_delivered_ms <= 1000.0
    assert [x.msg_type for x in bus.receive("A_SCI_1")] == ["STATUS"]  # not a CLAIM recipient
    assert bus.receive("A_RUN_1") == []  # never its own messages
    assert bus.receive("A_RUN_2") == []  # only what is new since the last call
    with pytest.raises(TypeError):
        m.payload["keys"] = []  # type: ignore[index]  # read-only


@pytest.mark.parametrize(
    ("attack", "code"),
    [
        ("tampered_payload", "BUS_SIG_INVALID"),
        ("tampered_recipients", "BUS_SIG_INVALID"),
        ("wrong_key", "BUS_SIG_INVALID"),
        ("garbage_signature", "BUS_SIG_INVALID"),
        ("unknown_sender", "BUS_UNKNOWN_SENDER"),
        ("replay", "BUS_REPLAY"),
        ("stale_epoch", "BUS_EPOCH_STALE"),
        ("forbidden_type", "BUS_TYPE_FORBIDDEN"),
        ("unknown_type", "BUS_TYPE_FORBIDDEN"),
    ],
)
def test_bus_rejects_bad_envelopes_with_the_right_code(attack: str, code: str) -> None:
    bus = _bus()
    real = bus.publish("A_RUN_1", "CLAIM", {"keys": ["S1"]}, 0.0, recipients=["A_RUN_2"])
    bus.deliver_until(100.0)
    assert len(bus.receive("A_RUN_2")) == 1
    keys = _keys(sorted(ROLES))
    own_key = keys["A_RUN_1"][1]
    if attack == "tampered_payload":
        bad = dataclasses.replace(real, payload={"keys": ["S1", "S2"]})
    elif attack == "tampered_recipients":
        bad = dataclasses.replace(real, recipients=("A_RUN_2", "A_QC_1"), nonce=7)
    elif attack == "wrong_key":
        bad = _resign(real, keys["A_RUN_2"][1], nonce=5)
    elif attack == "garbage_signature":
        bad = dataclasses.replace(real, signature=b"\x00" * 64, nonce=6)
    elif attack == "unknown_sender":
        bad = _resign(real, private_key_from_bytes(b"\x01" * 32), sender_id="A_GHOST")
    elif attack == "replay":
        bad = real
    elif attack == "stale_epoch":
        bus.advance_epoch()
        bad = _resign(real, own_key, nonce=10)  # authentic, fresh nonce, old epoch
    elif attack == "forbidden_type":
        bad = _resign(real, keys["A_SCI_1"][1], sender_id="A_SCI_1", nonce=1)
    else:
        bad = _resign(real, own_key, msg_type="ORDER_66", nonce=11)
    bus.inject(bad, 200.0)
    bus.deliver_until(1000.0)
    assert bus.receive("A_RUN_2") == []
    assert bus.rejected_by_reason == {code: 1}
    tel = bus.telemetry()
    assert tel["bus.rejected_by_reason"] == {code: 1}
    assert tel["bus.accepted"] == 1 and tel["bus.rejected"] == 1
    assert bus.injected_outcome(bus.last_ticket) == code


def test_epochs_invalidate_messages_in_flight_and_new_ones_pass() -> None:
    bus = _bus()
    bus.publish("A_RUN_1", "STATUS", {}, 0.0)
    assert bus.advance_epoch() == 1
    bus.publish("A_RUN_1", "STATUS", {"n": 2}, 0.0)
    bus.deliver_until(1000.0)
    assert [dict(m.payload) for m in bus.receive("A_QC_1")] == [{"n": 2}]
    assert bus.rejected_by_reason == {"BUS_EPOCH_STALE": 1}


def test_replay_window_accepts_late_fresh_nonces_and_refuses_old_ones() -> None:
    bus = _bus(reorder_window=50, delay_p50_ms=10.0, delay_p95_ms=3000.0)
    envs = [bus.publish("A_RUN_1", "STATUS", {"i": i}, 0.0) for i in range(40)]
    bus.deliver_until(1e9)
    got = bus.receive("A_RUN_2")
    assert sorted(m.payload["i"] for m in got) == list(range(40))
    assert [m.payload["i"] for m in got] != list(range(40))  # it was reordered, still accepted
    for e in envs[:3]:
        bus.inject(e, 1e9)
    bus.deliver_until(2e9)
    assert bus.rejected_by_reason == {"BUS_REPLAY": 3}
    # A nonce further behind the newest than the replay window is refused unseen.
    small = _bus()
    small._rw, small._mask = 4, 0b1111
    key = _keys(sorted(ROLES))["A_RUN_1"][1]
    first = small.publish("A_RUN_1", "STATUS", {}, 0.0)
    for _ in range(5):
        small.publish("A_RUN_1", "STATUS", {}, 0.0)
    small.deliver_until(1e6)
    small.inject(_resign(first, key, nonce=2), 2e6)  # never seen, but 4 behind the newest 6
    small.inject(_resign(first, key, nonce=99), 2e6)
    small.deliver_until(3e6)
    assert small.rejected_by_reason == {"BUS_REPLAY": 1}
    assert small.accepted == 7


def test_a_broadcast_is_stored_once_whatever_the_number_of_agents() -> None:
    roles = {f"A_{i:05d}": "ROLE_RUNNER" for i in range(3000)}
    network = NetworkModel(
        NetworkPolicy.from_dict({"delay_p50_ms": 1.0, "delay_p95_ms": 2.0, "drop_rate": 0.0}),
        stream(0, "network"),
    )
    sender_keys = _keys(["A_00000"])  # verify-only peers need no private keys
    bus = SignedMessageBus(network, sender_keys, roles)  # type: ignore[arg-type]
    bus.publish("A_00000", "STATUS", {"x": 1}, 0.0)
    bus.deliver_until(100.0)
    assert network.counters.sent == 1 and network.counters.delivered == 1
    assert len(bus._bcast) == 1 and bus._inbox == {}
    assert bus._cursor == {}  # nobody has read yet: nothing was done per agent
    a = bus.receive("A_00001")
    b = bus.receive("A_02999")
    assert len(a) == len(b) == 1 and a[0] is b[0]  # the same object, no per-agent copy
    assert set(bus._cursor) == {"A_00001", "A_02999"}
    assert bus.pending("A_01000") == 1 and bus.pending("A_00001") == 0


def test_partitioned_broadcasts_reach_only_the_senders_group() -> None:
    bus = _bus(partitions=[{"start_ms": 0, "end_ms": 500, "groups": [["A_RUN_1", "A_QC_1"]]}])
    bus.publish("A_RUN_1", "STATUS", {"t": 0}, 100.0)
    bus.publish("A_RUN_1", "STATUS", {"t": 1}, 600.0)
    bus.deliver_until(2000.0)
    assert [m.payload["t"] for m in bus.receive("A_QC_1")] == [0, 1]
    assert [m.payload["t"] for m in bus.receive("A_RUN_2")] == [1]
    assert bus.telemetry()["comm.partition_events"] == 1


def test_publish_needs_the_senders_key_and_telemetry_counts_everything() -> None:
    bus = _bus(drop_rate=0.5)
    with pytest.raises(UnknownIdError, match="A_NOBODY"):
        bus.publish("A_NOBODY", "STATUS", {}, 0.0)
    for i in range(200):
        bus.publish("A_RUN_1", "HEARTBEAT", {"i": i}, float(i))
    bus.deliver_until(1e6)
    tel = bus.telemetry()
    assert tel["comm.msg_count"] == 200
    assert tel["comm.delivered"] + tel["comm.dropped"] == 200
    assert 60 < tel["comm.dropped"] < 140
    assert tel["bus.accepted"] == tel["comm.delivered"] == len(bus.receive("A_QC_1"))
    assert tel["comm.drop_rate"] == pytest.approx(tel["comm.dropped"] / 200)
    assert tel["comm.p95_latency_ms"] >= tel["comm.p50_latency_ms"] > 0


def test_bus_policy_covers_every_rbac_role_and_uses_registered_codes() -> None:
    pol = load_policy()
    bus = load_bus_policy()
    roles = set(pol["rbac_policy"]["roles"])
    # Every RBAC role, plus the bus-only role of the coordination identities.
    assert set(bus.allowed_types) == roles | {bus.coordinator_role}
    assert bus.coordinator_role not in roles
    assert not bus.allows(bus.coordinator_role, "CLAIM")
    assert bus.allows(bus.coordinator_role, "ASSIGN")
    assert {"CLAIM", "RELEASE", "STATUS", "HEARTBEAT", "ALERT"} <= bus.message_types
    for role in roles:
        assert bus.allows(role, "STATUS") and bus.allows(role, "HEARTBEAT")
    assert bus.allows("ROLE_RUNNER", "CLAIM") and bus.allows("ROLE_RUNNER", "RELEASE")
    assert not bus.allows("ROLE_CLINICAL_SCIENTIST", "CLAIM")
    assert not bus.allows(None, "STATUS")
    codes = {r["code"] for r in pol["reason_code_registry"]["reason_codes"]}
    assert set(BUS_REASON_CODES) <= codes
    stale = load_network_document()["stale_view_reason_codes"]
    assert stale and set(stale) <= codes
