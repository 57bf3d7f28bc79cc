"""``labtrust improve`` commands on the reference run (no new episodes played)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import TINY
from labtrust_gym.cli.main import main


def test_status_json_and_text(reference_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["improve", "status", str(reference_run), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["decisions"] == ["promote", "stop"] and s["events"]["chain_ok"]
    assert main(["improve", "status", str(reference_run)]) == 0
    out = capsys.readouterr().out
    assert "completed" in out and "cycle 1 [skill_rules]: gate accept_new_best" in out


def test_verify_passes_then_fails_after_tampering(
    reference_run: Path, tmp_path: Path, capsys
) -> None:
    assert main(["improve", "verify", str(reference_run)]) == 0
    assert "chain ok" in capsys.readouterr().out
    d = tmp_path / "copy"
    shutil.copytree(reference_run, d)
    f = d / "events.jsonl"
    lines = f.read_text().splitlines()
    doc = json.loads(lines[5])
    doc["payload"]["forged"] = True
    lines[5] = json.dumps(doc, sort_keys=True)
    f.write_text("\n".join(lines) + "\n")
    assert main(["improve", "verify", str(d), "--json"]) == 1
    r = json.loads(capsys.readouterr().out)
    assert r["problems"] == ["line 6: hash does not match the line (edited?)"]


def test_lint_of_a_run_and_of_a_bad_page(reference_run: Path, tmp_path: Path, capsys) -> None:
    assert main(["improve", "lint", str(reference_run)]) == 0
    assert "0 finding(s)" in capsys.readouterr().out
    k = tmp_path / "knowledge"
    shutil.copytree(reference_run / "knowledge", k)
    (k / "tasks" / "x.md").write_text(
        "---\nname: x\ntype: task\nstatus: observed-once\n---\nbody\n"
    )
    assert main(["improve", "lint", str(k)]) == 1
    assert "tasks/x.md: missing provenance" in capsys.readouterr().out


def test_approve_without_a_waiting_decision_is_bad_input(reference_run: Path, capsys) -> None:
    assert main(["improve", "approve", str(reference_run), "abc"]) == 2
    assert "no decision waits on 'abc'" in capsys.readouterr().err


def test_run_with_a_fatal_rule_exits_1(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "task_types": ["coord_risk"]}))
    assert main(["improve", "run", "-c", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 1
    assert "scope.task" in capsys.readouterr().out


def test_bad_config_names_the_key(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "cycels": 3}))
    assert main(["improve", "run", "-c", str(cfg), "--out", str(tmp_path / "r")]) == 2
    assert "unknown key(s) ['cycels']" in capsys.readouterr().err
    assert main(["bench", "improve-resume", "--kills", "0"]) == 2
