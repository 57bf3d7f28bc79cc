"""Fixtures of the orchestrator tests: one uninterrupted reference run of the tiny config
(made once) and the fast fake episode (helpers in ``_improve_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _improve_helpers import fake_episode, tiny

from labtrust_gym.improve import start_run


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("improve") / "reference"
    start_run(tiny(), d)
    return d


@pytest.fixture
def fake_episodes(monkeypatch: pytest.MonkeyPatch) -> None:
    import labtrust_gym.skillopt.rollout as rollout_mod

    monkeypatch.setattr(rollout_mod, "run_skill_episode", fake_episode)
