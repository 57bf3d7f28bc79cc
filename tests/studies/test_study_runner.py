"""Running studies: resume, atomic cell files, failing cells, interrupts, killed workers."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _study_helpers import cell_doc

import labtrust_gym.benchmarks.runner as bench_runner
from labtrust_gym.cli.main import main
from labtrust_gym.outputs import TMP_PREFIX
from labtrust_gym.studies import expand_cells, load_study_spec, run_study
from labtrust_gym.studies.runner import MANIFEST_FILE, cell_states


def _results(out: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted((out / "cells").glob("*/results.json"))}


def _tmp_files(out: Path) -> list[Path]:
    """Temporary files of atomic writes (current and older naming) left in the study."""
    return sorted(
        [*out.glob(f"{TMP_PREFIX}*"), *(out / "cells").glob(f"*/{TMP_PREFIX}*")]
        + list((out / "cells").glob("*/.*.tmp"))
    )


def _manifest(out: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    return doc


def test_rerun_skips_finished_cells_and_ignores_half_written_files(
    tmp_path: Path, spec_file: Callable[..., Path]
) -> None:
    spec = load_study_spec(spec_file(episodes_per_cell=1))
    out = tmp_path / "run"
    first = run_study(spec, out, executor="inline")
    assert first.complete and len(first.ran) == 4 and not first.skipped
    before = _results(out)
    assert len(before) == 4

    victim = expand_cells(spec)[1].cell_id
    (out / "cells" / victim / "results.json").unlink()
    # A write interrupted half-way leaves only its temporary file behind.
    (out / "cells" / victim / ".results.json.4242.tmp").write_text('{"schema_ver', "utf-8")
    other = expand_cells(spec)[2].cell_id
    (out / "cells" / other / ".results.json.4243.tmp").write_text("{", "utf-8")
    (out / "cells" / other / f"{TMP_PREFIX}results.json.x1y2").write_text("{", "utf-8")
    (out / f"{TMP_PREFIX}study_manifest.json.x3y4").write_text("{", "utf-8")
    assert len(_tmp_files(out)) == 4
    assert cell_states(out, expand_cells(spec))[victim] == "pending"

    second = run_study(spec, out, executor="inline")
    assert second.ran == [victim]
    assert sorted(second.skipped) == sorted(set(before) - {victim})
    assert second.complete
    assert _tmp_files(out) == []
    after = _results(out)
    for cid in set(before) - {victim}:
        assert after[cid] == before[cid]  # untouched
    redo, orig = json.loads(after[victim]), json.loads(before[victim])
    assert (
        redo["results"]["episodes"][0]["metrics"]["episode_log_sha256"]
        == (orig["results"]["episodes"][0]["metrics"]["episode_log_sha256"])
    )
    m = _manifest(out)
    assert m["status"] == "complete"
    assert m["counts"] == {"cells": 4, "done": 4, "ran": 1, "skipped": 3, "failed": 0, "not_run": 0}
    assert m["spec_hash"] == spec.spec_hash and m["spec"] == spec.to_dict()


def test_a_failing_cell_is_recorded_the_others_finish_and_the_exit_code_says_partial(
    tmp_path: Path,
    spec_file: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = bench_runner.run_benchmark

    def flaky(task: Any, *args: Any, **kw: Any) -> dict[str, Any]:
        if kw.get("coord_method") == "market_auction":
            raise RuntimeError("market closed for the test")
        return real(task, *args, **kw)

    monkeypatch.setattr(bench_runner, "run_benchmark", flaky)
    path = spec_file(episodes_per_cell=1)
    out = tmp_path / "run"
    argv = [
        "run-coordination-study",
        "--spec",
        str(path),
        "--out",
        str(out),
        "--executor",
        "inline",
        "--no-progress",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "study partial: 2 of 4 cells done, 2 failed" in err
    assert "re-run the same command" in err
    failed = [
        "coord_risk__small_smoke__market_auction__none",
        "coord_risk__small_smoke__market_auction__INJ-DEVICE-FAULT-001",
    ]
    for cid in failed:
        assert f"cell {cid} failed: RuntimeError: market closed for the test" in err
        doc = json.loads((out / "cells" / cid / "error.json").read_text("utf-8"))
        assert doc["status"] == "failed" and doc["error"]["type"] == "RuntimeError"
        assert "market closed" in doc["error"]["traceback"]
        assert not (out / "cells" / cid / "results.json").exists()
    assert set(_results(out)) == {
        "coord_risk__small_smoke__scripted_team__none",
        "coord_risk__small_smoke__scripted_team__INJ-DEVICE-FAULT-001",
    }
    m = _manifest(out)
    assert m["status"] == "partial" and m["counts"]["failed"] == 2
    with (out / "summary_coord.csv").open(encoding="utf-8") as f:
        status = {r["cell_id"]: r["status"] for r in csv.DictReader(f)}
    assert [status[c] for c in failed] == ["failed", "failed"]
    assert "Partial study" in (out / "leaderboard.md").read_text("utf-8")

    monkeypatch.setattr(bench_runner, "run_benchmark", real)
    assert main(argv) == 0
    assert sorted(_manifest(out)["counts"].items()) == sorted(
        {"cells": 4, "done": 4, "ran": 2, "skipped": 2, "failed": 0, "not_run": 0}.items()
    )
    assert not list((out / "cells").glob("*/error.json"))


def test_changing_the_spec_reruns_the_cells_it_changed(
    tmp_path: Path, spec_file: Callable[..., Path]
) -> None:
    out = tmp_path / "run"
    run_study(load_study_spec(spec_file(episodes_per_cell=1)), out, executor="inline")
    cid = "coord_risk__small_smoke__scripted_team__none"
    one = cell_doc(out, cid)["results"]["episodes"]
    spec2 = load_study_spec(spec_file(episodes_per_cell=2))
    assert set(cell_states(out, expand_cells(spec2)).values()) == {"stale"}
    again = run_study(spec2, out, executor="inline")
    assert len(again.ran) == 4 and again.complete
    two = cell_doc(out, cid)["results"]["episodes"]
    assert len(two) == 2
    # episode 0 is the same episode: raising the episode count keeps the ones run
    assert two[0]["metrics"]["episode_log_sha256"] == one[0]["metrics"]["episode_log_sha256"]


def test_ctrl_c_keeps_finished_cells_and_the_next_run_completes(
    tmp_path: Path, spec_file: Callable[..., Path]
) -> None:
    spec = load_study_spec(spec_file(episodes_per_cell=1))
    out = tmp_path / "run"

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C right after the first cell is written

    with pytest.raises(KeyboardInterrupt):
        run_study(spec, out, executor="local", workers=1, progress=interrupt)
    m = _manifest(out)
    assert m["status"] == "interrupted"
    kept = _results(out)
    assert len(kept) == 1
    assert _tmp_files(out) == []
    assert not list((out / "cells").glob("*/error.json"))
    done = run_study(spec, out, executor="inline")
    assert done.complete and done.skipped == list(kept) and len(done.ran) == 3


class _KillWorkerOnce(Executor):
    """A process pool whose worker exits hard when it is given ``victim``."""

    def __init__(self, victim: str) -> None:
        self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self.victim = victim

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if args and getattr(args[0], "cell_id", None) == self.victim:
            return self.pool.submit(os._exit, 3)
        return self.pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def test_a_killed_worker_loses_no_finished_cell(
    tmp_path: Path, spec_file: Callable[..., Path]
) -> None:
    spec = load_study_spec(spec_file(episodes_per_cell=1))
    cells = expand_cells(spec)
    out = tmp_path / "run"
    ex = _KillWorkerOnce(cells[1].cell_id)
    try:
        outcome = run_study(spec, out, executor=ex, workers=1)
    finally:
        ex.shutdown()
    assert outcome.status == "partial"
    assert cells[1].cell_id in outcome.not_run
    assert outcome.ran == [cells[0].cell_id]
    assert outcome.executor_error is not None
    assert outcome.executor_error.startswith("BrokenProcessPool")
    assert set(_results(out)) == {cells[0].cell_id}
    assert not list((out / "cells").glob("*/error.json"))  # not the cell's fault
    assert _tmp_files(out) == []
    assert _manifest(out)["counts"]["not_run"] == 3
    rerun = run_study(spec, out, executor="inline")
    assert rerun.complete and sorted(rerun.ran) == sorted(c.cell_id for c in cells[1:])


def test_the_active_lab_profile_goes_with_every_cell_into_the_workers(
    tmp_path: Path, spec_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from labtrust_gym.extensions import use_lab_profile
    from labtrust_gym.policy.loader import load_policy

    root = tmp_path / "root"
    (root / "policy" / "lab_profiles").mkdir(parents=True)
    (root / "policy" / "lab_profiles" / "lab_a.v0.1.yaml").write_text(
        'version: "0.1"\nprofile_id: lab_a\ndescription: test lab\npartner_id: example_partner\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("LABTRUST_EXTRA_ROOTS", str(root))
    spec = load_study_spec(spec_file(methods=["scripted_team"], episodes_per_cell=1))
    plain = {c.cell_id: c.fingerprint for c in expand_cells(spec)}
    out = tmp_path / "run"
    with use_lab_profile("lab_a"):
        cells = expand_cells(spec)
        assert all(c.lab_profile and c.lab_profile["profile_id"] == "lab_a" for c in cells)
        # a profile changes the results, so it is part of each cell's definition
        assert all(plain[c.cell_id] != c.fingerprint for c in cells)
        outcome = run_study(spec, out, executor="local", workers=2)
    assert outcome.complete
    partner_fp = load_policy(partner_id="example_partner").fingerprint
    assert partner_fp != load_policy().fingerprint
    for c in cells:
        res = cell_doc(out, c.cell_id)["results"]
        assert res["lab_profile"]["profile_id"] == "lab_a"  # applied in the worker
        assert res["policy_fingerprint"] == partner_fp
    assert _manifest(out)["lab_profile"]["profile_id"] == "lab_a"
