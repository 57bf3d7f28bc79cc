"""Task types and disjoint splits."""

from __future__ import annotations

import pytest

from labtrust_gym.errors import ConfigError, UnknownIdError
from labtrust_gym.skillopt.splits import SplitPlan, TaskType, parse_task_types


def test_task_type_syntax() -> None:
    t = TaskType.parse("coord_risk@small_smoke+INJ-DEVICE-FAULT-001")
    assert (t.task, t.scale, t.injection) == ("coord_risk", "small_smoke", "INJ-DEVICE-FAULT-001")
    assert t.name == "coord_risk@small_smoke+INJ-DEVICE-FAULT-001"
    assert TaskType.parse("qc_cascade").name == "qc_cascade"
    with pytest.raises(ConfigError, match="TASK\\[@SCALE\\]"):
        TaskType.parse("Bad Task")


def test_task_type_builds_its_task() -> None:
    task = TaskType.parse("coord_scale@small_smoke").make_task()
    assert task.scale_config.config_id == "small_smoke"
    with pytest.raises(ConfigError, match="scale preset"):
        TaskType.parse("qc_cascade@small_smoke").make_task()
    with pytest.raises(ConfigError, match="takes no risk injection"):
        TaskType.parse("qc_cascade+INJ-DEVICE-FAULT-001").make_task()


def test_parse_task_types() -> None:
    got = parse_task_types(["stat_insertion,qc_cascade", "qc_cascade"])
    assert [t.name for t in got] == ["stat_insertion", "qc_cascade"]
    with pytest.raises(ConfigError, match="adversaries"):
        parse_task_types(["adversarial_disruption"])
    with pytest.raises(UnknownIdError):
        parse_task_types(["no_such_task"])
    with pytest.raises(ConfigError, match="no task types"):
        parse_task_types([" , "])


def test_split_ranges_must_be_disjoint() -> None:
    tts = (TaskType("qc_cascade"),)
    with pytest.raises(ConfigError, match="overlap"):
        SplitPlan(tts, {"train": (0, 10), "valid_seen": (5, 10), "test": (100, 5)})
    with pytest.raises(ConfigError, match="exactly"):
        SplitPlan(tts, {"train": (0, 10), "test": (100, 5)})
    with pytest.raises(ConfigError, match="size"):
        SplitPlan(tts, {"train": (0, 0), "valid_seen": (5, 10), "test": (100, 5)})


def test_eval_episodes_are_fixed_and_stratified() -> None:
    plan = SplitPlan((TaskType("a_task"), TaskType("b_task")))
    eps = plan.eval_episodes("valid_seen", 5)
    assert [(e.task_type.task, e.seed) for e in eps] == [
        ("a_task", 2000),
        ("b_task", 2000),
        ("a_task", 2001),
        ("b_task", 2001),
        ("a_task", 2002),
    ]
    assert eps == plan.eval_episodes("valid_seen", 5)
    assert eps[0].id == "a_task/valid_seen/2000" and eps[0].key == ("a_task", 2000)
    with pytest.raises(ConfigError, match="widen"):
        plan.eval_episodes("test", 1000)


def test_train_batches_deterministic_within_the_train_range() -> None:
    plan = SplitPlan((TaskType("a_task"), TaskType("b_task")))
    b1 = plan.train_batch(6, seed=3)
    assert b1 == plan.train_batch(6, seed=3) and b1 != plan.train_batch(6, seed=4)
    assert all(e.seed in plan.seeds("train") and e.split == "train" for e in b1)
    assert len({e.key for e in b1}) == 6
    assert [e.task_type.task for e in b1] == ["a_task", "b_task"] * 3
    with pytest.raises(ConfigError, match="exceeds"):
        plan.train_batch(1000, seed=1)
