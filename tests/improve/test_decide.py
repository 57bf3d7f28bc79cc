"""decide(): every branch, and that it is pure."""

from __future__ import annotations

import pytest

from labtrust_gym.errors import ConfigError
from labtrust_gym.improve.decide import ACTIONS, DecideConfig, decide

LADDER = ("skill_rules", "skill_rules_wide", "optuna_params")
CFG = DecideConfig(rollback_threshold=0.05, plateau_cycles=2, floor=0.1)


def gate(action: str, mean: float | None) -> dict:
    return {"action": action, "reason": "r", "paired": {} if mean is None else {"mean": mean}}


def run(g, history=(), *, score=0.8, rung="skill_rules", budget=True, cfg=CFG):
    return decide(
        g,
        list(history),
        champion_score=score,
        ladder=LADDER,
        rung=rung,
        budget_left=budget,
        cfg=cfg,
    )


def test_promote_when_the_gate_accepts() -> None:
    for action in ("accept", "accept_new_best"):
        d = run(gate(action, 0.1))
        assert (d.action, d.rule, d.rung) == ("promote", "gate", "skill_rules")


def test_rollback_on_a_safety_veto_even_with_a_gain() -> None:
    d = run(gate("vetoed", 0.3))
    assert (d.action, d.rule) == ("rollback", "veto")
    assert "safety veto" in d.reason


def test_rollback_on_a_regression_beyond_the_threshold() -> None:
    d = run(gate("reject", -0.06))
    assert (d.action, d.rule) == ("rollback", "regression")
    # at the threshold exactly: not a rollback (iterate, plateau 1 of 2)
    assert run(gate("reject", -0.05)).action == "iterate"


def test_iterate_on_a_rejection_without_a_plateau() -> None:
    d = run(gate("reject", 0.0), history=["promote"])
    assert (d.action, d.plateau) == ("iterate", 1)
    assert run(None, history=["promote"]).action == "iterate"  # no candidate


def test_escalate_after_plateau_cycles_to_the_next_rung() -> None:
    d = run(gate("reject", 0.0), history=["promote", "iterate"])
    assert (d.action, d.rung, d.plateau, d.rule) == ("escalate", "skill_rules_wide", 2, "plateau")
    # a rollback counts as no progress too
    assert run(None, history=["rollback"]).action == "escalate"
    # the plateau restarts after an escalation
    d2 = run(gate("reject", 0.0), history=["iterate", "escalate"], rung="skill_rules_wide")
    assert (d2.action, d2.plateau) == ("iterate", 1)


def test_floor_an_all_zero_plateau_stops_instead_of_escalating() -> None:
    d = run(gate("reject", 0.0), history=["iterate"], score=0.0)
    assert (d.action, d.rule) == ("stop", "floor")
    assert run(gate("reject", 0.0), history=["iterate"], score=0.1).rule == "floor"  # at the floor
    assert run(gate("reject", 0.0), history=["iterate"], score=0.11).action == "escalate"


def test_stop_when_the_ladder_is_exhausted() -> None:
    d = run(gate("reject", 0.0), history=["iterate"], rung="optuna_params")
    assert (d.action, d.rule) == ("stop", "ladder")


def test_stop_when_no_budget_is_left() -> None:
    d = run(gate("reject", 0.0), history=["promote"], budget=False)
    assert (d.action, d.rule) == ("stop", "budget")
    # a promotion still promotes on the last cycle
    assert run(gate("accept", 0.1), budget=False).action == "promote"


def test_every_action_is_reachable_and_the_function_is_pure() -> None:
    seen = {
        run(gate("accept", 0.1)).action,
        run(gate("reject", 0.0), history=["promote"]).action,
        run(gate("vetoed", 0.1)).action,
        run(gate("reject", 0.0), history=["iterate"]).action,
        run(gate("reject", 0.0), history=["iterate"], rung="optuna_params").action,
    }
    assert seen == set(ACTIONS)
    g = gate("reject", -0.01)
    h = ["promote", "iterate"]
    assert run(g, h) == run(g, h)
    assert h == ["promote", "iterate"] and g["paired"] == {"mean": -0.01}


def test_bad_inputs_are_errors() -> None:
    with pytest.raises(ConfigError, match="rung"):
        run(None, rung="nope")
    with pytest.raises(ConfigError, match="plateau_cycles"):
        DecideConfig(plateau_cycles=0)
    with pytest.raises(ConfigError, match="rollback_threshold"):
        DecideConfig(rollback_threshold=-1)
