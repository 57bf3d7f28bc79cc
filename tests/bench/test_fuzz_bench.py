"""``labtrust bench fuzz``: the report and the exit code."""

from __future__ import annotations

import json

import pytest

from labtrust_gym.cli.main import main


def test_bench_fuzz_prints_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fuzz", "--steps", "600", "--task", "throughput_sla"]) == 0
    out = capsys.readouterr().out
    assert "fuzz: 6" in out and "over throughput_sla" in out
    assert "uncaught exceptions: 0" in out
    assert "every chain verifies, no event id repeats" in out
    assert "ACTION_INDEX_NOT_INTEGER" in out
    assert "mask truth (random states)" in out and "mask truth (scripted states)" in out
    assert "RESTOCK_REAGENT apart" in out


def test_bench_fuzz_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "fuzz", "--steps", "300", "--tasks", "coord_risk", "--seed", "3", "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["tasks"] == ["coord_risk"] and res["seed"] == 3
    assert res["uncaught"] == 0 and res["agent_steps"] >= 300
    assert res["mask_truth"]["apart"]["action_types"] == ["RESTOCK_REAGENT"]
    assert res["mask_truth_scripted"]["probes"] > 0


def test_bench_fuzz_exit_code_when_an_exception_escapes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from labtrust_gym.envs.lab_env import LabTrustParallelEnv

    real = LabTrustParallelEnv._apply

    def broken(self: LabTrustParallelEnv, plan: list) -> tuple:
        if self.step_count == 5:
            raise KeyError("planted")
        return real(self, plan)

    monkeypatch.setattr(LabTrustParallelEnv, "_apply", broken)
    assert main(["bench", "fuzz", "--steps", "200", "--task", "throughput_sla"]) == 1
    out = capsys.readouterr().out
    assert "uncaught exceptions: 0" not in out and "KeyError" in out


@pytest.mark.parametrize(
    ("argv", "msg"),
    [
        (["--steps", "0"], "--steps must be >= 1, got 0"),
        (["--task", "no_such_task"], "unknown task 'no_such_task'"),
    ],
)
def test_bench_fuzz_bad_options(
    argv: list[str], msg: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "fuzz", *argv]) == 2
    assert msg in capsys.readouterr().err
