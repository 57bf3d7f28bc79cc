"""``labtrust bench startup`` runs and reports its figures (speed targets are reported by
the benchmark, never asserted by a test)."""

from __future__ import annotations

import json

import pytest

from labtrust_gym.bench.startup_bench import TARGETS_S, bench_startup
from labtrust_gym.cli.main import main


def test_bench_startup_reports_each_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "startup", "--repeats", "1", "--case", "version", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["case"] == "version" and row["runs"] == 1
    assert row["wall_median_s"] > 0 and row["cpu_median_s"] >= 0
    assert row["target_s"] == TARGETS_S["version"]
    assert row["meets_target"] is (row["wall_median_s"] <= row["target_s"])
    steal = row["steal_pct"]
    assert steal is None or 0.0 <= steal <= 100.0
    assert main(["bench", "startup", "--repeats", "1", "--case", "python"]) == 0
    assert "python" in capsys.readouterr().out


def test_unknown_case_fails_before_running() -> None:
    with pytest.raises(ValueError, match="unknown start-up case 'nope'"):
        bench_startup(1, ["nope"])
