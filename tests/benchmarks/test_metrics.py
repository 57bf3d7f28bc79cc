"""Episode metrics that do not flatter: late backlog, completion, paired confidence intervals."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from labtrust_gym.benchmarks.metrics import compute_episode_metrics, paired_diff_ci95
from labtrust_gym.engine import LabEngine
from labtrust_gym.engine.state import ResultState


def _env(engine: LabEngine) -> Any:
    counters = {
        "blocked_by_reason_code": {},
        "violations": [],
        "actions": 0,
        "blocked": 0,
        "emits": {},
    }
    return SimpleNamespace(engine=engine, counters=counters, step_count=150, possible_agents=[])


def _released(engine: LabEngine, sid: str, panel: str, t: float) -> None:
    s = engine.specimens[sid]
    engine.results[f"R-{sid}-{panel}"] = ResultState(
        result_id=f"R-{sid}-{panel}",
        specimen_id=sid,
        panel=panel,
        device_id="DEV_HAEM_0001",
        values={},
        generated_t=t,
        arrival_t=s.arrival_t,
        priority=s.priority,
        status="RELEASED",
        critical=False,
        critical_analytes=[],
        released_t=t,
    )


def test_unreleased_orders_are_late_once_due_and_count_in_completion_and_backlog() -> None:
    engine = LabEngine()
    engine.reset(
        {
            "specimens": [
                {"specimen_id": "S1", "panels": ["FBC"], "priority": "STAT", "status": "ACCEPTED"},
                {"specimen_id": "S2", "panels": ["FBC"], "priority": "STAT", "status": "ACCEPTED"},
                {"specimen_id": "S3", "panels": ["FBC"], "priority": "ROUTINE"},
                {"specimen_id": "S4", "panels": ["UE", "LFT"], "priority": "ROUTINE"},
            ]
        },
        seed=0,
    )
    engine.tick(1500.0)  # STAT target 1200 s has passed, ROUTINE 3000 s has not
    _released(engine, "S1", "FBC", 600.0)
    m = compute_episode_metrics(_env(engine))
    # S1 on time; S2 unreleased and past its due time: late. S3/S4 not due yet.
    assert m["orders_due"] == 2
    assert m["on_time_rate"] == pytest.approx(0.5)
    assert m["on_time_rate_by_priority"]["STAT"] == pytest.approx(0.5)
    assert m["orders_total"] == 5  # S4 is two orders (two panels)
    assert m["completion_rate"] == pytest.approx(1 / 5)
    assert m["backlog_at_end"] == 4


def test_completion_is_none_without_orders() -> None:
    engine = LabEngine()
    engine.reset({}, seed=0)
    m = compute_episode_metrics(_env(engine))
    assert m["orders_total"] == 0 and m["completion_rate"] is None and m["backlog_at_end"] == 0


def test_paired_diff_ci95() -> None:
    full = [10.0, 12.0, 11.0, 13.0]
    ablated = [15.0, 16.0, 18.0, 17.0]
    d = paired_diff_ci95(ablated, full)
    diffs = [5.0, 4.0, 7.0, 4.0]
    assert d["mean"] == pytest.approx(sum(diffs) / 4)
    assert d["n"] == 4 and d["ci95_low"] > 0  # every pair moves the same way
    assert d["excludes_zero"] is True
    same = paired_diff_ci95([1.0, 2.0, 3.0], [1.5, 1.5, 3.0])
    assert same["excludes_zero"] is False
    with pytest.raises(ValueError, match="pairs"):
        paired_diff_ci95([1.0], [1.0, 2.0])
    # Pairs with a missing value on either side are dropped, not zero-filled.
    assert paired_diff_ci95([1.0, None, 3.0], [0.0, 5.0, 1.0])["n"] == 2


def test_results_carry_completion_and_backlog_and_the_schema_checks_them() -> None:
    from labtrust_gym.benchmarks.runner import run_benchmark, validate_results
    from labtrust_gym.errors import ConfigError

    res = run_benchmark("throughput_sla", 1, 0, controller="random")
    m = res["episodes"][0]["metrics"]
    assert m["completion_rate"] == 0.0 and m["backlog_at_end"] == m["orders_total"] > 0
    validate_results(res)
    m["completion_rate"] = 1.5
    with pytest.raises(ConfigError, match="completion_rate"):
        validate_results(res)
