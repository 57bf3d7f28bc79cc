"""Optuna tuning of a coordination method's parameters: search space, SQLite resume, gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labtrust_gym.errors import ConfigError, UnknownIdError
from labtrust_gym.skillopt.params import method_defaults, optimize_params, search_space


def test_search_space_from_defaults() -> None:
    space = search_space(
        {"a": 2000.0, "b": 8, "c": True, "d": [0.2, 1.0], "e": "offline", "f": 0, "g": 0.0}
    )
    assert space == {
        "a": ("float_log", 500.0, 8000.0),
        "b": ("int", 2, 32),
        "c": ("bool", False, True),
    }
    assert method_defaults("centralized_planner") == {"stat_bonus": 2000.0, "slack_weight": 1.0}
    with pytest.raises(UnknownIdError, match="known:"):
        method_defaults("no_such_method")


def test_search_resumes_from_sqlite_and_faces_the_gate(tmp_path: Path) -> None:
    kw = dict(train_episodes=1, selection_episodes=1, test_episodes=1)
    first = optimize_params("market_auction", "coord_scale@small_smoke", 2, tmp_path, **kw)
    assert first["trials"] == 2 and first["resumed_from"] == 0
    assert (tmp_path / "optuna.db").is_file()
    # Trial 0 is the defaults, so the best trial is never worse than them on train.
    assert first["best_trial"]["value"] >= first["default_trial_value"]
    assert first["gate"]["action"] in ("accept_new_best", "reject", "vetoed")
    assert first["winner"] == (
        "best trial" if first["gate"]["action"] == "accept_new_best" else "defaults"
    )
    again = optimize_params("market_auction", "coord_scale@small_smoke", 3, tmp_path, **kw)
    assert again["resumed_from"] == 2 and again["trials"] == 3
    report = json.loads((tmp_path / "params_report.json").read_text())
    assert report["trials"] == 3 and report["test"]["episodes"] == 1
    assert (tmp_path / "params_report.md").read_text().startswith("# Parameter tuning")


def test_nothing_to_tune(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing|no numeric"):
        optimize_params("scripted_team", "coord_scale@small_smoke", 1, tmp_path)
    with pytest.raises(ConfigError, match="trials"):
        optimize_params("centralized_planner", "coord_scale@small_smoke", 0, tmp_path)
