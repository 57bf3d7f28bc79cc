"""Study reports: summary_coord.csv, the resilience score, the Pareto view, the leaderboard."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from _study_helpers import cell_doc

from labtrust_gym.benchmarks.metrics import mean_ci95
from labtrust_gym.studies.report import (
    SUMMARY_COLUMNS,
    load_study,
    method_stats,
    pareto_front,
)

CELL = "coord_risk__small_smoke__{}__{}"


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _throughputs(run: Path, method: str, inj: str) -> list[float]:
    eps = cell_doc(run, CELL.format(method, inj))["results"]["episodes"]
    return [float(e["metrics"]["throughput"]) for e in eps]


def test_summary_coord_has_one_row_per_cell_with_telemetry(finished_study: Path) -> None:
    rows = _csv(finished_study / "summary_coord.csv")
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    for col in (
        "comm.p95_latency_ms",
        "comm.drop_rate",
        "comm.partition_events",
        "coordination.stale_action_rate",
        "resilience_score",
        "throughput_ci95_low",
    ):
        assert col in rows[0]
    assert [r["cell_id"] for r in rows] == [
        CELL.format(m, i)
        for m in ("scripted_team", "market_auction")
        for i in ("none", "INJ-DEVICE-FAULT-001")
    ]
    for r in rows:
        assert r["status"] == "ok" and r["episodes"] == "2"
        eps = cell_doc(finished_study, r["cell_id"])["results"]["episodes"]
        thr = mean_ci95([e["metrics"]["throughput"] for e in eps])
        assert float(r["throughput_mean"]) == pytest.approx(thr["mean"])
        assert float(r["throughput_ci95_low"]) == pytest.approx(thr["ci95_low"], abs=1e-6)
        assert float(r["blocked"]) == pytest.approx(sum(e["metrics"]["blocked"] for e in eps) / 2)
        assert float(r["comm.drop_rate"]) == 0.0
        assert float(r["coordination.stale_action_rate"]) >= 0.0


def test_resilience_is_throughput_relative_to_the_same_methods_nominal_cell(
    finished_study: Path,
) -> None:
    rows = {r["cell_id"]: r for r in _csv(finished_study / "summary_coord.csv")}
    for m in ("scripted_team", "market_auction"):
        nominal = _throughputs(finished_study, m, "none")
        fault = _throughputs(finished_study, m, "INJ-DEVICE-FAULT-001")
        assert float(rows[CELL.format(m, "none")]["resilience_score"]) == 1.0
        expected = (sum(fault) / 2) / (sum(nominal) / 2)
        got = float(rows[CELL.format(m, "INJ-DEVICE-FAULT-001")]["resilience_score"])
        assert got == pytest.approx(expected, abs=1e-6)
        assert got < 1.0  # the analyzer fault costs throughput on small_smoke


def test_pareto_front_keeps_exactly_the_non_dominated_points() -> None:
    pts = [
        ("a", 10.0, 1.0),
        ("b", 8.0, 0.0),
        ("c", 7.0, 2.0),
        ("d", 10.0, 1.0),
        ("e", None, 0.0),
        ("f", 10.0, 3.0),
    ]
    assert pareto_front(pts) == ["a", "b", "d"]


def test_leaderboard_ranks_methods_by_pooled_throughput_with_cis(finished_study: Path) -> None:
    _, rows = load_study(finished_study)
    stats = method_stats(rows)[("coord_risk", "small_smoke")]
    board = _csv(finished_study / "leaderboard.csv")
    assert [b["method"] for b in board] == [s["method"] for s in stats]
    assert [b["rank"] for b in board] == ["1", "2"]
    means = [float(b["throughput_mean"]) for b in board]
    assert means == sorted(means, reverse=True)
    for b in board:
        pooled = _throughputs(finished_study, b["method"], "none") + _throughputs(
            finished_study, b["method"], "INJ-DEVICE-FAULT-001"
        )
        ci = mean_ci95(pooled)
        assert float(b["throughput_mean"]) == pytest.approx(ci["mean"])
        assert float(b["throughput_ci95_high"]) == pytest.approx(ci["ci95_high"], abs=1e-6)
        assert b["worst_injection"] == "INJ-DEVICE-FAULT-001"
        assert b["episodes"] == "4" and b["cells"] == "2"
    md = (finished_study / "leaderboard.md").read_text("utf-8")
    top = board[0]
    assert f"| 1 | {top['method']} | " in md
    assert f"[{float(top['throughput_ci95_low']):.3g}, " in md
    pareto = (finished_study / "pareto.md").read_text("utf-8")
    assert "## small_smoke" in pareto
    front = pareto_front([(s["method"], s["throughput_mean"], s["blocked"]) for s in stats])
    assert f"- Frontier, throughput vs blocked: {', '.join(front)}" in pareto
