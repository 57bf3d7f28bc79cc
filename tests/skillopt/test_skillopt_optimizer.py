"""Aggregate, edit-budget schedules, select, update."""

from __future__ import annotations

import pytest

from labtrust_gym.errors import ConfigError
from labtrust_gym.skillopt.optimizer import Schedule, aggregate, select, update
from labtrust_gym.skillopt.types import Edit, Patch


def raw(source: str, *edits: Edit, why: str = "") -> dict:
    return {"patch": Patch(list(edits), why).to_dict(), "source_type": source}


def test_aggregate_dedupes_sums_support_failure_first() -> None:
    a = Edit("insert_after", "- stat_first", "rules:", 2)
    b = Edit("replace", "x: 2", "x: 1", 5)
    c = Edit("append", "note", support_count=1)
    merged = aggregate(
        [
            raw("success", b, c, why="s"),
            None,
            raw("failure", a, why="f"),
            raw("failure", Edit("insert_after", "- stat_first", "rules:", 3)),
            raw("failure", Edit("append", "note")),  # same key as c: support 1 + 1, now failure
        ]
    )
    assert [(e.key, e.support_count, e.source_type) for e in merged.edits] == [
        (a.key, 5, "failure"),
        (c.key, 2, "failure"),
        (b.key, 5, "success"),
    ]
    assert merged.reasoning == "s | f"


def test_schedules() -> None:
    assert [Schedule("constant", 4, 1, 5).budget(s) for s in range(1, 6)] == [4] * 5
    assert [Schedule("linear", 5, 1, 5).budget(s) for s in range(1, 6)] == [5, 4, 3, 2, 1]
    assert [Schedule("linear", 9, 1, 5).budget(s) for s in range(1, 6)] == [9, 7, 5, 3, 1]
    # Cosine stays high longer and drops faster at the end than linear.
    assert [Schedule("cosine", 9, 1, 5).budget(s) for s in range(1, 6)] == [9, 8, 5, 2, 1]
    assert Schedule("linear", 5, 1, 5).budget(99) == 1
    assert Schedule("linear", 3, 1, 1).budget(1) == 3
    for bad in (
        {"mode": "step"},
        {"max_edits": 0},
        {"min_edits": 3, "max_edits": 2},
        {"total_steps": 0},
    ):
        with pytest.raises(ConfigError):
            Schedule(**bad)  # type: ignore[arg-type]


def test_select_and_update() -> None:
    p = Patch([Edit("append", "a"), Edit("append", "b"), Edit("append", "c")], "r")
    assert [e.content for e in select(p, 2).edits] == ["a", "b"]
    with pytest.raises(ConfigError):
        select(p, 0)
    doc = "# d\n\n```yaml labtrust-team\nqc_interval_s: 10\n```\n"
    text, reps = update(
        doc,
        Patch(
            [
                Edit("replace", "qc_interval_s: 20", "qc_interval_s: 10"),
                Edit("delete", "", "nothing"),
            ]
        ),
    )
    assert "qc_interval_s: 20" in text
    assert [r["status"] for r in reps] == ["applied", "skipped"]
