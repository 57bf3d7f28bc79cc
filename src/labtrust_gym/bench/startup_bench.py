"""Start-up benchmark: how long short ``labtrust`` commands take as whole processes.

Each case runs ``repeats`` times (after one warm-up run that fills the OS file cache and
the compiled-policy cache), interleaved with the other cases so a burst of load on a
shared machine hits them alike; the figures are the median and minimum wall time and the
median CPU time (user + system) of the child. The cases:

* ``python``: the interpreter alone (``python -c pass``), the floor of every command;
* ``version``, ``help``: ``labtrust --version``, ``labtrust --help`` (target 0.1 s);
* ``episode``: ``labtrust run-benchmark --task throughput_sla --episodes 1`` with the
  compiled-policy cache warm (target 0.45 s);
* ``episode_cold``: the same with an empty cache directory every run (every policy file
  parsed and validated);
* ``breakdown``: in one process, the import of the runner, the first and the second
  ``run_benchmark`` of that episode (CPU seconds), to show where cold set-up goes.

The load average is reported, and on Linux the share of CPU time the hypervisor stole
from this virtual machine while the cases ran (``steal_pct``): on a busy machine, or a
virtual one whose host is busy, wall times mean little (the CPU times less so).

The children run without ``PYTHONDONTWRITEBYTECODE``: the figures are those of an
installed package, whose modules are compiled once (a wheel's at install, an editable
checkout's on first import), not recompiled by every command.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError

__all__ = ["STARTUP_CASES", "TARGETS_S", "bench_startup"]

STARTUP_CASES = ("python", "version", "help", "episode", "episode_cold", "breakdown")
#: Whole-process wall-time targets (seconds, median on an idle machine).
TARGETS_S = {"version": 0.1, "help": 0.1, "episode": 0.45}

_BREAKDOWN = r"""
import json, sys, time
c0 = time.process_time()
from labtrust_gym.benchmarks.runner import run_benchmark
c1 = time.process_time()
run_benchmark("throughput_sla", 1, 0)
c2 = time.process_time()
run_benchmark("throughput_sla", 1, 0)
c3 = time.process_time()
print(json.dumps({"import_s": c1 - c0, "first_run_s": c2 - c1, "second_run_s": c3 - c2}))
"""


def _launcher() -> list[str]:
    script = Path(sys.executable).with_name("labtrust")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "labtrust_gym.cli.main"]


def _command(case: str, out: Path) -> list[str]:
    if case == "python":
        return [sys.executable, "-c", "pass"]
    if case == "version":
        return [*_launcher(), "--version"]
    if case == "help":
        return [*_launcher(), "--help"]
    if case in ("episode", "episode_cold"):
        return [*_launcher(), "run-benchmark", "--task", "throughput_sla", "--episodes", "1"] + [
            "--out",
            str(out),
        ]
    if case == "breakdown":
        return [sys.executable, "-c", _BREAKDOWN]
    raise ConfigError(f"unknown start-up case {case!r}; known: {', '.join(STARTUP_CASES)}")


def _run_once(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    import time

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-1000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def _cpu_counters() -> tuple[int, int] | None:
    """(steal, total) jiffies of all CPUs so far (Linux), else None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    nums = [int(x) for x in fields[1:9]]
    return nums[7], sum(nums)


def bench_startup(repeats: int = 5, cases: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per case: ``case``, ``command``, ``runs``, ``wall_median_s``, ``wall_min_s``,
    ``cpu_median_s``, ``target_s`` and ``meets_target`` (``None`` without a target); the
    ``breakdown`` row has the median ``import_s``, ``first_run_s``, ``second_run_s``."""
    if repeats < 1:
        raise ConfigError(f"--repeats must be >= 1, got {repeats}")
    chosen = list(cases or STARTUP_CASES)
    for c in chosen:
        _command(c, Path("."))  # unknown cases fail before anything runs
    work = Path(tempfile.mkdtemp(prefix="labtrust-startup-"))
    try:
        base_env = dict(os.environ)
        base_env.pop("PYTHONDONTWRITEBYTECODE", None)
        base_env.setdefault("LABTRUST_CACHE_DIR", str(work / "cache"))
        samples: dict[str, list[tuple[float, float, str]]] = {c: [] for c in chosen}
        before = _cpu_counters()
        for i in range(repeats + 1):
            for case in chosen:
                env = dict(base_env)
                if case == "episode_cold":
                    env["LABTRUST_CACHE_DIR"] = str(work / f"cold-{i}")
                got = _run_once(_command(case, work / "r.json"), env, work)
                if i > 0:  # run 0 warms the OS and policy caches
                    samples[case].append(got)
        after = _cpu_counters()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    steal = None
    if before is not None and after is not None and after[1] > before[1]:
        steal = round(100.0 * (after[0] - before[0]) / (after[1] - before[1]), 1)
    rows: list[dict[str, Any]] = []
    for case in chosen:
        xs = samples[case]
        row: dict[str, Any] = {
            "case": case,
            "command": " ".join(_command(case, Path("r.json"))[:8])
            if case != "breakdown"
            else "python -c <import runner; run_benchmark x2>",
            "runs": len(xs),
            "wall_median_s": round(statistics.median(w for w, _, _ in xs), 3),
            "wall_min_s": round(min(w for w, _, _ in xs), 3),
            "cpu_median_s": round(statistics.median(c for _, c, _ in xs), 3),
            "target_s": TARGETS_S.get(case),
            "meets_target": None,
            "load_average_1m": load,
            "steal_pct": steal,
        }
        if row["target_s"] is not None:
            row["meets_target"] = row["wall_median_s"] <= row["target_s"]
        if case == "breakdown":
            parts = [json.loads(out.strip().splitlines()[-1]) for _, _, out in xs]
            for k in ("import_s", "first_run_s", "second_run_s"):
                row[k] = round(statistics.median(p[k] for p in parts), 3)
        rows.append(row)
    return rows
