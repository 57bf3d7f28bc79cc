"""Study commands: dry run, run-coordination-study vs run-study, make-plots."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from labtrust_gym.benchmarks.runner import episode_seed
from labtrust_gym.cli.main import main
from labtrust_gym.errors import ConfigError
from labtrust_gym.studies import expand_cells, load_study_spec
from labtrust_gym.studies.plots import PLOT_FILES, make_plots

PNG = b"\x89PNG\r\n\x1a\n"


def test_dry_run_lists_cells_and_seeds_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never"
    assert main(["run-coordination-study", "--out", str(out), "--dry-run", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    cells = expand_cells(load_study_spec("coord_default"))
    assert doc["study_id"] == "coord_default"
    assert [c["cell_id"] for c in doc["cells"]] == [c.cell_id for c in cells]
    for c, cell in zip(doc["cells"], cells, strict=True):
        assert c["seed"] == cell.seed and c["status"] == "pending"
        assert c["episode_seeds"] == [episode_seed(cell.seed, i) for i in range(cell.episodes)]
    assert not out.exists()
    assert main(["run-coordination-study", "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# study coord_default")
    assert f"{cells[0].cell_id} " in text and str(cells[0].seed) in text


def test_run_study_takes_any_task_and_the_coordination_command_refuses_it(
    tmp_path: Path, spec_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = spec_file(
        task="qc_cascade",
        scales=None,
        injections=None,
        methods=["scripted", "random"],
        episodes_per_cell=1,
    )
    out = tmp_path / "run"
    assert main(["run-coordination-study", "--spec", str(path), "--out", str(out)]) == 2
    assert "use labtrust run-study" in capsys.readouterr().err
    rc = main(["run-study", "--spec", str(path), "--out", str(out), "--executor", "inline"])
    assert rc == 0
    summary = (out / "summary.csv").read_text("utf-8").splitlines()
    assert not (out / "summary_coord.csv").exists()
    assert len(summary) == 3 and summary[1].startswith("qc_cascade__default__scripted__none,")
    board = (out / "leaderboard.csv").read_text("utf-8").splitlines()
    assert board[1].split(",")[3] == "scripted"  # the scripted team beats random actions
    assert main(["run-study", "--spec", "no_such_spec", "--out", str(out)]) == 2
    assert (
        main(
            [
                "run-study",
                "--spec",
                str(path),
                "--out",
                str(out),
                "--scheduler",
                "tcp://127.0.0.1:9",
            ]
        )
        == 2
    )


def test_make_plots_writes_three_readable_pngs(
    finished_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from matplotlib.image import imread

    out = tmp_path / "plots"
    assert main(["make-plots", "--run", str(finished_study), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / f) for f in PLOT_FILES]
    for f in PLOT_FILES:
        data = (out / f).read_bytes()
        assert data.startswith(PNG) and len(data) > 20_000
        img = imread(out / f)
        assert img.shape[0] >= 400 and img.shape[1] >= 600
        assert img[..., :3].std() > 0.05  # not a blank canvas


def test_make_plots_errors_name_the_fix(
    finished_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="no study manifest"):
        make_plots(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ConfigError, match=r"labtrust-gym\[plots\]"):
        make_plots(finished_study, tmp_path / "p")
