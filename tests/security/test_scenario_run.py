"""Golden scenarios written as evidence runs: a bundle that replays them catches the
mutants no benchmark episode reaches."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtrust_gym import evidence
from labtrust_gym.errors import ConfigError, UnknownIdError
from labtrust_gym.security.mutants import MUTANTS, apply_mutant
from labtrust_gym.security.scenario_run import write_scenario_run

SCENARIO_PROBES = sorted(
    (m.mutant_id, m.probe["scenarios"]) for m in MUTANTS.values() if "scenarios" in m.probe
)


def _verify(run: Path, tmp: Path) -> evidence.VerifyReport:
    bundle = evidence.export_evidence(run, tmp / f"{run.name}-bundle")
    return evidence.verify_bundle(bundle, replay=True)


def test_scenario_probes_exist() -> None:
    assert {m for m, _ in SCENARIO_PROBES} == {"accept_time_regression", "no_qc_hold_gate"}


@pytest.mark.parametrize(("mutant_id", "scenarios"), SCENARIO_PROBES)
def test_replay_catches_mutant_on_scenario_run(
    mutant_id: str, scenarios: list[str], tmp_path: Path
) -> None:
    clean = write_scenario_run(scenarios, tmp_path / "clean")
    rep = _verify(tmp_path / "clean", tmp_path)
    assert rep.ok, [c.line() for c in rep.failed]
    assert clean[0]["task"] == f"golden:{scenarios[0]}"
    with apply_mutant(mutant_id):
        broken = write_scenario_run(scenarios, tmp_path / "mutant")
    assert (
        broken[0]["episodes"][0]["metrics"]["episode_log_sha256"]
        != (clean[0]["episodes"][0]["metrics"]["episode_log_sha256"])
    )
    rep = _verify(tmp_path / "mutant", tmp_path)
    failed = [c.name for c in rep.failed]
    # The log's own chain, signature, binding and metrics hold; only the replay differs.
    assert failed == [f"runs/{scenarios[0]}-results/logs/{scenarios[0]}.jsonl replay"], failed


def test_unknown_scenario_lists_known(tmp_path: Path) -> None:
    with pytest.raises(UnknownIdError, match="GS-NOPE.*known: .*GS-021"):
        write_scenario_run(["GS-NOPE"], tmp_path)
    with pytest.raises(ConfigError, match="at least one"):
        write_scenario_run([], tmp_path)


def test_scenario_that_tampers_with_the_audit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GS-036 tampers with the audit chain"):
        write_scenario_run(["GS-036"], tmp_path)
