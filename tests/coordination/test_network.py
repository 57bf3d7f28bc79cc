"""The network model: policy parsing, determinism, delay fit, loss, partitions, reorder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from labtrust_gym.coordination.network import (
    NetworkModel,
    NetworkPolicy,
    load_network_document,
    load_network_policy,
)
from labtrust_gym.errors import ConfigError
from labtrust_gym.rng import stream


def _model(seed: int = 0, agent_sites: dict[str, str] | None = None, **kw: object) -> NetworkModel:
    base: dict[str, object] = {"delay_p50_ms": 5.0, "delay_p95_ms": 20.0, "drop_rate": 0.0}
    base.update(kw)
    return NetworkModel(
        NetworkPolicy.from_dict(base), stream(seed, "network"), agent_sites=agent_sites
    )


def _trace(net: NetworkModel, n: int = 300) -> list[tuple[int, float]]:
    for i in range(n):
        net.send(f"A{i % 7}", float(i), {"i": i})
    return [(p.seq, p.arrive_ms) for p in net.deliver_until(1e12)]


# ------------------------------------------------------------------- policy ---------
def test_shipped_policy_loads_and_overrides_merge() -> None:
    pol = load_network_policy()
    assert 0 < pol.delay_p50_ms <= pol.delay_p95_ms
    assert pol.reorder_window == 0 and pol.partitions == ()
    over = load_network_policy(overrides={"drop_rate": 0.5, "reorder_window": 3})
    assert over.drop_rate == 0.5 and over.reorder_window == 3
    assert over.delay_p50_ms == pol.delay_p50_ms
    doc = load_network_document()
    assert set(doc) >= {"network", "bus", "stale_view_reason_codes"}
    doc["network"]["drop_rate"] = 0.9  # a copy: the cached document is unchanged
    assert load_network_policy().drop_rate == pol.drop_rate


@pytest.mark.parametrize(
    ("patch", "field", "fix"),
    [
        ({"delay_p95_ms": 1.0}, "delay_p95_ms", "raise it"),
        ({"drop_rate": 1.5}, "drop_rate", "lower it"),
        ({"jitter": 3}, "jitter", "remove or rename"),
        ({"reorder_window": -1}, "reorder_window", "FIFO"),
        (
            {"drop_spikes": [{"start_ms": 5, "end_ms": 1, "drop_rate": 0.1}]},
            "drop_spikes[0].end_ms",
            "after start_ms",
        ),
        (
            {"partitions": [{"start_ms": 0, "end_ms": 10, "groups": [["A", "B"], ["B"]]}]},
            "partitions[0].groups[1]",
            "one group",
        ),
        (
            {
                "partitions": [
                    {"start_ms": 0, "end_ms": 10, "groups": [["A"]]},
                    {"start_ms": 5, "end_ms": 20, "groups": [["B"]]},
                ]
            },
            "partitions[1]",
            "separate the windows",
        ),
    ],
)
def test_policy_errors_name_the_field_and_the_fix(
    patch: dict[str, object], field: str, fix: str
) -> None:
    d: dict[str, object] = {"delay_p50_ms": 5.0, "delay_p95_ms": 20.0, "drop_rate": 0.0}
    d.update(patch)
    with pytest.raises(ConfigError) as info:
        NetworkPolicy.from_dict(d)
    assert field in str(info.value) and fix in str(info.value)


# ------------------------------------------------------------------- determinism ----
def test_same_seed_same_deliveries_other_seed_differs() -> None:
    a = _trace(_model(3, drop_rate=0.1))
    b = _trace(_model(3, drop_rate=0.1))
    c = _trace(_model(4, drop_rate=0.1))
    assert a == b
    assert a != c
    assert 0 < len(a) < 300


def test_one_draw_per_message_whatever_the_drop_rate() -> None:
    """Delays do not shift when the loss rate changes (both draws are always taken)."""
    net0 = _model(9, drop_rate=0.0)
    net1 = _model(9, drop_rate=0.5)
    for i in range(500):
        net0.send(f"S{i}", 0.0, i)  # one message per sender: no FIFO clamping
        net1.send(f"S{i}", 0.0, i)
    lossless = {p.seq: p.arrive_ms for p in net0.deliver_until(1e12)}
    lossy = {p.seq: p.arrive_ms for p in net1.deliver_until(1e12)}
    assert 150 < len(lossy) < 350
    assert all(lossless[s] == t for s, t in lossy.items())


# ------------------------------------------------------------------- delay & loss ---
def test_latency_percentiles_match_the_policy_on_10k_messages() -> None:
    net = _model(1, delay_p50_ms=12.0, delay_p95_ms=90.0, reorder_window=10_000)
    for i in range(10_000):
        net.send(f"A{i % 100}", 0.0, None)
    out = net.deliver_until(1e9)
    lat = np.array([p.arrive_ms - p.sent_ms for p in out])
    assert len(lat) == 10_000
    assert np.percentile(lat, 50) == pytest.approx(12.0, rel=0.05)
    assert np.percentile(lat, 95) == pytest.approx(90.0, rel=0.08)
    tel = net.telemetry()
    assert tel["comm.p50_latency_ms"] == pytest.approx(float(np.percentile(lat, 50)))
    assert tel["comm.p95_latency_ms"] == pytest.approx(float(np.percentile(lat, 95)))


def test_drop_rate_and_drop_spikes_only_inside_their_window() -> None:
    net = _model(
        2, drop_rate=0.1, drop_spikes=[{"start_ms": 1000, "end_ms": 2000, "drop_rate": 0.8}]
    )
    for i in range(6000):
        net.send("A", float(i % 3000), i)  # 2000 sends inside the spike, 4000 outside
    got = {p.body for p in net.deliver_until(1e12)}
    inside = [i for i in range(6000) if 1000 <= i % 3000 < 2000]
    outside = [i for i in range(6000) if not 1000 <= i % 3000 < 2000]
    lost_in = 1 - sum(i in got for i in inside) / len(inside)
    lost_out = 1 - sum(i in got for i in outside) / len(outside)
    assert lost_in == pytest.approx(0.8, abs=0.03)
    assert lost_out == pytest.approx(0.1, abs=0.02)
    tel = net.telemetry()
    assert tel["comm.msg_count"] == 6000
    assert tel["comm.dropped"] == 6000 - len(got)
    assert tel["comm.drop_rate"] == pytest.approx((6000 - len(got)) / 6000)


# ------------------------------------------------------------------- partitions -----
def test_partition_blocks_cross_group_delivery_only_inside_the_window() -> None:
    net = _model(
        0,
        partitions=[{"start_ms": 100, "end_ms": 200, "groups": [["A", "B"], ["SITE_2"]]}],
        agent_sites={"C": "SITE_2", "D": "SITE_2"},
    )
    everyone = ["A", "B", "C", "D", "E"]
    for t in (50.0, 150.0, 250.0):
        net.send("A", t, ("bcast", t))
        net.send("A", t, ("multi", t), recipients=["B", "C", "E"])
    out = {p.body: p for p in net.deliver_until(1e9)}
    for t in (50.0, 250.0):  # outside the window: everyone
        assert all(out[("bcast", t)].reaches(x) for x in everyone)
        assert out[("multi", t)].recipients == ("B", "C", "E")
    inside = out[("bcast", 150.0)]
    assert [x for x in everyone if inside.reaches(x)] == ["A", "B"]
    assert out[("multi", 150.0)].recipients == ("B",)
    # C and D are listed by site; E (in no group) is with neither A nor C.
    net.send("E", 150.0, "from-E")
    net.send("C", 150.0, "from-C", recipients=["A", "B"])  # everyone cut: never queued
    assert net.last_status == "partitioned"
    pkt = net.deliver_until(1e9)[0]
    assert [x for x in everyone if pkt.reaches(x)] == ["E"]
    tel = net.telemetry()
    assert tel["comm.partition_events"] == 4
    assert tel["comm.partition_lost"] == 1


# ------------------------------------------------------------------- reordering -----
def _overtakes(delivered: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """For each delivered (sender, index): how many later-sent messages of the same
    sender were delivered before it."""
    out = {}
    for pos, (s, i) in enumerate(delivered):
        out[(s, i)] = sum(1 for s2, j in delivered[:pos] if s2 == s and j > i)
    return out


@pytest.mark.parametrize("window", [0, 1, 3, 8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_message_is_overtaken_by_more_than_the_reorder_window(window: int, seed: int) -> None:
    net = _model(seed, delay_p50_ms=5.0, delay_p95_ms=400.0, drop_rate=0.05, reorder_window=window)
    rng = np.random.default_rng(seed)
    t = 0.0
    for _ in range(1500):
        t += float(rng.exponential(2.0))
        net.send(f"S{int(rng.integers(4))}", t, None)
    delivered: list[tuple[str, int]] = []
    for until in np.arange(0.0, t + 50_000.0, 37.0):  # deliver in many small slices
        delivered += [(p.sender, p.index) for p in net.deliver_until(float(until))]
    counts = _overtakes(delivered)
    assert max(counts.values()) <= window
    reordered = sum(1 for v in counts.values() if v > 0)
    assert net.telemetry()["comm.reordered"] == reordered
    if window == 0:
        assert reordered == 0
    else:
        assert max(counts.values()) == window  # the bound is reached, not just respected


def test_coordination_policy_files_are_validated(tmp_path: Path) -> None:
    from labtrust_gym.config import get_policy_dir
    from labtrust_gym.errors import PolicyValidationError
    from labtrust_gym.policy.validate import validate_policy_dir

    pdir = tmp_path / "policy"
    shutil.copytree(get_policy_dir(), pdir)
    assert validate_policy_dir(pdir) == []
    net = pdir / "coordination" / "network_policy.v0.1.yaml"
    net.write_text(net.read_text().replace("drop_rate: 0.001", "drop_rate: 2"))
    with pytest.raises(PolicyValidationError, match=r"network\.drop_rate"):
        load_network_policy(pdir)
    assert [p for _, p, _ in validate_policy_dir(pdir)] == ["network.drop_rate"]
    (pdir / "coordination" / "injections.v0.1.yaml").unlink()
    problems = validate_policy_dir(pdir)
    assert any("injections.v0.1.yaml" in f and "file not found" in m for f, _, m in problems)
