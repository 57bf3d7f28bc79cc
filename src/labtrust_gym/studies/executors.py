"""Where study cells run: one :class:`concurrent.futures.Executor` interface.

* ``local`` (default): a process pool (``ProcessPoolExecutor``, ``workers`` processes,
  started with ``spawn`` so a worker never inherits threads or state of the parent). The
  workers die with the process that started them, even when it is killed with
  ``SIGKILL`` and cannot stop them (:func:`worker_init`);
* ``dask``: ``dask.distributed`` (the ``[dask]`` extra). With ``scheduler`` (an address
  such as ``tcp://10.0.0.5:8786``) the cells go to that cluster, whose workers must have
  labtrust-gym installed; without it a local cluster of ``workers`` single-threaded worker
  processes is started and closed with the study;
* ``inline``: each cell runs in this process at submission (no isolation; for debugging
  and for cells that need objects registered at runtime in this process).

A cell's results do not depend on the executor or the worker count: everything a cell
draws comes from its seed.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from labtrust_gym.errors import ConfigError

__all__ = [
    "EXECUTORS",
    "ExecutorHandle",
    "InlineExecutor",
    "open_executor",
    "default_workers",
    "worker_init",
    "WATCHDOG_INTERVAL_S",
]

EXECUTORS = ("local", "dask", "inline")

#: How often a worker checks that the process that started it is still there.
WATCHDOG_INTERVAL_S = 0.5

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``);
    False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, interval_s: float) -> None:
    while True:
        time.sleep(interval_s)
        if os.getppid() != parent_pid:  # reparented: the parent is gone
            os._exit(1)


def worker_init(parent_pid: int) -> None:
    """Initializer of the local pool's workers: die with the study process.

    A ``kill -9`` of the study process gives it no chance to stop its workers; without
    this they live on, reparented to init, holding memory and CPU. On Linux the kernel
    kills the worker when its parent dies (``PR_SET_PDEATHSIG``); everywhere on POSIX a
    daemon thread also checks every :data:`WATCHDOG_INTERVAL_S` that the parent is still
    the one that started the pool. (The death signal fires when the *thread* that started
    the worker ends; the pool starts workers from the thread that submits, which for
    :func:`~labtrust_gym.studies.runner.run_study` lives as long as the pool.)
    """
    _set_parent_death_signal()
    if os.name != "posix":
        return  # Windows: no reparenting to watch for
    if os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the death signal was armed
    threading.Thread(
        target=_watch_parent,
        args=(parent_pid, WATCHDOG_INTERVAL_S),
        name="labtrust-parent-watchdog",
        daemon=True,
    ).start()


class InlineExecutor(Executor):
    """Runs each call in the calling process when it is submitted."""

    def __init__(self) -> None:
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        fut: Future[Any] = Future()
        fut.set_running_or_notify_cancel()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001  (delivered through the future)
            fut.set_exception(exc)
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True


@dataclass
class ExecutorHandle:
    """An open executor and what the study manifest records about it."""

    executor: Executor
    kind: str
    #: Cells kept submitted at once (enough to keep every worker busy).
    capacity: int
    info: dict[str, Any] = field(default_factory=dict)
    startup_s: float = 0.0

    def abort(self) -> None:
        """Stop now: cancel queued cells and stop the workers of a local process pool."""
        ex = self.executor
        ex.shutdown(wait=False, cancel_futures=True)
        if isinstance(ex, ProcessPoolExecutor):
            terminate = getattr(ex, "terminate_workers", None)  # Python >= 3.14
            if callable(terminate):
                terminate()
            else:
                for proc in list((getattr(ex, "_processes", None) or {}).values()):
                    proc.terminate()


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


@contextmanager
def open_executor(
    kind: str = "local",
    workers: int | None = None,
    *,
    scheduler: str | None = None,
    start_method: str = "spawn",
) -> Iterator[ExecutorHandle]:
    """Open the executor ``kind`` (see the module docstring) and close it on exit."""
    if kind not in EXECUTORS:
        raise ConfigError(f"unknown executor {kind!r}; use one of: {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if scheduler is not None and kind != "dask":
        raise ConfigError("--scheduler needs --executor dask")
    n = workers or default_workers()
    t0 = time.perf_counter()
    if kind == "inline":
        yield ExecutorHandle(InlineExecutor(), "inline", 1, {"kind": "inline", "workers": 1})
        return
    if kind == "local":
        pool = ProcessPoolExecutor(
            max_workers=n,
            mp_context=multiprocessing.get_context(start_method),
            initializer=worker_init,
            initargs=(os.getpid(),),
        )
        handle = ExecutorHandle(
            pool,
            "local",
            2 * n,
            {"kind": "local", "workers": n, "start_method": start_method},
            time.perf_counter() - t0,
        )
        try:
            yield handle
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return
    with _dask_client(n, scheduler) as (client, info):
        info["startup_s"] = round(time.perf_counter() - t0, 3)
        threads = sum(client.nthreads().values()) or n
        yield ExecutorHandle(
            client.get_executor(pure=False), "dask", 2 * threads, info, time.perf_counter() - t0
        )


@contextmanager
def _dask_client(n: int, scheduler: str | None) -> Iterator[tuple[Any, dict[str, Any]]]:
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "--executor dask needs dask.distributed, which is not installed; install the "
            "extra: pip install 'labtrust-gym[dask]'"
        ) from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); check the address "
                "(e.g. tcp://host:8786) or omit --scheduler to start a local cluster"
            ) from None
        try:
            yield (
                client,
                {
                    "kind": "dask",
                    "scheduler": scheduler,
                    "workers": len(client.nthreads()),
                    "threads": sum(client.nthreads().values()),
                },
            )
        finally:
            client.close()
        return
    # The workers' statistical profiler samples every thread's stack each 10 ms; on these
    # pure-Python cells it costs 30-40% of the cell time, and nothing here reads it.
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
        )
        try:
            client = Client(cluster)
            try:
                yield (
                    client,
                    {"kind": "dask", "scheduler": None, "local_cluster": True, "workers": n},
                )
            finally:
                client.close()
        finally:
            cluster.close()
