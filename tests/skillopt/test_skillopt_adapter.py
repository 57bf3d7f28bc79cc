"""The SkillOpt adapter: its five methods, splits, refusing edited safety rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labtrust_gym.errors import ConfigError
from labtrust_gym.skillopt.adapter import HAVE_SKILLOPT, LabTrustSkillAdapter
from labtrust_gym.skillopt.document import load_skill

WEAK = load_skill("lab_team_weak_seed").text


def test_adapter_is_a_skillopt_env_adapter() -> None:
    assert HAVE_SKILLOPT  # the [skillopt] extra is part of [dev]
    from skillopt.envs.base import EnvAdapter

    a = LabTrustSkillAdapter(["qc_cascade", "stat_insertion"])
    assert isinstance(a, EnvAdapter)
    assert a.get_task_types() == ["qc_cascade", "stat_insertion"]


def test_batches_and_split_aliases() -> None:
    a = LabTrustSkillAdapter(["qc_cascade", "stat_insertion"])
    tr = a.build_train_env(3, seed=5)
    assert tr.phase == "train" and len(tr) == 3 and a.train_keys == {e.key for e in tr.payload}
    sel = a.build_eval_env(4, "valid_seen", seed=1)
    assert [e.id for e in sel.payload][:2] == [
        "qc_cascade/valid_seen/2000",
        "stat_insertion/valid_seen/2000",
    ]
    assert a.build_eval_env(2, "valid_unseen", 1).split == "test"  # SkillOpt's test split
    assert a.build_eval_env(2, "val", 1).payload == a.build_eval_env(2, "selection", 9).payload
    with pytest.raises(ConfigError, match="unknown split"):
        a.build_eval_env(2, "dev", 1)
    with pytest.raises(ConfigError, match="reflect mode"):
        LabTrustSkillAdapter(["qc_cascade"], reflect_mode="magic")
    with pytest.raises(ConfigError, match="needs an LLM"):
        LabTrustSkillAdapter(["qc_cascade"], reflect_mode="llm")


def test_rollout_refuses_edited_safety_rules_without_playing(tmp_path: Path) -> None:
    a = LabTrustSkillAdapter(["qc_cascade"], reference_skill=WEAK)
    batch = a.build_eval_env(2, "valid_seen", 0)
    edited = WEAK.replace("Never prop a door open", "Prop doors open")
    out = a.rollout(batch, edited, str(tmp_path))
    assert [(r["hard"], r["soft"], r["invalid_skill"]) for r in out] == [(0, 0.0, True)] * 2
    assert "protected region 'safety' was changed" in out[0]["fail_reason"]
    rows = [json.loads(x) for x in (tmp_path / "rollout.jsonl").read_text().splitlines()]
    assert rows == out
    broken = a.rollout(batch, WEAK.replace("rules:", "rules: [", 1), None)
    assert "not valid YAML" in broken[0]["fail_reason"]


def test_setup_takes_the_reference_from_skill_init(tmp_path: Path) -> None:
    p = tmp_path / "seed.md"
    p.write_text(WEAK, encoding="utf-8")
    a = LabTrustSkillAdapter(["qc_cascade"])
    a.setup({"skill_init": str(p)})
    assert a.reference_skill == WEAK


def test_rollout_plays_and_scores() -> None:
    a = LabTrustSkillAdapter(["qc_cascade"], reference_skill=WEAK)
    (r,) = a.rollout(a.build_eval_env(1, "test", 0), WEAK, None)
    assert r["id"] == "qc_cascade/test/3000" and r["hard"] == 0
    assert "wrongly_released" in r["fail_reason"] and 0 < r["soft"] < 1
    assert r["metrics"]["wrongly_released"] > 0 and r["safety"] == {}


def test_rollout_goes_through_an_executor_with_the_same_results() -> None:
    from concurrent.futures import Future

    from labtrust_gym.studies.executors import InlineExecutor

    class Counting(InlineExecutor):
        calls = 0

        def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[no-untyped-def]
            Counting.calls += 1
            return super().submit(fn, *args, **kwargs)

    direct = LabTrustSkillAdapter(["throughput_sla"])
    via = LabTrustSkillAdapter(["throughput_sla"], executor=Counting())
    batch = direct.build_eval_env(1, "valid_seen", 0)
    assert via.rollout(batch, WEAK, None) == direct.rollout(batch, WEAK, None)
    assert Counting.calls == 1
