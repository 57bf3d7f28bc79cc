"""Study summaries flag injected cells that changed nothing against their paired nominal
cell: a column in summary_coord.csv, a note in the leaderboard, marks in the plots."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from _study_helpers import cell_doc, write_spec

from labtrust_gym.studies import load_study_spec, run_study
from labtrust_gym.studies.report import load_study, no_effect_cells

CELL = "coord_risk__small_smoke__scripted_team__{}"
# The poison is fully blocked by the bus (the lab runs as without it); a congested network
# makes the desk's orders arrive after the runners decided.
INJECTIONS = ["none", "INJ-MSG-POISON-001", "INJ-NET-DELAY-001"]


@pytest.fixture(scope="module")
def effect_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("effects")
    spec = load_study_spec(
        write_spec(d / "spec.yaml", methods=["scripted_team"], injections=INJECTIONS)
    )
    assert run_study(spec, d / "run", executor="inline").complete
    return d / "run"


def _rows(run: Path) -> dict[str, dict[str, str]]:
    with (run / "summary_coord.csv").open(encoding="utf-8", newline="") as f:
        return {r["injection"]: r for r in csv.DictReader(f)}


def _histories(run: Path, inj: str) -> list[str]:
    eps = cell_doc(run, CELL.format(inj))["results"]["episodes"]
    return [e["metrics"]["audit_head_hash"] for e in eps]


def test_summary_marks_each_injected_cell_against_its_paired_nominal_cell(
    effect_study: Path,
) -> None:
    rows = _rows(effect_study)
    nominal = _histories(effect_study, "none")
    assert rows["none"]["injection_effect"] == "" and rows["none"]["changed_episodes"] == ""
    # Blocked poison: every episode has the nominal episode's event history.
    assert _histories(effect_study, "INJ-MSG-POISON-001") == nominal
    assert rows["INJ-MSG-POISON-001"]["injection_effect"] == "no"
    assert rows["INJ-MSG-POISON-001"]["changed_episodes"] == "0/2"
    delayed = _histories(effect_study, "INJ-NET-DELAY-001")
    changed = sum(a != b for a, b in zip(delayed, nominal, strict=True))
    assert changed >= 1
    assert rows["INJ-NET-DELAY-001"]["injection_effect"] == "yes"
    assert rows["INJ-NET-DELAY-001"]["changed_episodes"] == f"{changed}/2"
    _, loaded = load_study(effect_study)
    assert [r["injection"] for r in no_effect_cells(loaded)] == ["INJ-MSG-POISON-001"]


def test_leaderboard_notes_the_cells_without_effect(effect_study: Path) -> None:
    md = (effect_study / "leaderboard.md").read_text(encoding="utf-8")
    assert "Injections with no observable effect:** 1 of 2 injected cells" in md
    assert "| small_smoke | scripted_team | INJ-MSG-POISON-001 | 0/2 changed |" in md
    assert "INJ-NET-DELAY-001 |" not in md


def test_without_a_nominal_cell_nothing_is_judged(tmp_path: Path) -> None:
    spec = load_study_spec(
        write_spec(
            tmp_path / "spec.yaml", methods=["scripted_team"], injections=["INJ-NET-DELAY-001"]
        )
    )
    assert run_study(spec, tmp_path / "run", executor="inline").complete
    row = _rows(tmp_path / "run")["INJ-NET-DELAY-001"]
    assert row["injection_effect"] == "" and row["changed_episodes"] == ""
    assert "no observable effect" not in (tmp_path / "run" / "leaderboard.md").read_text()


def test_plots_mark_the_cells_without_effect(
    effect_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    from labtrust_gym.studies import plots

    figs: dict[str, Any] = {}

    def keep(fig: Any, path: Path) -> None:
        figs[path.name] = fig

    monkeypatch.setattr(plots, "_save", keep)
    plots.make_plots(effect_study, tmp_path)
    ax = figs["throughput.png"].axes[0]
    hatched = [p for p in ax.patches if p.get_hatch() == "///"]
    assert len(hatched) == 1  # the poison bar
    texts = [t.get_text() for t in figs["resilience_heatmap.png"].axes[0].texts]
    assert sum("no effect" in t for t in texts) == 1
