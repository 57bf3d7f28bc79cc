"""Engine mutants: each breaks its control, is caught by the attacks that target it, and is
undone afterwards; the pytest plugin and the kill matrix."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _sec_helpers import attack, shipped_suite

from labtrust_gym.cli.main import main
from labtrust_gym.engine.core_env import LabEngine
from labtrust_gym.registry import OVERRIDES
from labtrust_gym.security import mutant_matrix
from labtrust_gym.security.mutants import (
    MUTANTS,
    MutantError,
    _mutate_engine,
    apply_mutant,
    list_mutants,
)
from labtrust_gym.security.suite import run_attack

#: Attacks of the catalogue that each mutant lets through (a subset: the full list is in
#: the kill matrix of docs/assurance.md).
CAUGHT_BY = {
    "accept_invalid_signatures": ["SEC-SIG-002", "SEC-SIG-003", "SEC-AUDIT-004"],
    "no_qc_hold_gate": ["SEC-QC-001", "SEC-QC-006"],
    "noop_invariants": ["SEC-DOOR-003", "SEC-QC-005"],
    "skip_rbac": ["SEC-RBAC-001", "SEC-RBAC-002", "SEC-RBAC-005"],
    "skip_sod": ["SEC-TOKEN-009", "SEC-TOKEN-010"],
    "no_zone_freeze": ["SEC-DOOR-004", "SEC-DOOR-005", "SEC-DOOR-008"],
    "accept_time_regression": ["SEC-AUDIT-003", "SEC-AUDIT-005"],
    "blocked_not_chained": ["SEC-AUDIT-006", "SEC-RBAC-003"],
}


def _passed(ids: list[str]) -> list[bool]:
    suite = shipped_suite()
    return [run_attack(attack(suite, i), suite)["passed"] for i in ids]


def _engine_methods() -> dict[str, Any]:
    return {
        f"{c.__name__}.{n}": f for c in LabEngine.__mro__ for n, f in vars(c).items() if callable(f)
    }


@pytest.mark.parametrize("mutant_id", list(MUTANTS))
def test_each_mutant_is_caught_by_its_attacks_and_undone(mutant_id: str) -> None:
    ids = CAUGHT_BY[mutant_id]
    before = _engine_methods()
    n_over = len(OVERRIDES)
    assert _passed(ids) == [True] * len(ids)
    with apply_mutant(mutant_id) as patched:
        assert patched
        assert _passed(ids) == [False] * len(ids)
    assert _engine_methods() == before and len(OVERRIDES) == n_over
    assert _passed(ids) == [True] * len(ids)


def test_guard_removal_is_precise() -> None:
    with apply_mutant("no_zone_freeze") as patched:
        assert patched == [
            "ZoneActions._act_move: 1 x ZONE_FROZEN",
            "ZoneActions._act_open_door: 1 x ZONE_FROZEN",
            "DeviceActions._check_device_usable: 1 x ZONE_FROZEN",
            "DeviceActions._analyzer_for: 1 x ZONE_FROZEN",
            "DeviceActions._act_repair_device: 1 x ZONE_FROZEN",
            "DeviceActions._act_restock_reagent: 1 x ZONE_FROZEN",
        ]
        # Everything else of the method still runs: a closed airlock still blocks.
        e = LabEngine()
        out = e.step(
            {
                "event_id": "m1",
                "t_s": 0,
                "agent_id": "A_ANALYTICS_01",
                "action_type": "MOVE",
                "args": {"to_zone": "Z_BIOBANK"},
            }
        )
        assert out["blocked_reason_code"] == "DOOR_CLOSED"
    with apply_mutant("no_qc_hold_gate") as patched:
        assert [p.split(":")[0] for p in patched] == [
            "ResultActions._act_release_result",
            "ResultActions._act_notify_critical",
            "ResultActions._act_ack_critical",
        ]


def test_mutants_fail_loudly_when_they_cannot_apply() -> None:
    with pytest.raises(MutantError, match="unknown mutant"), apply_mutant("skip_everything"):
        pass
    with (
        pytest.raises(MutantError, match="no engine method has a guard raising"),
        contextlib.ExitStack() as stack,
    ):
        _mutate_engine(stack, "NO_SUCH_REASON_CODE")
    assert len(list_mutants()) >= 8


_PROBE_TEST = """
from labtrust_gym.engine import LabEngine


def test_reception_cannot_start_the_centrifuge():
    event = {"event_id": "e", "t_s": 0, "agent_id": "A_RECEPTION_01", "action_type": "START_RUN",
             "args": {"device_id": "DEV_CENTRIFUGE_0001"}}
    out = LabEngine().step(event)
    assert out["blocked_reason_code"] == "RBAC_ACTION_DENIED"
"""


def _pytest(path: Path, mutant: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LABTRUST_MUTANT"}
    if mutant:
        env["LABTRUST_MUTANT"] = mutant
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "labtrust_gym.security.mutant_plugin",
            str(path),
        ],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_pytest_plugin_runs_a_session_against_a_mutant(tmp_path: Path) -> None:
    f = tmp_path / "test_probe_rbac.py"
    f.write_text(_PROBE_TEST)
    assert _pytest(f, None).returncode == 0
    proc = _pytest(f, "skip_rbac")
    assert proc.returncode == 1, proc.stdout
    assert "labtrust engine mutant: skip_rbac" in proc.stdout
    assert _pytest(f, "skip_sod").returncode == 0  # a mutant the test does not look at


def test_kill_matrix_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = shipped_suite()

    def few_attacks() -> set[str]:
        return {
            i
            for i in ("SEC-TOKEN-009", "SEC-RBAC-001")
            if not run_attack(attack(suite, i), suite)["passed"]
        }

    monkeypatch.setattr(mutant_matrix, "_suite_failures", few_attacks)
    monkeypatch.setattr(mutant_matrix, "_case_claim_ids", lambda: ["SC-GOLD-003"])
    f = tmp_path / "test_probe_rbac.py"
    f.write_text(_PROBE_TEST)
    matrix = mutant_matrix.kill_matrix(["skip_rbac"], pytest_paths=[str(f)])
    (rbac,) = matrix["mutants"]
    assert rbac["security_suite"] == {"status": "killed", "by": ["SEC-RBAC-001"]}
    assert rbac["safety_case"]["status"] == "killed" and rbac["safety_case"]["by"] == [
        "SC-GOLD-003"
    ]
    assert (
        "golden_reason_code_coverage: never observed: RBAC_ACTION_DENIED"
        in rbac["safety_case"]["findings"]["SC-GOLD-003"]
    )
    assert (rbac["pytest"]["status"], rbac["pytest"]["returncode"]) == ("killed", 1)
    assert rbac["pytest"]["detail"].endswith(
        "test_probe_rbac.py::test_reception_cannot_start_the_centrifuge"
    )
    assert rbac["probe"]["episode_logs_differ"] is True
    if matrix["columns"]["verify_bundle"]:
        assert rbac["verify_bundle"]["status"] == "killed"
    else:
        assert rbac["verify_bundle"]["status"] == "not computed"
    assert mutant_matrix.matrix_passed(matrix) is True
    md = mutant_matrix.render_matrix_markdown(matrix)
    assert (
        "test_probe_rbac.py::test_reception_cannot_start_the_centrifuge) | "
        "killed (SEC-RBAC-001) | killed (SC-GOLD-003) |"
    ) in md and md.startswith("| mutant | what it breaks | pytest |")


def test_mutants_command_updates_the_doc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    row = {
        "mutant_id": "skip_sod",
        "title": "skips separation of duties",
        "pytest": {"status": "not computed", "detail": "no --pytest paths given"},
        "security_suite": {"status": "survived", "by": []},
        "safety_case": {"status": "survived", "by": []},
        "verify_bundle": {"status": "not computed", "detail": "x"},
        "probe": {"run": {"task": "t"}, "episode_logs_differ": False},
    }
    fake = {"mutants": [row], "columns": {"pytest": [], "safety_case_claims": ["C"]}}
    monkeypatch.setattr(mutant_matrix, "kill_matrix", lambda *a, **k: fake)
    doc = tmp_path / "a.md"
    doc.write_text("# A\n<!-- mutant-matrix:start -->\nold\n<!-- mutant-matrix:end -->\nend\n")
    # A mutant that nothing catches fails the command.
    assert main(["mutants", "--matrix", "--update-doc", str(doc)]) == 1
    text = doc.read_text()
    assert "old" not in text and text.startswith("# A\n<!-- mutant-matrix:start -->\n| mutant |")
    assert text.endswith("<!-- mutant-matrix:end -->\nend\n")
    (tmp_path / "b.md").write_text("no markers")
    assert main(["mutants", "--matrix", "--update-doc", str(tmp_path / "b.md")]) == 2
    assert main(["mutants", "--list"]) == 0
    assert "blocked_not_chained" in capsys.readouterr().out
