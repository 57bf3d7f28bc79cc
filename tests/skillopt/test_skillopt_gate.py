"""The gate: every action, the order of its checks, ties, tolerance, min delta, metrics."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from labtrust_gym.errors import ConfigError
from labtrust_gym.skillopt.gate import GateConfig, episode_score, gate_decision


def ep(task: str, seed: int, soft: float, hard: int = 1, **safety: int) -> dict[str, Any]:
    return {
        "task_type": task,
        "seed": seed,
        "soft": soft,
        "hard": hard,
        "safety": {k.replace("__", ":"): v for k, v in safety.items()},
    }


def base(n: int = 2, soft: float = 0.5) -> list[dict[str, Any]]:
    return [ep(t, s, soft) for t in ("a", "b") for s in range(100, 100 + n)]


def decide(cand: list[dict[str, Any]], cur: list[dict[str, Any]], **kw: Any):
    args = dict(
        candidate_skill="CAND",
        current_skill="CUR",
        current_score=0.5,
        best_skill="BEST",
        best_score=0.5,
        best_step=3,
        step=7,
        train_keys=set(),
        cfg=GateConfig(),
    )
    args.update(kw)
    return gate_decision(cand, cur, **args)


def test_accept_new_best_moves_current_and_best() -> None:
    g = decide([{**e, "soft": 0.6} for e in base()], base())
    assert g.action == "accept_new_best" and g.accepted
    assert (g.current_skill, g.best_skill, g.best_step) == ("CAND", "CAND", 7)
    assert g.current_score == pytest.approx(0.6) and g.best_score == pytest.approx(0.6)
    assert g.paired["mean"] == pytest.approx(0.1) and g.paired["n"] == 4


def test_accept_below_best_keeps_best() -> None:
    g = decide([{**e, "soft": 0.6} for e in base()], base(), best_score=0.9)
    assert g.action == "accept"
    assert (g.current_skill, g.best_skill, g.best_score, g.best_step) == ("CAND", "BEST", 0.9, 3)


def test_tie_is_rejected_and_state_kept() -> None:
    g = decide(base(), base())
    assert g.action == "reject" and "tie" in g.reason and not g.accepted
    assert (g.current_skill, g.current_score, g.best_skill) == ("CUR", 0.5, "BEST")


def test_worse_is_rejected() -> None:
    cand = [{**e, "soft": 0.495} for e in base()]  # within tolerance per task, still worse
    g = decide(cand, base())
    assert g.action == "reject" and "worse" in g.reason


def test_min_delta() -> None:
    cand = [{**e, "soft": 0.51} for e in base()]
    assert decide(cand, base(), cfg=GateConfig(min_delta=0.02)).action == "reject"
    assert decide(cand, base(), cfg=GateConfig(min_delta=0.01)).accepted


def test_per_task_regression_beyond_tolerance_rejects_despite_mean_gain() -> None:
    cand = [{**e, "soft": 0.9 if e["task_type"] == "a" else 0.47} for e in base()]
    g = decide(cand, base(), cfg=GateConfig(tolerance=0.02))
    assert g.action == "reject" and "task type b regresses" in g.reason
    assert g.per_task == pytest.approx({"a": 0.4, "b": -0.03})
    assert decide(cand, base(), cfg=GateConfig(tolerance=0.05)).action == "accept_new_best"


def test_overlap_of_train_and_selection_is_unverified_first() -> None:
    # Even a vetoed, improving candidate: the overlap is checked first.
    cand = [{**e, "soft": 0.9, "safety": {"code:QC_HOLD_ACTIVE": 1}} for e in base()]
    g = decide(cand, base(), train_keys={("a", 101)})
    assert g.action == "reject_unverified" and "a/101" in g.reason
    assert g.current_skill == "CUR"


def test_different_episodes_are_unverified() -> None:
    cand = base()[:-1]
    assert decide(cand, base()).action == "reject_unverified"
    dup = base() + [base()[0]]
    assert decide(dup, dup).action == "reject_unverified"
    assert decide([], []).action == "reject_unverified"


@pytest.mark.parametrize(
    "event", ["critical:INV-CRIT-001", "code:QC_HOLD_ACTIVE", "code:DOOR_OPEN_TOO_LONG"]
)
def test_safety_veto_whatever_the_score(event: str) -> None:
    cand = [{**e, "soft": 1.0} for e in base()]
    cand[2] = {**cand[2], "safety": {event: 1}}
    g = decide(cand, base())
    assert g.action == "vetoed" and not g.accepted
    assert g.vetoes == ({"episode": "b/100", "new": {event: 1}},)
    assert g.current_skill == "CUR" and g.best_skill == "BEST"


def test_veto_is_about_new_events_only() -> None:
    cur = base()
    cur[0] = {**cur[0], "safety": {"code:QC_HOLD_ACTIVE": 2}}
    same = [{**e, "soft": 0.6} for e in cur]
    assert decide(same, cur).accepted  # the same events as the current skill: no veto
    more = copy.deepcopy(same)
    more[0]["safety"] = {"code:QC_HOLD_ACTIVE": 3}
    g = decide(more, cur)
    assert g.action == "vetoed" and g.vetoes[0]["new"] == {"code:QC_HOLD_ACTIVE": 3}
    fewer = copy.deepcopy(same)
    fewer[0]["safety"] = {}
    assert decide(fewer, cur).accepted


def test_veto_comes_before_regression_and_improvement_checks() -> None:
    cand = [{**e, "soft": 0.0} for e in base()]
    cand[0]["safety"] = {"code:SIG_INVALID": 1}
    assert decide(cand, base()).action == "vetoed"


@pytest.mark.parametrize(("metric", "expected"), [("hard", 1.0), ("soft", 0.25), ("mixed", 0.625)])
def test_episode_score_metrics(metric: str, expected: float) -> None:
    assert episode_score({"hard": 1, "soft": 0.25}, GateConfig(metric=metric)) == expected


def test_hard_metric_ignores_soft_gains() -> None:
    cand = [{**e, "soft": 0.9} for e in base()]
    assert decide(cand, base(), cfg=GateConfig(metric="hard")).action == "reject"
    flip = [{**e, "hard": 1} for e in base()]
    cur = [{**e, "hard": 0} for e in base()]
    assert decide(flip, cur, cfg=GateConfig(metric="hard"), current_score=0.0).accepted


def test_bad_config() -> None:
    for kw in ({"metric": "f1"}, {"mixed_weight": 2.0}, {"tolerance": -1.0}, {"min_delta": -1}):
        with pytest.raises(ConfigError):
            GateConfig(**kw)


def test_pure_and_deterministic() -> None:
    cand = [{**e, "soft": 0.7} for e in base()]
    cur = base()
    snap = copy.deepcopy((cand, cur))
    first = decide(cand, cur, train_keys={("z", 1)})
    again = decide(cand, cur, train_keys={("z", 1)})
    assert first == again and (cand, cur) == snap


def test_every_action_reachable_and_exclusive() -> None:
    """Across a grid of situations each outcome follows the documented order."""
    seen = set()
    for overlap, veto, regress, delta in itertools.product(
        (False, True), (False, True), (False, True), (-0.01, 0.0, 0.05)
    ):
        cand = [{**e, "soft": 0.5 + delta} for e in base()]
        if regress:
            for e in cand:
                if e["task_type"] == "b":
                    e["soft"] = 0.4
        if veto:
            cand[1]["safety"] = {"critical:INV-SPEC-001": 1}
        g = decide(cand, base(), train_keys={("a", 100)} if overlap else set())
        if overlap:
            want = "reject_unverified"
        elif veto:
            want = "vetoed"
        elif regress or delta <= 0:
            want = "reject"
        else:
            want = "accept_new_best"
        assert g.action == want, (overlap, veto, regress, delta, g.reason)
        seen.add(g.action)
    assert seen == {"reject_unverified", "vetoed", "reject", "accept_new_best"}
