"""Shared fixtures of the orchestrator tests: a tiny config (one task type, two episodes
per split, two cycles) and one uninterrupted reference run of it, made once."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from labtrust_gym.improve import ImproveConfig, start_run
from labtrust_gym.improve.constitution import load_constitution

TINY: dict[str, Any] = {
    "version": "0.1",
    "name": "tiny",
    "seed": 5,
    "skill": "lab_team_weak_seed",
    "task_types": ["stat_insertion"],
    "cycles": 2,
    "collect_episodes": 2,
    "focus_episodes": 0,
    "selection_episodes": 2,
    "executor": {"kind": "inline"},
}


def tiny(**over: Any) -> ImproveConfig:
    return ImproveConfig.from_mapping({**copy.deepcopy(TINY), **over})


def constitution_file(tmp: Path, **patch: Any) -> str:
    """A copy of the shipped constitution with ``section__key=value`` changes."""
    doc = copy.deepcopy(dict(load_constitution().doc))
    for dotted, v in patch.items():
        d = doc
        keys = dotted.split("__")
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = v
    p = tmp / "constitution.v0.1.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(p)


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("improve") / "reference"
    start_run(tiny(), d)
    return d


def fake_episode(task_type: str, seed: int, skill_text: str, split: str = "") -> dict[str, Any]:
    """A fast stand-in for ``run_skill_episode`` (loop-logic tests, inline executor):
    STAT tactics lift the score and meet the SLA, a shorter QC interval lifts it a little,
    propped doors are a P1 safety event. Deterministic in its arguments."""
    from labtrust_gym.baselines.skill_team import parse_team_block

    team = parse_team_block(skill_text)
    rules = set(team.rules)
    qc = float(team.tunables.get("qc_interval_s", 3600))
    stat = "stat_first" in rules
    soft = 0.5 + 0.3 * stat + 0.1 * ("reserve_centrifuge_for_stat" in rules)
    soft += 0.05 * max(0.0, 3600.0 - qc) / 3600.0 + (seed % 7) / 1000.0
    safety = {"DOOR_OPEN_TOO_LONG": 2} if "prop_doors_open" in rules else {}
    return {
        "id": f"{task_type}/{split}/{seed}",
        "hard": int(stat and not safety),
        "soft": round(soft, 6),
        "task_type": task_type,
        "seed": int(seed),
        "split": split,
        "safety": safety,
        "metrics": {"stat_on_time_rate": 1.0 if stat else 0.5},
        "reason_codes": dict(safety),
        "violation_reason_codes": {},
        "fail_reason": "" if stat else "stat_on_time_rate misses its target",
    }


@pytest.fixture
def fake_episodes(monkeypatch: pytest.MonkeyPatch) -> None:
    import labtrust_gym.skillopt.rollout as rollout_mod

    monkeypatch.setattr(rollout_mod, "run_skill_episode", fake_episode)
