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
