"""Security gates of `labtrust run-pack`: a failing security metric fails the run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from labtrust_gym.cli.main import build_parser, main
from labtrust_gym.security.gates import check_gates, load_gates
from labtrust_gym.security.mutants import apply_mutant


def _res(task: str, **metrics: Any) -> dict[str, Any]:
    return {
        "task": task,
        "_source": f"{task}.json",
        "episodes": [{"episode": 0, "metrics": metrics}],
    }


def test_gates_apply_per_task_and_per_metric() -> None:
    gates = load_gates()
    ok = check_gates(
        [
            _res("insider_key_misuse", forged_accepted=0),
            _res("adversarial_disruption", accepted_by_kind={"door_propping": 3}),
            _res("coord_risk", **{"injection.accepted": 0}),
            _res("throughput_sla", throughput=40),  # no gate applies
        ],
        gates,
    )
    assert ok["passed"] is True and ok["checked"] == 3 and ok["failures"] == []
    bad = check_gates(
        [
            _res("insider_key_misuse", forged_accepted=24),
            _res("adversarial_disruption", accepted_by_kind={"door_propping": 1, "queue_jump": 2}),
            _res("insider_key_misuse"),  # the metric is missing where it must be reported
            _res("coord_risk", **{"injection.accepted": 1}),
        ],
        gates,
    )
    got = [(f["gate_id"], f["observed"], f["problem"]) for f in bad["failures"]]
    assert got == [
        ("GATE-FORGED-KEYS", 24, ""),
        (
            "GATE-DISRUPTION",
            {"door_propping": 1, "queue_jump": 2},
            "unexpected keys ['queue_jump']",
        ),
        ("GATE-FORGED-KEYS", None, "metric missing"),
        ("GATE-INJECTION", 1, ""),
    ]


def _tiny_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ext"
    p = root / "policy" / "benchmark_packs" / "tiny_sec.v0.1.yaml"
    p.parent.mkdir(parents=True)
    p.write_text(
        yaml.safe_dump(
            {
                "version": "0.1",
                "pack_id": "tiny_sec",
                "runs": [{"task": "insider_key_misuse", "episodes": 1, "seed": 0}],
            }
        )
    )
    monkeypatch.setenv("LABTRUST_EXTRA_ROOTS", str(root))


def test_run_pack_exits_1_when_a_security_metric_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _tiny_pack(tmp_path, monkeypatch)
    out = tmp_path / "clean"
    assert main(["run-pack", "--pack", "tiny_sec", "--out-dir", str(out)]) == 0
    verdict = json.loads((out / "security_gates.json").read_text())
    assert verdict["passed"] is True and verdict["checked"] == 1
    assert "security gates: 1 checks passed" in capsys.readouterr().out
    # The engine that accepts invalid signatures lets the insider's forgeries through.
    out = tmp_path / "broken"
    with apply_mutant("accept_invalid_signatures"):
        assert main(["run-pack", "--pack", "tiny_sec", "--out-dir", str(out)]) == 1
    verdict = json.loads((out / "security_gates.json").read_text())
    (fail,) = verdict["failures"]
    assert fail["gate_id"] == "GATE-FORGED-KEYS" and fail["observed"] > 0
    text = capsys.readouterr().out
    assert "FAIL  GATE-FORGED-KEYS: forged_accepted eq 0 observed" in text
    assert "1 of 1 checks FAILED" in text


def test_every_run_pack_option_has_help_with_its_default() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for cmd in ("run-pack", "security-suite", "safety-case", "mutants"):
        for act in sub.choices[cmd]._actions:
            if isinstance(act, argparse._HelpAction):
                continue
            assert act.help and ("default" in act.help or "required" in act.help), (
                cmd,
                act.option_strings,
            )
