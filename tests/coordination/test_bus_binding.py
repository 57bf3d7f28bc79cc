"""Envelopes are bound to their episode and bus; payloads must be canonical JSON; channels,
the rejection journal and the alert journal."""

from __future__ import annotations

import dataclasses
import math

import pytest

from labtrust_gym.benchmarks.runner import build_bus
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.coordination.bus import (
    SignedMessageBus,
    episode_binding,
    payload_problem,
)
from labtrust_gym.coordination.identities import (
    coordinator_id,
    coordinator_keys,
    coordinator_sites,
    site_channel,
)
from labtrust_gym.coordination.network import NetworkModel, NetworkPolicy
from labtrust_gym.engine.signatures import private_key_from_bytes
from labtrust_gym.errors import ConfigError
from labtrust_gym.policy import load_policy
from labtrust_gym.rng import stream

ROLES = {"A_RUN_1": "ROLE_RUNNER", "A_RUN_2": "ROLE_RUNNER", "A_QC_1": "ROLE_QC"}


def _keys(ids: list[str]) -> dict[str, tuple[str, object]]:
    rng = stream(0, "keys")
    return {a: (f"K_{a}", private_key_from_bytes(rng.bytes(32))) for a in ids}


def _bus(**net: object) -> SignedMessageBus:
    d: dict[str, object] = {"delay_p50_ms": 2.0, "delay_p95_ms": 8.0, "drop_rate": 0.0}
    d.update(net)
    network = NetworkModel(NetworkPolicy.from_dict(d), stream(0, "network"))
    return SignedMessageBus(network, _keys(sorted(ROLES)), ROLES, episode_id="ep")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def episode_buses() -> tuple[SignedMessageBus, SignedMessageBus, SignedMessageBus]:
    """Two buses of the same episode (same task, same seed) and one of another seed."""
    task = get_task("coord_scale")(scale_config="small_8")
    env = task.make_env()
    env.reset(seed=7)
    return build_bus(task, env, 7), build_bus(task, env, 7), build_bus(task, env, 8)


def test_replays_across_buses_of_the_same_seed_are_all_rejected(
    episode_buses: tuple[SignedMessageBus, SignedMessageBus, SignedMessageBus],
) -> None:
    a, b, _ = episode_buses
    assert a.episode_id == b.episode_id  # same episode: same deterministic binding
    assert a.bus_id != b.bus_id  # ... but every bus has its own id
    senders = [aid for aid in sorted(a.roles) if a.policy.allows(a.roles[aid], "STATUS")]
    sent = [a.publish(senders[i % len(senders)], "STATUS", {"i": i}, float(i)) for i in range(1200)]
    for env in sent:
        b.inject(env)
    b.deliver_until(1e9)
    lost = b.network.counters.dropped  # the nominal network loses one in a thousand
    assert b.accepted == 0 and lost < 10
    assert b.rejected_by_reason == {"BUS_BINDING_MISMATCH": 1200 - lost}
    # Rewriting the binding to the target bus breaks the signature instead.
    forged = dataclasses.replace(sent[0], bus_id=b.bus_id)
    b.inject(forged)
    b.deliver_until(2e9)
    assert b.rejected_by_reason["BUS_SIG_INVALID"] == 1
    # The binding does not consume nonces: the same envelope is still fresh on its own bus.
    a.deliver_until(1e9)
    assert a.accepted == 1200 - a.network.counters.dropped


def test_envelopes_of_another_episode_are_rejected(
    episode_buses: tuple[SignedMessageBus, SignedMessageBus, SignedMessageBus],
) -> None:
    a, _, other = episode_buses
    assert a.episode_id != other.episode_id
    assert other.episode_id == episode_binding("coord_scale", 8, "small_8")
    # Give the other episode's bus the same key for the sender (keys are per seed).
    sender = next(iter(sorted(a._priv)))
    other._priv[sender] = a._priv[sender]
    other._pub.pop(sender, None)
    env = other.publish(sender, "STATUS", {"x": 1}, 0.0)
    a.inject(env)
    a.deliver_until(1e10)
    assert a.rejected_by_reason.get("BUS_BINDING_MISMATCH", 0) >= 1
    assert a.injected_outcome(a.last_ticket) == "BUS_BINDING_MISMATCH"


def test_the_episode_bus_holds_keys_and_the_role_of_every_coordinator(
    episode_buses: tuple[SignedMessageBus, SignedMessageBus, SignedMessageBus],
) -> None:
    a, b, other = episode_buses
    coords = coordinator_sites(["SITE_001"])
    assert set(coords) == {"C_SITE_001", "C_SITE_001_FRONT", "C_SITE_001_BENCH"}
    for cid in coords:
        assert a.roles[cid] == "ROLE_COORDINATOR" and a.can_publish(cid)
        assert a.network.agent_sites[cid] == "SITE_001"
    # Keys come from the episode seed: the same on both buses of one seed, new per seed.
    cid = coordinator_id("SITE_001")
    pk = a.public_key(cid)
    assert pk is not None and b.public_key(cid) is not None
    raw = pk.public_bytes_raw()
    assert raw == b.public_key(cid).public_bytes_raw()  # type: ignore[union-attr]
    assert raw != other.public_key(cid).public_bytes_raw()  # type: ignore[union-attr]
    assert coordinator_keys(7, coords)[cid][0] == "K_C_SITE_001"
    a.deliver_until(1e12)
    before = a.rejected_by_reason.get("BUS_TYPE_FORBIDDEN", 0)
    a.publish(cid, "CLAIM", {"keys": ["S1"]}, 2e12)  # no coordinator claims tubes
    a.deliver_until(3e12)
    assert a.rejected_by_reason.get("BUS_TYPE_FORBIDDEN", 0) == before + 1


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({1: "v"}, "key 1 is a int"),
        ({"a": {2: "v"}}, "payload.a: key 2"),
        ({"x": math.nan}, "not a finite number"),
        ({"x": [1.0, math.inf]}, "payload.x[1]"),
        ({"b": b"raw"}, "bytes"),
        ({"t": (1, 2)}, "tuple"),
        ({"s": {"a"}}, "set"),
        ({"big": 1 << 70}, "out of range"),
    ],
)
def test_non_canonical_payloads_are_refused_at_publish(payload: object, where: str) -> None:
    bus = _bus()
    with pytest.raises(ConfigError, match="BUS_PAYLOAD_INVALID") as exc:
        bus.publish("A_RUN_1", "STATUS", payload, 0.0)  # type: ignore[arg-type]
    assert where in str(exc.value)
    assert bus.network.counters.sent == 0  # nothing went on the wire
    assert bus.rejected_by_reason == {"BUS_PAYLOAD_INVALID": 1}


def test_a_key_type_change_that_keeps_the_signature_is_rejected_on_arrival() -> None:
    bus = _bus()
    real = bus.publish("A_RUN_1", "STATUS", {"1": "v"}, 0.0)
    bus.deliver_until(10.0)
    # {1: v} has the same canonical bytes as {"1": v}: the signature still verifies...
    swapped = dataclasses.replace(real, payload={1: "v"}, nonce=2)
    resigned = dataclasses.replace(
        swapped,
        signature=_keys(["A_RUN_1"])["A_RUN_1"][1].sign(swapped.signing_bytes()),  # type: ignore[attr-defined]
    )
    assert (
        resigned.signing_bytes()
        == dataclasses.replace(resigned, payload={"1": "v"}).signing_bytes()
    )
    bus.inject(dataclasses.replace(real, payload={1: "v"}))
    bus.inject(resigned)
    bus.deliver_until(1000.0)
    # ... but the receivers would get another value than was signed: refused.
    assert bus.rejected_by_reason == {"BUS_PAYLOAD_INVALID": 2}
    assert [dict(m.payload) for m in bus.receive("A_RUN_2")] == [{"1": "v"}]


def test_canonical_payloads_pass_and_receivers_get_what_was_signed() -> None:
    assert payload_problem({"a": [1, 2.5, None, True, "s", {"b": []}]}) is None
    bus = _bus()
    env = bus.publish("A_RUN_1", "STATUS", {"n": 1, "l": [1, 2]}, 0.0)
    assert env.payload == {"n": 1, "l": [1, 2]}
    bus.deliver_until(100.0)
    (m,) = bus.receive("A_QC_1")
    assert dict(m.payload) == {"n": 1, "l": [1, 2]}


def test_channel_broadcasts_reach_their_readers_once_and_partitions_filter_them() -> None:
    bus = _bus(partitions=[{"start_ms": 0, "end_ms": 500, "groups": [["A_RUN_1", "A_QC_1"]]}])
    ch = site_channel("SITE_001")
    bus.subscribe("A_RUN_2", ch)
    bus.publish("A_RUN_1", "STATUS", {"t": 0}, 100.0, channel=ch)  # partitioned
    bus.publish("A_RUN_1", "STATUS", {"t": 1}, 600.0, channel=ch)
    bus.publish("A_RUN_1", "STATUS", {"t": 2}, 600.0)  # plain broadcast
    with pytest.raises(ConfigError, match="not both"):
        bus.publish("A_RUN_1", "STATUS", {}, 0.0, recipients=["A_RUN_2"], channel=ch)
    bus.deliver_until(2000.0)
    assert len(bus._chan[ch][0]) == 2  # stored once
    assert [m.payload["t"] for m in bus.receive("A_RUN_2")] == [1, 2]
    assert [m.payload["t"] for m in bus.receive("A_QC_1")] == [2]  # not subscribed
    same_side, end = bus.channel_since(ch, 0, "A_QC_1")
    assert [m.payload["t"] for m in same_side] == [0, 1] and end == 2
    own, _ = bus.channel_since(ch, 0, "A_RUN_1")
    assert [m.payload["t"] for m in own] == [0, 1]  # a reader's view includes its own
    cut, _ = bus.channel_since(ch, 0, "A_RUN_2")
    assert [m.payload["t"] for m in cut] == [1]
    assert bus.channel_since(ch, 2, "A_RUN_2") == ([], 2)


def test_rejections_and_alerts_are_journaled() -> None:
    bus = _bus(drop_rate=1.0)
    bus.publish("A_RUN_1", "ALERT", {"kind": "loss"}, 5.0)
    assert [e.payload["kind"] for e in bus.alerts] == ["loss"]  # even though it is lost
    ok = _bus()
    env = ok.publish("A_RUN_1", "STATUS", {}, 0.0, channel="site:S")
    ok.inject(env, 10.0)
    ok.deliver_until(100.0)
    (rej,) = ok.rejections
    assert (rej.code, rej.sender_id, rej.channel) == ("BUS_REPLAY", "A_RUN_1", "site:S")
    assert rej.packet.reaches("A_QC_1")


def test_rbac_roles_and_the_coordinator_role_are_the_bus_roles() -> None:
    pol = load_policy()
    assert "ROLE_COORDINATOR" not in pol["rbac_policy"]["roles"]
