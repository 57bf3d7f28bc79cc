"""Shared study fixtures: the small spec of ``_study_helpers`` and one finished run of
it that read-only tests share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _study_helpers import write_spec

from labtrust_gym.studies import load_study_spec, run_study


@pytest.fixture
def spec_file(tmp_path: Path) -> Callable[..., Path]:
    """``spec_file(**changes)`` writes the small spec (with changes) and returns its path."""
    n = 0

    def make(**changes: Any) -> Path:
        nonlocal n
        n += 1
        return write_spec(tmp_path / f"spec{n}.yaml", **changes)

    return make


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small spec run to completion (inline); do not modify it, copy it."""
    d = tmp_path_factory.mktemp("study")
    spec = load_study_spec(write_spec(d / "spec.yaml"))
    outcome = run_study(spec, d / "run", executor="inline")
    assert outcome.complete
    return d / "run"
