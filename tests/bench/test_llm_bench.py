"""``labtrust bench llm`` reports the agent layer's cost per decision."""

from __future__ import annotations

import json

import pytest

from labtrust_gym.cli.main import main


def test_bench_llm_reports_decision_overhead(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "llm", "--roles", "supervisor,qc", "--repeats", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    (ep,) = res["episodes"]
    assert ep["calls"] > 0 and ep["decision_ms"] > 0 and ep["screen_ms"] > 0
    assert res["decision_ms_mean"] == ep["decision_ms"] and res["target_ms"] == 2.0
    assert res["within_target"] == (ep["decision_ms"] < 2.0)
