"""optimize-skill, eval-skill, optimize-params: bad input is exit 2 naming the culprit;
eval-skill plays and writes its results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labtrust_gym.cli.main import main


@pytest.mark.parametrize(
    ("argv", "msg"),
    [
        (["optimize-skill", "--skill", "no_such_skill", "--out", "{tmp}/o"], "no_such_skill"),
        (
            [
                "optimize-skill",
                "--skill",
                "lab_team",
                "--tasks",
                "adversarial_disruption",
                "--out",
                "{tmp}/o",
            ],
            "adversaries",
        ),
        (
            ["optimize-skill", "--skill", "lab_team", "--reflect", "llm", "--out", "{tmp}/o"],
            "--reflect llm needs --llm",
        ),
        (
            ["optimize-skill", "--skill", "lab_team", "--llm", "offline", "--out", "{tmp}/o"],
            "--llm is for --reflect llm",
        ),
        (
            ["optimize-skill", "--skill", "lab_team", "--epochs", "0", "--out", "{tmp}/o"],
            "epochs must be >= 1",
        ),
        (
            [
                "optimize-skill",
                "--skill",
                "lab_team",
                "--plant",
                "{tmp}/missing.json",
                "--out",
                "{tmp}/o",
            ],
            "--plant",
        ),
        (["optimize-skill", "--skill", "lab_team", "--out", "{tmp}/file.txt"], "file.txt"),
        (
            ["optimize-skill", "--skill", "lab_team", "--workers", "2", "--out", "{tmp}/o"],
            "--workers needs",
        ),
        (["eval-skill", "--skill", "{tmp}/nope.md"], "nope.md"),
        (
            [
                "optimize-params",
                "--method",
                "no_such",
                "--preset",
                "small_smoke",
                "--trials",
                "1",
                "--out",
                "{tmp}/p",
            ],
            "no_such",
        ),
        (
            [
                "optimize-params",
                "--method",
                "market_auction",
                "--preset",
                "no_preset",
                "--trials",
                "1",
                "--out",
                "{tmp}/p",
            ],
            "no_preset",
        ),
    ],
)
def test_bad_input_is_exit_2(
    argv: list[str], msg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file.txt").write_text("x")
    rc = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2 and msg in err, err


def test_eval_skill_scores_a_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eval.json"
    rc = main(
        [
            "eval-skill",
            "--skill",
            "lab_team_weak_seed",
            "--tasks",
            "qc_cascade",
            "--split",
            "test",
            "--episodes",
            "1",
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0 and "lab_team_weak_seed" in text and "qc_cascade: hard 0.0000" in text
    doc = json.loads(out.read_text())
    assert doc["summary"]["split"] == "test" and doc["results"][0]["seed"] == 3000
