"""Bus attacks: forged, tampered, replayed, stale and forbidden envelopes."""

from __future__ import annotations

import copy

from _sec_helpers import attack, shipped_suite

from labtrust_gym.security.bus_scenarios import run_bus_attack


def test_bus_attacks_are_rejected_with_their_reason_code() -> None:
    suite = shipped_suite()
    bus_ids = [a["attack_id"] for a in suite["attacks"] if a["scenario"]["kind"] == "bus"]
    assert len(bus_ids) >= 8
    for aid in bus_ids:
        res = run_bus_attack(attack(suite, aid))
        assert (res["outcome"], res["findings"]) == ("blocked", []), aid
    res = run_bus_attack(attack(suite, "SEC-BUS-002"))
    assert res["observed"] == [
        {"step": 0, "op": "publish", "expected": "accepted", "outcome": "accepted"},
        {"step": 1, "op": "tamper", "expected": "BUS_SIG_INVALID", "outcome": "BUS_SIG_INVALID"},
        {"agent": "A_RUNNER_02", "received": ["real"]},
    ]


def test_a_forgery_that_got_through_or_a_poisoned_inbox_is_a_success() -> None:
    a = copy.deepcopy(attack(shipped_suite(), "SEC-BUS-003"))
    # Expecting the replay to be accepted is wrong: the attack "fails to succeed", and
    # the scenario says so as an attack finding.
    a["scenario"]["steps"][1]["expect"] = "accepted"
    res = run_bus_attack(a)
    assert res["outcome"] == "error"
    assert res["findings"] == ["SEC-BUS-003 step 1 [replay]: expected accepted, got BUS_REPLAY"]
    a = copy.deepcopy(attack(shipped_suite(), "SEC-BUS-002"))
    a["scenario"]["received"] = {"A_RUNNER_02": []}
    res = run_bus_attack(a)
    assert res["outcome"] == "succeeded"
    assert res["findings"] == ["SEC-BUS-002 received: A_RUNNER_02 got ['real'], expected []"]


def test_bus_attacks_are_deterministic() -> None:
    a = attack(shipped_suite(), "SEC-BUS-006")
    assert run_bus_attack(a) == run_bus_attack(copy.deepcopy(a))
