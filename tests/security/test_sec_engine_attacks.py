"""Scripted engine attacks: outcomes, findings, and the golden runner's partial mode."""

from __future__ import annotations

import copy

from _sec_helpers import attack, shipped_suite

from labtrust_gym.security.engine_scenarios import compose_engine_attack, run_engine_attack
from labtrust_gym.testing.golden import run_golden_scenario_detailed


def _run(a: dict) -> dict:
    return run_engine_attack(a, shipped_suite()["fixtures"])


def test_shipped_attacks_are_blocked_or_detected() -> None:
    suite = shipped_suite()
    for aid, outcome in (
        ("SEC-RBAC-001", "blocked"),
        ("SEC-QC-001", "blocked"),
        ("SEC-AUDIT-004", "blocked"),
        ("SEC-DOOR-003", "detected"),
        ("SEC-CUSTODY-007", "detected"),
    ):
        res = run_engine_attack(attack(suite, aid), suite["fixtures"])
        assert (res["outcome"], res["findings"]) == (outcome, []), aid
        assert res["passed"] is True
    res = run_engine_attack(attack(suite, "SEC-RBAC-001"), suite["fixtures"])
    # The observed attack step, as the engine answered it.
    assert res["observed"] == [
        {
            "step": 3,
            "action_type": "RELEASE_RESULT",
            "agent_id": "A_RUNNER_02",
            "status": "BLOCKED",
            "blocked_reason_code": "RBAC_ACTION_DENIED",
            "emits": [],
            "violations": [],
        }
    ]
    assert res["expected"] == "BLOCKED RBAC_ACTION_DENIED; state unchanged"


def test_an_attack_step_that_goes_through_is_a_success_for_the_attacker() -> None:
    a = copy.deepcopy(attack(shipped_suite(), "SEC-RBAC-003"))
    # A corridor move is allowed: expecting it to be refused makes the "attack" succeed.
    a["scenario"]["attack"][0]["event"]["args"]["to_zone"] = "Z_RECEPTION"
    res = _run(a)
    assert res["outcome"] == "succeeded" and res["passed"] is False
    assert any("status: expected 'BLOCKED', got 'ACCEPTED'" in f for f in res["findings"])
    # ... and its effect shows in the final state check too.
    assert any("final: state agent A_RUNNER_02 .zone" in f for f in res["findings"])


def test_detection_expectations_are_checked() -> None:
    base = attack(shipped_suite(), "SEC-DOOR-003")
    a = copy.deepcopy(base)
    a["scenario"]["attack"][1]["expect"]["emits_include"].append("FORENSIC_FREEZE")
    res = _run(a)
    assert res["outcome"] == "succeeded"
    assert any("lack ['FORENSIC_FREEZE']" in f for f in res["findings"])
    a = copy.deepcopy(base)
    a["scenario"]["attack"][1]["expect"]["emits_exclude"] = ["DOOR_ALARM"]
    assert any("forbidden ['DOOR_ALARM']" in f for f in _run(a)["findings"])
    a = copy.deepcopy(base)
    a["scenario"]["attack"][1]["expect"]["violations"] = []
    assert _run(a)["outcome"] == "succeeded"


def test_a_setup_that_does_not_go_as_written_is_an_error_not_a_block() -> None:
    a = copy.deepcopy(attack(shipped_suite(), "SEC-TOKEN-002"))
    a["scenario"]["setup"][0]["event"]["args"]["approvers"] = ["A_RUNNER_01"]  # refused
    res = _run(a)
    assert res["outcome"] == "error" and res["passed"] is False
    assert any(f.startswith("SEC-TOKEN-002 step 0 [ISSUE_TOKEN]") for f in res["findings"])


def test_compose_uses_fixture_setup_and_labels() -> None:
    suite = shipped_suite()
    c = compose_engine_attack(attack(suite, "SEC-AUDIT-004"), suite["fixtures"])
    assert c.phases == ("setup", "attack")
    assert c.scenario["steps"][1]["replay"] == {"step": 0}
    assert c.scenario["initial_state"]["strict_signatures"] is True
    c = compose_engine_attack(attack(suite, "SEC-QC-003"), suite["fixtures"])
    assert c.phases.count("setup") == 6 + 2 and c.phases[-1] == "attack"
    # Setup steps without an expectation must be ACCEPTED.
    assert c.scenario["steps"][0]["expect"] == {"status": "ACCEPTED"}


def test_golden_partial_mode_checks_only_named_fields() -> None:
    sc = {
        "id": "T-1",
        "title": "t",
        "seed": 1,
        "initial_state": {},
        "steps": [
            {
                "event": {
                    "t_s": 0,
                    "agent_id": "A_RUNNER_01",
                    "action_type": "MOVE",
                    "args": {"to_zone": "Z_CORRIDOR"},
                },
                "expect": {"status": "ACCEPTED"},
            }
        ],
    }
    assert run_golden_scenario_detailed(sc, partial=True).mismatches == []
    strict = run_golden_scenario_detailed(sc).mismatches
    assert strict == ["T-1 step 0 [MOVE]: emits: expected None, got ['AGENT_MOVE_STARTED']"]
    sc["steps"][0]["expect"] = {"status": "ACCEPTED", "emits": []}
    assert run_golden_scenario_detailed(sc, partial=True).mismatches == [
        "T-1 step 0 [MOVE]: emits: expected [], got ['AGENT_MOVE_STARTED']"
    ]
