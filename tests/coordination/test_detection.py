"""Detection is measured: the receivers' watchdog, the team's ALERTs, and the injections'
``injection.detected`` / ``injection.detection_latency_s`` read from the alert journal."""

from __future__ import annotations

from typing import Any

import pytest

from labtrust_gym.benchmarks.runner import run_episode
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.coordination.watchdog import (
    DetectionPolicy,
    Watchdog,
    load_detection_policy,
)
from labtrust_gym.errors import ConfigError

P = DetectionPolicy(
    heartbeat_s=20,
    silence_s=70,
    loss_grace_s=20,
    loss_alert=3,
    loss_window_s=60,
    late_ms=2500,
    late_alert=2,
    late_window_s=60,
    reorder_alert=2,
    reorder_window_s=60,
    forgery_alert=1,
    alert_cooldown_s=300,
)


def test_the_policy_is_data_and_is_checked() -> None:
    pol = load_detection_policy()
    assert pol.silence_s > pol.heartbeat_s and pol.loss_alert >= 1
    with pytest.raises(ConfigError, match="detection.late_ms"):
        DetectionPolicy.from_dict({"late_ms": -1})
    with pytest.raises(ConfigError, match="unknown field"):
        DetectionPolicy.from_dict({"late": 1})


def test_gaps_become_losses_after_the_grace_and_late_fills_are_reorders() -> None:
    w = Watchdog(P)
    w.on_message("A", 1, 0.0, 5.0)
    w.on_message("A", 5, 10.0, 15.0)  # 2, 3, 4 missing
    w.on_message("A", 3, 12.0, 30.0)  # one gap filled: overtaken, not lost
    assert w.check(1000.0) == []
    assert w.totals["reorder"] == 1
    assert w.check(25_000.0) == []  # 2 and 4 past the grace: 2 losses < 3
    assert w.totals["loss"] == 2
    w.on_message("A", 9, 26_000.0, 26_010.0)  # 6, 7, 8 missing
    assert w.check(50_000.0) == [("loss", 5)]
    assert w.check(60_000.0) == []  # cooling down


def test_late_messages_silence_and_forgery_raise_their_alarms() -> None:
    w = Watchdog(P, beacons=frozenset({"C"}))
    w.on_message("C", 1, 0.0, 4.0)
    w.on_message("B", 1, 0.0, 3000.0)
    assert w.check(3000.0) == []
    w.on_message("B", 2, 1000.0, 6000.0)
    assert w.check(6000.0) == [("delay", 2)]
    assert w.check(60_000.0) == []  # the beacon spoke 60 s ago: not yet silent
    assert w.check(80_000.0) == [("partition", 1)]
    w.on_rejected(80_500.0)
    assert w.check(81_000.0) == [("forgery", 1)]
    w.on_message("C", 2, 90_000.0, 90_002.0)  # heard again: a later silence counts anew
    assert w.totals["partition"] == 1


def _run(injection: str, method: str = "scripted_team", seed: int = 1) -> dict[str, Any]:
    task = get_task("coord_risk")(scale_config="small_8", params={"injection": injection})
    m, _ = run_episode(task, seed, coord_method=method)
    return m


@pytest.mark.parametrize(
    ("injection", "kind"),
    [
        ("INJ-NET-PARTITION-001", "partition"),
        ("INJ-NET-DROP-SPIKE-001", "loss"),
        ("INJ-NET-DELAY-001", "delay"),
        ("INJ-MSG-POISON-001", "forgery"),
    ],
)
def test_the_team_reports_the_injection_after_its_onset(injection: str, kind: str) -> None:
    m = _run(injection)
    assert m["injection.detect_kind"] == kind
    assert m["injection.detected"] == 1
    lat = m["injection.detection_latency_s"]
    assert lat is not None and 0 <= lat <= 600
    assert m["injection.alerts_before_onset"] == 0
    assert m[f"coordination.method.alerts_{kind}"] >= 1
    assert m["injection.onset_s"] is not None


def test_partition_detection_comes_from_silence_of_the_cut_off_desk() -> None:
    m = _run("INJ-NET-PARTITION-001")
    # The window opens a quarter into the 1,200 s episode; the desk's heartbeats stop
    # reaching half of the team, which notices after silence_s.
    assert m["injection.onset_s"] == pytest.approx(300.0)
    pol = load_detection_policy()
    assert pol.silence_s - 10 <= m["injection.detection_latency_s"] <= pol.silence_s + 30


def test_nothing_is_detected_when_the_team_reports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The measure is the alerts the team published: a team that never reports scores 0."""
    from labtrust_gym.baselines.coordination.comms import TeamComms

    monkeypatch.setattr(TeamComms, "tick", lambda self, t_ms: None)
    m = _run("INJ-NET-PARTITION-001")
    assert m["injection.detected"] == 0 and m["injection.detection_latency_s"] is None


def test_device_fault_detection_is_the_teams_first_repair() -> None:
    m = _run("INJ-DEVICE-FAULT-001")
    assert m["injection.detect_kind"] == "repair"
    assert m["injection.device_faults"] == 1
    assert m["injection.detected"] == 1 and m["injection.detection_latency_s"] >= 0


@pytest.mark.parametrize("injection", ["INJ-ID-SPOOF-001", "INJ-COLLUSION-001"])
def test_injections_without_a_measure_report_no_detection(injection: str) -> None:
    m = _run(injection)
    assert m["injection.blocked"] > 0
    assert "injection.detected" not in m and "injection.detection_latency_s" not in m
