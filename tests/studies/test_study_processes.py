"""Studies and their processes: workers die with a killed study process, a dying worker
does not take another worker's finished cell with it, and a run that vanished is marked
``interrupted`` by the next one. Real processes, real signals, bounded in time."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _study_helpers import write_spec

from labtrust_gym.cli.main import main
from labtrust_gym.errors import ConfigError
from labtrust_gym.studies import expand_cells, load_study_spec, run_study
from labtrust_gym.studies.runner import MANIFEST_FILE, cell_states

LINUX_PROC = Path("/proc/self/stat").exists()


def _manifest(out: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    return doc


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z"  # a zombie has exited


def _pool_workers(parent: int) -> list[int]:
    """Pool worker processes (multiprocessing spawn children) of ``parent``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        st = _stat(int(d.name))
        if st is None or int(st[1]) != parent:
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmd:
            out.append(int(d.name))
    return out


def _cpu_s(pid: int) -> float:
    st = _stat(pid)
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK") if st else 0.0


@pytest.mark.skipif(not LINUX_PROC, reason="finds the workers through Linux /proc")
def test_kill_9_of_the_study_process_takes_its_workers_along(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Cells of ~20 s each: without the fix the workers outlive the 10 s window below.
    spec = write_spec(tmp_path / "spec.yaml", episodes_per_cell=300)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "labtrust_gym.cli.main", "run-study", "--spec", str(spec)]
    cmd += ["--out", str(out), "--workers", "2", "--no-progress"]
    study = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 90
        # Wait until both workers are inside a cell: past start-up and the imports (0.6 s
        # of CPU), so the pool initializer has run and a cell is being computed.
        while time.monotonic() < deadline:
            workers = _pool_workers(study.pid)
            if len(workers) == 2 and all(_cpu_s(w) >= 1.0 for w in workers):
                break
            assert study.poll() is None, "the study ended before the test could kill it"
            time.sleep(0.2)
        else:
            pytest.fail(f"the study's workers did not get busy in time ({workers})")
        assert _manifest(out)["status"] == "running"

        os.kill(study.pid, signal.SIGKILL)
        study.wait(timeout=10)
        t_kill = time.monotonic()
        while any(_alive(w) for w in workers) and time.monotonic() - t_kill < 10:
            time.sleep(0.1)
        survivors = [w for w in workers if _alive(w)]
        assert survivors == [], "pool workers outlived the killed study process"
    finally:
        if study.poll() is None:
            study.kill()
            study.wait(timeout=10)
        for w in workers:  # only the workers of the study this test started
            if _alive(w):
                os.kill(w, signal.SIGKILL)

    # The manifest still says running (nobody could write anything); the next look at the
    # directory knows better.
    assert _manifest(out)["status"] == "running"
    assert _manifest(out)["run"]["pid"] == study.pid
    assert main(["run-study", "--spec", str(spec), "--out", str(out), "--dry-run"]) == 0
    assert "was interrupted" in capsys.readouterr().err
    assert not list((out / "cells").glob("*/results.json"))


def _run_then_flag(fn: Callable[..., Any], flag: str, *args: Any) -> Any:
    res = fn(*args)  # the cell runs, and its worker writes it
    Path(flag).write_text("done", encoding="utf-8")
    time.sleep(2)  # the result is still here, not yet sent to the parent, when the pool breaks
    return res


def _die_after_flag(flag: str) -> None:
    deadline = time.monotonic() + 60
    while not Path(flag).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    os._exit(3)


class _OneWorkerDies(Executor):
    """Two worker processes: the first cell finishes, then the worker of the second dies
    while the first cell's result is in flight."""

    def __init__(self, finisher: str, victim: str, flag: Path) -> None:
        self.pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
        self.finisher, self.victim, self.flag = finisher, victim, str(flag)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        cid = getattr(args[0], "cell_id", None) if args else None
        if cid == self.victim:
            return self.pool.submit(_die_after_flag, self.flag)
        if cid == self.finisher:
            return self.pool.submit(_run_then_flag, fn, self.flag, *args)
        return self.pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def test_a_dying_worker_does_not_lose_the_cell_another_worker_finished(tmp_path: Path) -> None:
    spec = load_study_spec(write_spec(tmp_path / "spec.yaml", episodes_per_cell=1))
    cells = expand_cells(spec)
    out = tmp_path / "run"
    ex = _OneWorkerDies(cells[0].cell_id, cells[1].cell_id, tmp_path / "flag")
    try:
        outcome = run_study(spec, out, executor=ex, workers=2, worker_writes=True)
    finally:
        ex.shutdown()
    assert outcome.executor_error is not None
    assert outcome.executor_error.startswith("BrokenProcessPool")
    assert outcome.ran == [cells[0].cell_id]  # finished before the break: kept
    assert sorted(outcome.not_run) == sorted(c.cell_id for c in cells[1:])
    assert cell_states(out, cells)[cells[0].cell_id] == "done"
    m = _manifest(out)
    assert m["status"] == "partial"
    assert m["counts"]["done"] == 1 and m["counts"]["not_run"] == 3
    rerun = run_study(spec, out, executor="inline")
    assert rerun.skipped == [cells[0].cell_id] and rerun.complete


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def _fake_running(out: Path, pid: int) -> None:
    m = _manifest(out)
    m["status"] = "running"
    m["run"] = {**m["run"], "pid": pid, "process_start": None}
    (out / MANIFEST_FILE).write_text(json.dumps(m), encoding="utf-8")


def test_a_resume_marks_a_vanished_run_interrupted(
    tmp_path: Path, finished_study: Path, spec_file: Callable[..., Path]
) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished_study, out)
    spec = load_study_spec(finished_study.parent / "spec.yaml")
    dead = _dead_pid()
    _fake_running(out, dead)
    outcome = run_study(spec, out, executor="inline")
    assert outcome.complete and not outcome.ran
    m = _manifest(out)
    assert m["status"] == "complete"
    last = m["previous_runs"][-1]
    assert last["status"] == "interrupted" and last["run"]["pid"] == dead
    assert "is gone" in last["interrupted"]["reason"]


def test_a_study_directory_in_use_is_refused(
    tmp_path: Path, finished_study: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished_study, out)
    spec_path = finished_study.parent / "spec.yaml"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _fake_running(out, sleeper.pid)
        before = (out / MANIFEST_FILE).read_bytes()
        with pytest.raises(ConfigError, match=f"in use by a running study \\(pid {sleeper.pid}"):
            run_study(load_study_spec(spec_path), out, executor="inline")
        argv = ["run-coordination-study", "--spec", str(spec_path), "--out", str(out)]
        assert main([*argv, "--executor", "inline"]) == 2
        assert "in use" in capsys.readouterr().err
        assert (out / MANIFEST_FILE).read_bytes() == before  # untouched
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)


def test_an_error_escaping_the_run_leaves_interrupted_not_running(
    tmp_path: Path, spec_file: Callable[..., Path]
) -> None:
    spec = load_study_spec(spec_file(episodes_per_cell=1))
    out = tmp_path / "run"

    def boom(done: int, total: int) -> None:
        raise RuntimeError("progress display broke")

    with pytest.raises(RuntimeError, match="progress display broke"):
        run_study(spec, out, executor="inline", progress=boom)
    m = _manifest(out)
    assert m["status"] == "interrupted"
    assert m["error"] == "RuntimeError: progress display broke"
    assert run_study(spec, out, executor="inline").complete


def _grandchild(q: Any) -> None:
    """A pool worker without the Linux death signal: only the watchdog thread is left."""
    import labtrust_gym.studies.executors as executors

    executors._set_parent_death_signal = lambda: False
    executors.worker_init(os.getppid())
    q.put(os.getpid())
    time.sleep(60)


def _middle(q: Any) -> None:
    p = multiprocessing.get_context("spawn").Process(target=_grandchild, args=(q,))
    p.start()
    time.sleep(60)


@pytest.mark.skipif(os.name != "posix", reason="the watchdog watches for reparenting (POSIX)")
def test_the_parent_watchdog_alone_ends_an_orphaned_worker() -> None:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    middle = ctx.Process(target=_middle, args=(q,))
    middle.start()
    worker = q.get(timeout=60)
    assert middle.pid is not None
    try:
        if LINUX_PROC:
            assert _alive(worker)
        os.kill(middle.pid, signal.SIGKILL)  # the worker's parent dies without a word
        middle.join(timeout=10)
        deadline = time.monotonic() + 10
        gone = False
        while time.monotonic() < deadline:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                gone = True
                break
            if LINUX_PROC and not _alive(worker):  # exited, waiting to be reaped
                gone = True
                break
            time.sleep(0.1)
        assert gone, "the orphaned worker did not notice its parent was gone"
    finally:
        if middle.is_alive():
            middle.kill()
        with contextlib.suppress(ProcessLookupError):
            if not LINUX_PROC or _alive(worker):
                os.kill(worker, signal.SIGKILL)
        q.close()
        q.join_thread()
