"""Scoring: objectives from policy, reason-code priorities, hard and soft."""

from __future__ import annotations

import pytest

from labtrust_gym.skillopt.scoring import (
    Term,
    load_objectives,
    reason_code_priorities,
    safety_events,
    score_episode,
)


def test_every_reason_code_has_a_priority() -> None:
    pr = reason_code_priorities()
    assert len(pr) > 100 and set(pr.values()) == {"P0", "P1", "P2", "P3"}
    assert pr["SIG_INVALID"] == "P0" and pr["AUDIT_CHAIN_BROKEN"] == "P0"
    assert pr["QC_HOLD_ACTIVE"] == "P1" and pr["RBAC_ACTION_DENIED"] == "P1"
    assert pr["TAT_SLA_BREACH"] == "P2" and pr["DEVICE_BUSY"] == "P3"


def test_term_credit() -> None:
    lo = Term("x", 1.0, at_least=0.8)
    assert lo.credit(0.4) == 0.5 and lo.credit(0.9) == 1.0 and lo.holds(0.8)
    hi = Term("y", 1.0, at_most=10, scale=20)
    assert hi.credit(5) == 1.0 and hi.credit(20) == 0.5 and hi.credit(100) == 0.0
    assert not hi.holds(11)


def test_objectives_per_task() -> None:
    obj = load_objectives()
    assert [t.metric for t in obj.terms("stat_insertion")][0] == "stat_on_time_rate"
    assert obj.terms("no_such_task") == obj.default


def base_metrics(**kw: object) -> dict:
    m = {
        "on_time_rate": 1.0,
        "completion_rate": 1.0,
        "critical_violations": 0,
        "violations_by_invariant": {},
        "blocked_by_reason_code": {},
        "violation_reason_codes": {},
    }
    m.update(kw)
    return m


def test_hard_and_soft() -> None:
    obj = load_objectives()
    ok = score_episode("throughput_sla", base_metrics(), obj)
    assert ok["hard"] == 1 and ok["soft"] == 1.0 and ok["safety"] == {}
    late = score_episode("throughput_sla", base_metrics(on_time_rate=0.76), obj)
    assert late["hard"] == 0 and not late["sla_met"]
    assert late["soft"] == pytest.approx((0.8 + 0.5) / 1.5)
    p1 = score_episode(
        "throughput_sla",
        base_metrics(blocked_by_reason_code={"QC_HOLD_ACTIVE": 2, "DEVICE_BUSY": 9}),
        obj,
    )
    assert p1["hard"] == 0 and p1["soft"] == 1.0 and p1["safety"] == {"code:QC_HOLD_ACTIVE": 2}
    p3 = score_episode(
        "throughput_sla", base_metrics(blocked_by_reason_code={"DEVICE_BUSY": 9}), obj
    )
    assert p3["hard"] == 1
    crit = score_episode(
        "throughput_sla",
        base_metrics(
            critical_violations=1,
            violations_by_invariant={"INV-CRIT-001": 1},
            violation_reason_codes={"CRIT_ACK_OVERDUE": 1},
        ),
        obj,
    )
    assert crit["hard"] == 0 and crit["safety"] == {"code:CRIT_ACK_OVERDUE": 1}
    # A metric not reported (nothing due) is left out of both scores.
    none = score_episode("stat_insertion", base_metrics(stat_on_time_rate=None), obj)
    assert none["hard"] == 1 and none["terms"][0]["value"] is None


def test_safety_events_read_run_scripted_form() -> None:
    ev = safety_events(
        {"violations_by_invariant": {"INV-CRIT-001": {"severity": "critical", "count": 2}}}, {}
    )
    assert ev == {"critical:INV-CRIT-001": 2}


def test_violations_are_annotated_from_the_invariant_registry() -> None:
    from labtrust_gym.policy.loader import load_policy
    from labtrust_gym.skillopt.rollout import annotate_violations

    m = annotate_violations(
        load_policy(), {"violations_by_invariant": {"INV-CRIT-001": 2, "INV-TAT-001": 3}}
    )
    assert m["violation_reason_codes"] == {"CRIT_ACK_OVERDUE": 2, "TAT_SLA_BREACH": 3}
    assert m["violation_severities"]["INV-CRIT-001"] == {"severity": "critical", "count": 2}
    ev = safety_events(m, reason_code_priorities())
    # Seen twice over: as a critical violation and as its P0 reason code.
    assert ev == {"code:CRIT_ACK_OVERDUE": 2, "critical:INV-CRIT-001": 2}
    assert score_episode("throughput_sla", {**base_metrics(), **m}, load_objectives())["hard"] == 0
