"""Shared evidence fixtures: short real runs with episode logs, and their bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labtrust_gym.benchmarks.runner import run_benchmark
from labtrust_gym.evidence.export import export_evidence

#: Short episodes that still exercise signatures (accepted and rejected), blocked actions,
#: transport between sites and releases.
SHORT_RUNS = (("insider_key_misuse", 60), ("multi_site_stat", 90))


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("run")
    for task, steps in SHORT_RUNS:
        run_benchmark(
            task,
            1,
            3,
            params={"max_steps": steps},
            log_dir=d / task / "logs",
            out=d / task / "results.json",
        )
    return d


@pytest.fixture(scope="session")
def bundle_master(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_evidence(run_dir, tmp_path_factory.mktemp("bundles") / "b")


@pytest.fixture
def bundle(bundle_master: Path, tmp_path: Path) -> Path:
    """A private copy of the bundle (tests may damage it)."""
    return Path(shutil.copytree(bundle_master, tmp_path / "bundle"))


@pytest.fixture(scope="session")
def trusted_pub(_isolated_audit_key: Path) -> str:
    from labtrust_gym.evidence.keys import audit_key

    return audit_key().public_key_hex
