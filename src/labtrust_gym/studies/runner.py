"""Run a study: every cell of a spec through one executor, resumable.

Layout of a study directory::

    study_manifest.json          spec (normalized) and its hash, package version, plugins,
                                 git commit, executor, status, per-cell status
    cells/<cell_id>/results.json one finished cell (labtrust.study_cell.v0.1): the cell,
                                 its fingerprint and its results document
    cells/<cell_id>/error.json   a failed cell: the error and its traceback
    summary_coord.csv            (summary.csv for other tasks), pareto.md,
    leaderboard.md, leaderboard.csv   see labtrust_gym.studies.report

Resuming: a cell is finished when its ``results.json`` holds the fingerprint of the cell
as the spec now defines it; re-running the same command skips those and runs the rest
(including failed cells and cells the spec changed). Every file is written atomically
(:mod:`labtrust_gym.outputs`), so an interrupted run (Ctrl-C, a killed worker or parent)
never leaves a half-written ``results.json``; leftover temporary files are removed at the
next start. A failing cell is recorded in ``error.json`` and the others go on; the study is
then ``partial``.

Where the workers share the study's file system (the local pool, inline, a local Dask
cluster) each worker writes its cell's file itself the moment the cell finishes, so a
worker that dies (and breaks the pool) cannot take a finished cell of another worker with
it: after a broken pool the runner reads back what the workers wrote in this run, keeps it,
and reports the cells that did not finish as not run (re-run to complete them).

The manifest records the running process; a later run that finds ``running`` left by a
process that is gone marks that run ``interrupted`` (see
:mod:`labtrust_gym.studies.run_record`).
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, Future, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labtrust_gym._version import __version__
from labtrust_gym.outputs import TMP_PREFIX, atomic_write_json, check_output_dir
from labtrust_gym.studies.cell_files import (
    CELL_SCHEMA,
    ERROR_FILE,
    MANIFEST_FILE,
    MANIFEST_SCHEMA,
    RESULTS_FILE,
    load_cell_doc,
    read_error,
    read_json,
)
from labtrust_gym.studies.cells import Cell, active_profile_record, expand_cells
from labtrust_gym.studies.executors import ExecutorHandle, open_executor
from labtrust_gym.studies.run_record import claim_study_dir, this_process
from labtrust_gym.studies.spec import StudySpec

__all__ = [
    "CELL_SCHEMA",
    "MANIFEST_SCHEMA",
    "MANIFEST_FILE",
    "StudyOutcome",
    "run_study",
    "run_cell",
    "run_cell_into",
    "cell_states",
    "load_cell_results",
    "load_cell_doc",
    "read_error",
    "write_json_atomic",
]

#: Suffix of the temporary files of earlier versions (cleaned up like the current ones).
_OLD_TMP_SUFFIX = ".tmp"


def run_cell(cell: Cell) -> dict[str, Any]:
    """Run one cell (in a worker) and return its document; an exception of the cell
    becomes a ``failed`` document instead of escaping."""
    t0 = time.perf_counter()
    doc: dict[str, Any] = {
        "schema_version": CELL_SCHEMA,
        "cell": cell.to_dict(),
        "fingerprint": cell.fingerprint,
        "package_version": __version__,
    }
    try:
        res = _run_benchmark_cell(cell)
    except Exception as exc:  # noqa: BLE001  (recorded; the other cells go on)
        doc["status"] = "failed"
        doc["error"] = {
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": traceback.format_exc(),
        }
    else:
        doc["status"] = "ok"
        doc["results"] = res
    doc["run"] = {
        "wall_s": round(time.perf_counter() - t0, 4),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    return doc


def _run_benchmark_cell(cell: Cell) -> dict[str, Any]:
    from labtrust_gym.benchmarks.runner import run_benchmark, validate_results

    with contextlib.ExitStack() as stack:
        if cell.lab_profile:
            from labtrust_gym.extensions import use_lab_profile

            stack.enter_context(use_lab_profile(Path(cell.lab_profile["source"])))
        res = run_benchmark(cell.task, **cell.run_kwargs())
    validate_results(res)
    return res


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write ``doc`` as JSON to ``path`` atomically (:func:`labtrust_gym.outputs
    .atomic_write_json`)."""
    atomic_write_json(path, doc)


def _write_cell_doc(out_dir: Path, cell_id: str, doc: dict[str, Any]) -> None:
    """Write a cell's document: ``results.json`` when it succeeded (and drop an old
    ``error.json``), else ``error.json`` (and drop a stale ``results.json``)."""
    d = out_dir / "cells" / cell_id
    if doc.get("status") == "ok":
        write_json_atomic(d / RESULTS_FILE, doc)
        (d / ERROR_FILE).unlink(missing_ok=True)
    else:
        write_json_atomic(d / ERROR_FILE, doc)
        (d / RESULTS_FILE).unlink(missing_ok=True)  # a stale result of an older spec


def run_cell_into(cell: Cell, out_dir: str, study_run: str) -> dict[str, Any]:
    """Run one cell (in a worker) and write its document into the study directory
    ``out_dir`` the moment it is finished; return the document. ``study_run`` (the id of
    the study run) goes into ``run.study_run`` so the parent can tell this run's files
    from older ones after a broken pool."""
    doc = run_cell(cell)
    doc["run"]["study_run"] = study_run
    _write_cell_doc(Path(out_dir), cell.cell_id, doc)
    return doc


def load_cell_results(out_dir: Path | str, cell: Cell) -> dict[str, Any] | None:
    """The finished document of ``cell`` (see :func:`load_cell_doc`)."""
    return load_cell_doc(out_dir, cell.cell_id, cell.fingerprint)


def cell_states(out_dir: Path | str, cells: list[Cell]) -> dict[str, str]:
    """``cell_id -> done | failed | stale | pending`` for a study directory."""
    out: dict[str, str] = {}
    base = Path(out_dir) / "cells"
    for c in cells:
        d = base / c.cell_id
        if load_cell_results(out_dir, c) is not None:
            out[c.cell_id] = "done"
        elif (d / RESULTS_FILE).exists():
            out[c.cell_id] = "stale"
        elif (d / ERROR_FILE).exists():
            out[c.cell_id] = "failed"
        else:
            out[c.cell_id] = "pending"
    return out


def _clean_temporaries(out_dir: Path) -> int:
    """Remove temporary files left by killed writers (the study directory is claimed by
    this run, so no other writer is using them)."""
    n = 0
    patterns = (f"{TMP_PREFIX}*", f"cells/*/{TMP_PREFIX}*", f"cells/*/.*{_OLD_TMP_SUFFIX}")
    for pattern in patterns:
        for p in out_dir.glob(pattern):
            if p.is_dir():
                with contextlib.suppress(OSError):
                    p.rmdir()  # a probe directory of check_output_dir
            else:
                p.unlink(missing_ok=True)
            n += 1
    return n


def _git_info() -> dict[str, Any] | None:
    from labtrust_gym.config import get_repo_root

    root = get_repo_root()
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class StudyOutcome:
    """What :func:`run_study` did."""

    out_dir: Path
    cells: list[Cell]
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    status: str = "running"
    wall_s: float = 0.0
    manifest: dict[str, Any] = field(default_factory=dict)
    reports: list[Path] = field(default_factory=list)
    #: Why the executor stopped running cells (a worker died), if it did.
    executor_error: str | None = None

    @property
    def complete(self) -> bool:
        return self.status == "complete"


class _Study:
    def __init__(self, spec: StudySpec, out_dir: Path, cells: list[Cell]) -> None:
        self.spec = spec
        self.out = out_dir
        self.cells = cells
        self.by_id = {c.cell_id: c for c in cells}
        self.outcome = StudyOutcome(out_dir, cells)
        self.cell_status: dict[str, str] = {}
        self.cell_wall: dict[str, float] = {}
        self.manifest: dict[str, Any] = {}

        self.process = this_process()
        #: Id of this run of the study, in every cell document it writes.
        self.run_id = f"{self.process['host']}:{self.process['pid']}:{time.time_ns()}"
        #: The workers write their cells' files themselves (shared file system).
        self.worker_writes = False

    def cell_dir(self, cid: str) -> Path:
        return self.out / "cells" / cid

    def record(self, cell: Cell, doc: dict[str, Any], *, written: bool = False) -> None:
        """Book a finished cell; write its file unless the worker did (``written``)."""
        self.cell_wall[cell.cell_id] = float(doc.get("run", {}).get("wall_s") or 0.0)
        if not written:
            doc.setdefault("run", {})["study_run"] = self.run_id
            _write_cell_doc(self.out, cell.cell_id, doc)
        if doc.get("status") == "ok":
            self.outcome.ran.append(cell.cell_id)
            self.cell_status[cell.cell_id] = "done"
        else:
            self.outcome.failed.append(cell.cell_id)
            self.cell_status[cell.cell_id] = "failed"

    def recover(self, cell: Cell) -> bool:
        """After the executor lost ``cell`` (a broken pool, an interrupt): book it if its
        worker had finished and written it in this run; True if it did."""
        if not self.worker_writes:
            return False
        d = self.cell_dir(cell.cell_id)
        for name in (RESULTS_FILE, ERROR_FILE):
            doc = read_json(d / name)
            if (
                isinstance(doc, dict)
                and doc.get("fingerprint") == cell.fingerprint
                and (doc.get("run") or {}).get("study_run") == self.run_id
                and (doc.get("status") == "ok") == (name == RESULTS_FILE)
            ):
                self.record(cell, doc, written=True)
                return True
        return False

    def record_executor_error(self, cell: Cell, exc: BaseException) -> None:
        """The executor could not run the cell (e.g. the worker died)."""
        doc = {
            "schema_version": CELL_SCHEMA,
            "cell": cell.to_dict(),
            "fingerprint": cell.fingerprint,
            "package_version": __version__,
            "status": "failed",
            "error": {
                "type": type(exc).__name__,
                "message": f"the executor failed to run the cell: {exc}",
                "traceback": "".join(traceback.format_exception(exc)),
            },
            "run": {},
        }
        self.record(cell, doc)

    def write_manifest(self, status: str, executor_info: dict[str, Any], **extra: Any) -> None:
        counts = {
            "cells": len(self.cells),
            "done": sum(1 for s in self.cell_status.values() if s == "done"),
            "ran": len(self.outcome.ran),
            "skipped": len(self.outcome.skipped),
            "failed": len(self.outcome.failed),
            "not_run": len(self.outcome.not_run),
        }
        m = self.manifest
        m.update(
            {
                "status": status,
                "run": self.process,
                "study_run": self.run_id,
                "executor": executor_info,
                "counts": counts,
                "cells": [
                    {
                        "cell_id": c.cell_id,
                        "task": c.task,
                        "scale": c.scale_label,
                        "method": c.method,
                        "injection": c.injection,
                        "episodes": c.episodes,
                        "seed": c.seed,
                        "fingerprint": c.fingerprint,
                        "status": self.cell_status.get(c.cell_id, "pending"),
                    }
                    for c in self.cells
                ],
            }
        )
        m.update(extra)
        write_json_atomic(self.out / MANIFEST_FILE, m)


def _plugins() -> list[dict[str, Any]]:
    try:
        from labtrust_gym.plugins import loaded_plugins
    except ImportError:  # a build without the plugin system
        return []
    out: list[dict[str, Any]] = loaded_plugins()
    return out


def _base_manifest(spec: StudySpec) -> dict[str, Any]:
    return {
        "schema_version": MANIFEST_SCHEMA,
        "study_id": spec.study_id,
        "spec_hash": spec.spec_hash,
        "spec_source": spec.source,
        "spec": spec.to_dict(),
        "package_version": __version__,
        "plugins": _plugins(),
        "lab_profile": active_profile_record(),
        "git": _git_info(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "started_at": _now(),
    }


def run_study(
    spec: StudySpec,
    out_dir: Path | str,
    *,
    executor: str | Executor = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    start_method: str = "spawn",
    progress: Callable[[int, int], None] | None = None,
    write_reports: bool = True,
    worker_writes: bool | None = None,
) -> StudyOutcome:
    """Run the unfinished cells of ``spec`` into ``out_dir`` and write the reports.

    ``executor``: ``"local"`` (process pool of ``workers``), ``"dask"`` (``scheduler``
    address, or a local cluster of ``workers``), ``"inline"``, or any
    :class:`concurrent.futures.Executor` (the caller opens and closes it). ``progress``
    is called with ``(cells finished, cells to run)``. A ``KeyboardInterrupt`` stops the
    workers, records the study as interrupted and is re-raised; finished cells are kept.

    ``worker_writes``: the workers write each cell's file as soon as it is finished
    (default: yes for ``local``, ``inline`` and a local Dask cluster, which share this file
    system; no for a Dask ``scheduler`` and for an ``Executor`` given by the caller).

    ``out_dir`` is checked first (:class:`~labtrust_gym.errors.OutputPathError`), and a
    manifest left ``running`` by a process that is gone is marked ``interrupted``; one
    whose process is alive makes this a :class:`~labtrust_gym.errors.ConfigError`.
    """
    out = check_output_dir(out_dir, "study directory")
    cells = expand_cells(spec)
    study = _Study(spec, out, cells)
    if worker_writes is None:
        worker_writes = isinstance(executor, str) and (executor != "dask" or scheduler is None)
    study.worker_writes = worker_writes
    previous_runs = claim_study_dir(out, out / MANIFEST_FILE, read_json(out / MANIFEST_FILE))
    (out / "cells").mkdir(parents=True, exist_ok=True)
    _clean_temporaries(out)
    states = cell_states(out, cells)
    todo = [c for c in cells if states[c.cell_id] != "done"]
    for c in cells:
        study.cell_status[c.cell_id] = "done" if states[c.cell_id] == "done" else "pending"
        if states[c.cell_id] == "done":
            study.outcome.skipped.append(c.cell_id)
    study.manifest = _base_manifest(spec)
    if previous_runs:
        study.manifest["previous_runs"] = previous_runs
    t_start = time.perf_counter()
    executor_info: dict[str, Any] = {"kind": executor if isinstance(executor, str) else None}
    study.write_manifest("running", executor_info)
    try:
        timing = _execute(study, todo, executor, workers, scheduler, start_method, progress)
    except KeyboardInterrupt:
        raise  # the manifest says interrupted already
    except BaseException as exc:
        # Say so rather than leave "running" behind (best effort: the error may be the
        # very write that failed).
        with contextlib.suppress(Exception):
            study.write_manifest(
                "interrupted",
                study.manifest.get("executor") or executor_info,
                finished_at=_now(),
                error=f"{type(exc).__name__}: {exc}",
            )
        raise
    executor_info = study.manifest.get("executor") or executor_info
    study.outcome.wall_s = round(time.perf_counter() - t_start, 3)
    if study.outcome.failed or study.outcome.not_run:
        study.outcome.status = "partial"
    else:
        study.outcome.status = "complete"
    if write_reports:
        from labtrust_gym.studies.report import write_study_reports

        study.outcome.reports = write_study_reports(spec, out, cells)
    study.write_manifest(
        study.outcome.status,
        executor_info,
        finished_at=_now(),
        wall_s=study.outcome.wall_s,
        timing=timing,
        executor_error=study.outcome.executor_error,
    )
    study.outcome.manifest = study.manifest
    return study.outcome


def _execute(
    study: _Study,
    todo: list[Cell],
    executor: str | Executor,
    workers: int | None,
    scheduler: str | None,
    start_method: str,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    """Run the ``todo`` cells on the executor; the timing figures of the manifest."""
    if not todo:
        return {}
    if isinstance(executor, Executor):
        handle = ExecutorHandle(
            executor,
            type(executor).__name__,
            2 * (workers or 1),
            {"kind": type(executor).__name__, "workers": workers},
        )
        study.manifest["executor"] = handle.info
        return _run_cells(study, handle, todo, progress)
    n = min(workers, len(todo)) if workers else None
    if n is None and executor != "dask":
        from labtrust_gym.studies.executors import default_workers

        n = min(default_workers(), len(todo))
    with open_executor(executor, n, scheduler=scheduler, start_method=start_method) as handle:
        study.manifest["executor"] = handle.info
        return _run_cells(study, handle, todo, progress)


def _run_cells(
    study: _Study,
    handle: ExecutorHandle,
    todo: list[Cell],
    progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    queue = deque(todo)
    in_flight: dict[Future[Any], Cell] = {}
    broken = False
    done = 0
    t0 = time.perf_counter()

    def submit(c: Cell) -> Future[Any]:
        if study.worker_writes:
            return handle.executor.submit(run_cell_into, c, str(study.out), study.run_id)
        return handle.executor.submit(run_cell, c)

    def fill() -> None:
        nonlocal broken
        while queue and not broken and len(in_flight) < handle.capacity:
            c = queue.popleft()
            try:
                in_flight[submit(c)] = c
            except BrokenExecutor as exc:
                queue.appendleft(c)
                broken = True
                study.outcome.executor_error = f"{type(exc).__name__}: {exc}"

    try:
        fill()
        while in_flight:
            finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for fut in finished:
                cell = in_flight.pop(fut)
                if fut.cancelled():
                    study.outcome.not_run.append(cell.cell_id)
                    continue
                exc = fut.exception()
                if isinstance(exc, KeyboardInterrupt):
                    # Ctrl-C reached the worker first (same process group): an interrupt
                    # of the study, not a failure of the cell.
                    study.outcome.not_run.append(cell.cell_id)
                    raise KeyboardInterrupt
                if isinstance(exc, BrokenExecutor):
                    # A worker died; the pool cannot run the others. A cell its worker
                    # finished and wrote before the pool broke is kept; any other is not
                    # necessarily at fault: left unrecorded, to run again next time.
                    broken = True
                    study.outcome.executor_error = f"{type(exc).__name__}: {exc}"
                    if not study.recover(cell):
                        study.outcome.not_run.append(cell.cell_id)
                        continue
                elif exc is not None:
                    study.record_executor_error(cell, exc)
                else:
                    study.record(cell, fut.result(), written=study.worker_writes)
                done += 1
                if progress is not None:
                    progress(done, len(todo))
            fill()
    except KeyboardInterrupt:
        handle.abort()
        study.outcome.not_run.extend(c.cell_id for c in in_flight.values() if not study.recover(c))
        study.outcome.not_run.extend(c.cell_id for c in queue)
        study.outcome.status = "interrupted"
        study.write_manifest("interrupted", handle.info, finished_at=_now())
        raise
    study.outcome.not_run.extend(c.cell_id for c in queue)
    loop_s = time.perf_counter() - t0
    n_ran = len(study.cell_wall)
    cell_sum = sum(study.cell_wall.values())
    eff = max(1, min(int(handle.info.get("workers") or 1), n_ran or 1))
    return {
        "executor_startup_s": round(handle.startup_s, 3),
        "run_s": round(loop_s, 3),
        "cells_run": n_ran,
        "cell_wall_s_sum": round(cell_sum, 3),
        "cell_wall_s_mean": round(cell_sum / n_ran, 4) if n_ran else None,
        # Time each cell spent outside run_cell (transfer, scheduling, idle workers at the
        # tail), averaged: (wall x workers - sum of cell walls) / cells.
        "executor_overhead_s_per_cell": (
            round(max(0.0, loop_s * eff - cell_sum) / n_ran, 4) if n_ran else None
        ),
    }
