"""Output paths are checked before the first episode or cell: a read-only directory, a
directory where a file is expected, or a file where a directory is expected is exit 2
naming the path, and nothing has run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import labtrust_gym.benchmarks.runner as bench_runner
import labtrust_gym.studies.runner as study_runner
from labtrust_gym.benchmarks.official_pack import run_benchmark_pack
from labtrust_gym.cli.main import main
from labtrust_gym.errors import OutputPathError
from labtrust_gym.outputs import TMP_PREFIX
from labtrust_gym.studies import load_study_spec, run_study

STUDY = {
    "version": "0.1",
    "study_id": "paths",
    "task": "coord_scale",
    "scales": [{"name": "scale_preset", "values": ["small_smoke"]}],
    "methods": ["scripted_team"],
    "injections": ["none"],
    "episodes_per_cell": 1,
    "base_seed": 1,
}


@pytest.fixture
def nothing_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail the test if an episode, a study cell or a child run starts."""
    started: list[str] = []

    def episode(*a: Any, **k: Any) -> Any:
        started.append("episode")
        raise AssertionError("an episode ran before the output path was checked")

    def cell(*a: Any, **k: Any) -> Any:
        started.append("cell")
        raise AssertionError("a study cell ran before the output path was checked")

    def child(*a: Any, **k: Any) -> Any:
        started.append("child")
        raise AssertionError("a child run started before the output path was checked")

    monkeypatch.setattr(bench_runner, "run_episode", episode)
    monkeypatch.setattr(study_runner, "run_cell", cell)
    monkeypatch.setattr(subprocess, "run", child)
    return started


def _spec(tmp: Path) -> str:
    path = tmp / "spec.yaml"
    path.write_text(yaml.safe_dump(STUDY), encoding="utf-8")
    return str(path)


def _study_dir(tmp: Path) -> Path:
    run = tmp / "study"
    (run / "cells").mkdir(parents=True, exist_ok=True)
    (run / "study_manifest.json").write_text("{}", encoding="utf-8")
    return run


def _results_file(tmp: Path) -> str:
    res = tmp / "res.json"
    res.write_text(
        json.dumps(
            {
                "schema_version": "labtrust.results.v0.1",
                "task": "throughput_sla",
                "episodes": [{"metrics": {"throughput": 3}}],
                "summary": {},
            }
        ),
        encoding="utf-8",
    )
    return str(res)


def _study_argv(command: str) -> Callable[[Path, str], list[str]]:
    return lambda t, b: [command, "--spec", _spec(t), "--out", b, "--executor", "inline"]


# (case, argv given (tmp dir, bad path), what the path should be: "file" or "dir")
CASES: list[tuple[str, Callable[[Path, str], list[str]], str]] = [
    (
        "run-benchmark --out",
        lambda t, b: ["run-benchmark", "--task", "qc_cascade", "--out", b],
        "file",
    ),
    (
        "run-benchmark --log-dir",
        lambda t, b: ["run-benchmark", "--task", "qc_cascade", "--log-dir", b],
        "dir",
    ),
    ("quick-eval --out-dir", lambda t, b: ["quick-eval", "--out-dir", b], "dir"),
    ("determinism-report --out", lambda t, b: ["determinism-report", "--out", b], "file"),
    (
        "summarize-results --out",
        lambda t, b: ["summarize-results", "--in", _results_file(t), "--out", b],
        "dir",
    ),
    ("run-study --out", _study_argv("run-study"), "dir"),
    ("run-coordination-study --out", _study_argv("run-coordination-study"), "dir"),
    (
        "make-plots --out",
        lambda t, b: ["make-plots", "--run", str(_study_dir(t)), "--out", b],
        "dir",
    ),
]


def _bad_paths(tmp: Path, kind: str, readonly_dir: Callable[[Path], Path]) -> dict[str, Path]:
    afile = tmp / "afile"
    afile.write_text("x", encoding="utf-8")
    adir = tmp / "adir"
    adir.mkdir()
    bad = {
        # a file where a directory is expected (the path itself, or a parent of it)
        "file-as-dir": afile if kind == "dir" else afile / "out.json",
        "read-only": readonly_dir(tmp / "ro") / ("out.json" if kind == "file" else "run"),
    }
    if kind == "file":
        bad["dir-as-file"] = adir  # a directory where a file is expected
    return bad


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_bad_output_path_is_exit_2_naming_it_before_anything_runs(
    case: tuple[str, Callable[[Path, str], list[str]], str],
    tmp_path: Path,
    nothing_runs: list[str],
    readonly_dir: Callable[[Path], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, argv_of, kind = case
    for label, bad in _bad_paths(tmp_path, kind, readonly_dir).items():
        rc = main(argv_of(tmp_path, str(bad)))
        err = capsys.readouterr().err
        assert rc == 2, (label, err)
        assert str(bad) in err or str(bad.parent) in err, (label, err)
        assert "Traceback" not in err
    assert nothing_runs == []


def test_run_benchmark_checks_out_and_log_dir_before_the_first_episode(
    tmp_path: Path, nothing_runs: list[str], readonly_dir: Callable[[Path], Path]
) -> None:
    with pytest.raises(OutputPathError, match="is a directory"):
        bench_runner.run_benchmark("throughput_sla", 3, 0, out=tmp_path)
    ro = readonly_dir(tmp_path / "ro")
    with pytest.raises(OutputPathError, match="not writable"):
        bench_runner.run_benchmark("throughput_sla", 3, 0, log_dir=ro / "logs")
    # an episode log path that is taken by a directory
    (tmp_path / "logs" / "throughput_sla_ep001.jsonl").mkdir(parents=True)
    with pytest.raises(OutputPathError, match="throughput_sla_ep001.jsonl"):
        bench_runner.run_benchmark("throughput_sla", 3, 0, log_dir=tmp_path / "logs")
    assert nothing_runs == []


def test_run_study_and_run_pack_check_their_directory_first(
    tmp_path: Path, nothing_runs: list[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    spec = load_study_spec(_spec(tmp_path))
    with pytest.raises(OutputPathError, match="afile"):
        run_study(spec, afile, executor="inline")
    pack = {"pack_id": "p", "runs": [{"task": "throughput_sla"}]}
    with pytest.raises(OutputPathError, match="afile"):
        run_benchmark_pack(pack, afile)
    (tmp_path / "pack" / "00_throughput_sla.json").mkdir(parents=True)
    with pytest.raises(OutputPathError, match="00_throughput_sla.json"):
        run_benchmark_pack(pack, tmp_path / "pack")
    assert nothing_runs == []


def test_make_plots_on_a_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "results.json"
    f.write_text("{}", encoding="utf-8")
    assert main(["make-plots", "--run", str(f)]) == 2
    assert "is not a directory" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_full_disk_during_the_results_write_leaves_no_temp_and_the_old_file(
    tmp_path: Path,
) -> None:
    """A real failing write: the child may not write files over 4 KB (RLIMIT_FSIZE, with
    SIGXFSZ ignored so write() fails with EFBIG), so the results write fails half-way."""
    out = tmp_path / "results.json"
    out.write_text('{"old": true}\n', encoding="utf-8")
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "from labtrust_gym.cli.main import main\n"
        f"sys.exit(main(['run-benchmark', '--task', 'qc_cascade', '--out', {str(out)!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "failed" in proc.stderr and "File too large" in proc.stderr
    assert out.read_text(encoding="utf-8") == '{"old": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
    assert not list(tmp_path.glob(f"{TMP_PREFIX}*")) and not list(tmp_path.glob("*.tmp"))
