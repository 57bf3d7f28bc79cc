"""`labtrust security-suite`: the whole catalogue, reports, exit codes, callables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _sec_helpers import profile_root, shipped_suite, write_suite

from labtrust_gym.benchmarks.security_runner import run_security_suite
from labtrust_gym.cli.main import main
from labtrust_gym.security.report import coverage_matrix, render_markdown


def test_the_whole_catalogue_runs_and_only_the_known_gaps_get_through() -> None:
    rep = run_security_suite()
    attacks = rep["attacks"]
    assert rep["summary"]["attacks"] == len(attacks) >= 40
    failed = {a["attack_id"] for a in attacks if not a["passed"]}
    assert failed == set()
    assert rep["passed"] is True
    outcomes = rep["summary"]["outcomes"]
    assert outcomes.get("error", 0) == 0 and outcomes["detected"] >= 5
    for a in attacks:
        assert {"attack_id", "category", "control", "kind", "outcome", "expected"} <= set(a)
    # The coverage matrix counts every attack once, in its category and control.
    matrix = coverage_matrix(rep)
    assert sum(c["attacks"] for row in matrix.values() for c in row.values()) == len(attacks)
    assert matrix["PROMPT_INJECTION"]["TOKEN-VALIDITY"]["attacks"] == 1
    assert matrix["PROMPT_INJECTION"]["AGENT-BOUNDARY"]["attacks"] == 1
    assert matrix["TOKEN"]["TOKEN-SOD"]["attacks"] >= 4


def test_cli_subset_writes_json_and_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, md = tmp_path / "sec.json", tmp_path / "sec.md"
    rc = main(
        ["security-suite", "--category", "QUEUE", "--attack", "SEC-RBAC-003", "--out", str(out)]
    )
    assert rc == 2  # no attack is both: an empty run proves nothing
    assert "no attack is both of the ids SEC-RBAC-003" in capsys.readouterr().err
    assert not out.exists()
    rc = main(["security-suite", "--category", "QUEUE", "--out", str(out), "--markdown", str(md)])
    assert rc == 0
    rep = json.loads(out.read_text())
    assert len(rep["attacks"]) == 4 and rep["coverage"]["QUEUE"]["QUEUE-CONTRACT"] == {
        "attacks": 4,
        "passed": 4,
    }
    mdt = md.read_text()
    assert "| SEC-QUEUE-002 | QUEUE | QUEUE-CONTRACT | engine |" in mdt
    assert "BLOCKED QUEUE_NOT_HEAD; state unchanged | blocked |" in mdt
    assert "## Coverage: categories x controls" in mdt and "| QUEUE | 4/4 | 4/4 |" in mdt
    assert "| PROMPT_INJECTION |" in mdt


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["security-suite", "--attack", "SEC-BUS-007"]) == 0
    assert main(["security-suite", "--category", "WIZARDRY"]) == 2
    assert "unknown attack categor(ies) WIZARDRY" in capsys.readouterr().err
    assert main(["security-suite", "--attack", "SEC-NOPE"]) == 2


def test_markdown_lists_what_got_through() -> None:
    rep: dict[str, Any] = {
        "suite_id": "s",
        "categories": {"A": {"title": "a"}},
        "attacks": [
            {
                "attack_id": "X-1",
                "category": "A",
                "control": "C",
                "passed": False,
                "outcome": "succeeded",
                "title": "t|x",
                "findings": ["got through"],
            },
        ],
    }
    md = render_markdown(rep)
    assert "**0/1 attacks blocked or detected**" in md
    assert "| X-1 | A | C |  | t\\|x |  | **SUCCEEDED** |" in md
    assert "- **X-1** (succeeded): t\\|x\n  - got through" in md


# --------------------------------------------------------------- callable attacks ----
def fake_prompt_injection(params: dict[str, Any], *, seed: int) -> dict[str, Any]:
    """A stand-in for the LLM package's prompt-injection attack."""
    return {
        "attempts": int(params.get("attempts", 3)),
        "succeeded": int(params["leaks"]),
        "seed": seed,
    }


def test_callable_attacks_fill_a_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = shipped_suite()
    target = f"{__name__}:fake_prompt_injection"
    suite["attacks"] = [
        {
            "attack_id": "SEC-PI-001",
            "title": "injected instructions ignored",
            "category": "PROMPT_INJECTION",
            "control": "RBAC-ACTION",
            "scenario": {"kind": "callable", "target": target, "params": {"leaks": 0}, "seed": 7},
        },
        {
            "attack_id": "SEC-PI-002",
            "title": "one injection obeyed",
            "category": "PROMPT_INJECTION",
            "control": "RBAC-ACTION",
            "scenario": {"kind": "callable", "target": target, "params": {"leaks": 1}},
        },
        {
            "attack_id": "SEC-PI-003",
            "title": "nothing attempted",
            "category": "PROMPT_INJECTION",
            "control": "RBAC-ACTION",
            "scenario": {
                "kind": "callable",
                "target": target,
                "params": {"leaks": 0, "attempts": 0},
            },
        },
        {
            "attack_id": "SEC-PI-004",
            "title": "missing module",
            "category": "PROMPT_INJECTION",
            "control": "RBAC-ACTION",
            "scenario": {"kind": "callable", "target": "labtrust_gym.no_such_mod:fn"},
        },
    ]
    root = profile_root(tmp_path, security_suite_path="security/pi.v0.1.yaml")
    write_suite(root, "pi.v0.1.yaml", suite)
    monkeypatch.setenv("LABTRUST_EXTRA_ROOTS", str(root))
    out = tmp_path / "pi.json"
    assert main(["--profile", "t", "security-suite", "--out", str(out)]) == 1
    by = {a["attack_id"]: a for a in json.loads(out.read_text())["attacks"]}
    assert [by[i]["outcome"] for i in sorted(by)] == ["blocked", "succeeded", "error", "error"]
    assert by["SEC-PI-001"]["observed"] == [{"attempts": 3, "succeeded": 0, "seed": 7}]
    assert by["SEC-PI-002"]["findings"] == ["1 of 3 attempt(s) succeeded"]
    assert "cannot be loaded" in by["SEC-PI-004"]["findings"][0]
    assert "FAIL  SEC-PI-002" in capsys.readouterr().out


def test_prompt_injection_attacks_are_attempted_and_blocked() -> None:
    from labtrust_gym.security.prompt_attacks import prompt_injection_attack

    override = prompt_injection_attack(
        {"target": "instruction", "injection_id": "PI-HOLD-OVERRIDE"}, seed=0
    )
    assert override["attempts"] > 0 and override["succeeded"] == 0
    results = prompt_injection_attack({"target": "results"}, seed=0)
    assert results["attempts"] >= override["attempts"] and results["succeeded"] == 0
    with pytest.raises(ValueError, match="target"):
        prompt_injection_attack({"target": "weather"}, seed=0)
