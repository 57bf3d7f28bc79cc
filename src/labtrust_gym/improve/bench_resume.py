"""``labtrust bench improve-resume``: kill -9 at random moments, resume, compare.

One uninterrupted reference run of a small config (a subprocess, timed), then ``kills``
trials: each starts the same config in a fresh directory, sends ``SIGKILL`` at a moment
drawn uniformly from ``(0.05 T, 0.95 T)`` (``T`` the reference's wall time; the draws come
from a generator seeded by ``seed``), resumes to completion, and compares the run's
:func:`~labtrust_gym.improve.run_dir.fingerprint` (champion, candidates, cycles,
proposals, evals, gate results, stage outputs) with the reference's, and checks the event
chain. ``kills_per_trial`` > 1 kills the resumed run again before the last resume.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from labtrust_gym.outputs import atomic_write_text

__all__ = ["BENCH_CONFIG", "write_bench_config", "kill_resume_bench", "cli_command"]

#: A small config: two cycles on one task type (a promotion, then a second cycle).
BENCH_CONFIG = """\
version: "0.1"
name: killbench
seed: 5
skill: lab_team_weak_seed
task_types: [stat_insertion]
cycles: 2
collect_episodes: 2
focus_episodes: 0
selection_episodes: 2
executor: {kind: inline}
"""


def write_bench_config(path: Path) -> Path:
    atomic_write_text(path, BENCH_CONFIG)
    return path


def cli_command(*args: str) -> list[str]:
    """``labtrust ARGS`` run by this interpreter (works without the console script)."""
    return [sys.executable, "-m", "labtrust_gym.cli.main", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["LABTRUST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def _run_to_end(args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(*args), capture_output=True, text=True, timeout=timeout_s, env=_env()
    )


def kill_resume_bench(
    kills: int = 20,
    *,
    seed: int = 0,
    config: Path | None = None,
    work_dir: Path | None = None,
    kills_per_trial: int = 1,
    timeout_s: float = 600.0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark (see the module docstring); a JSON-ready result with one row
    per trial (kill moments, the stages left unfinished, equal or not)."""
    from labtrust_gym.improve.events import read_events, verify_chain
    from labtrust_gym.improve.run_dir import fingerprint

    say = log or (lambda s: None)
    own = work_dir is None
    root = Path(work_dir or tempfile.mkdtemp(prefix="labtrust-killbench-"))
    root.mkdir(parents=True, exist_ok=True)
    cfg = config or write_bench_config(root / "killbench.yaml")
    try:
        ref_dir = root / "reference"
        t0 = time.perf_counter()
        r = _run_to_end(
            ["improve", "run", "-c", str(cfg), "--out", str(ref_dir), "--quiet"], timeout_s
        )
        ref_wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"reference run failed ({r.returncode}): {r.stderr[-2000:]}")
        ref = fingerprint(ref_dir)
        say(f"reference run: {ref_wall:.1f} s, decisions {[c['decision'] for c in ref['cycles']]}")
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x1B])))
        rows: list[dict[str, Any]] = []
        for k in range(kills):
            d = root / f"trial{k:03d}"
            moments: list[dict[str, Any]] = []
            unfinished: list[Any] = []
            first = True
            for _ in range(kills_per_trial):
                at = float(rng.uniform(0.05, 0.95)) * ref_wall
                args = (
                    ["improve", "run", "-c", str(cfg), "--out", str(d), "--quiet"]
                    if first
                    else ["improve", "resume", str(d), "--quiet"]
                )
                proc = subprocess.Popen(
                    cli_command(*args),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=_env(),
                )
                try:
                    proc.wait(timeout=at)
                    finished = True
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
                    finished = False
                moments.append({"at_s": round(at, 2), "killed": not finished})
                if not (d / "manifest.json").exists():
                    first = True  # killed before the run existed: start again
                    continue
                first = False
            if first:
                res = _run_to_end(
                    ["improve", "run", "-c", str(cfg), "--out", str(d), "--quiet"], timeout_s
                )
            else:
                res = _run_to_end(["improve", "resume", str(d), "--quiet"], timeout_s)
            ok_exit = res.returncode == 0
            if (d / "events.jsonl").exists():
                for e in read_events(d):
                    if e["kind"] == "run_resumed":
                        unfinished += [
                            f"{u['cycle']}:{u['stage']}" for u in e["payload"]["unfinished"]
                        ]
            equal = ok_exit and fingerprint(d) == ref
            chain = verify_chain(d)["ok"] if (d / "events.jsonl").exists() else False
            rows.append(
                {
                    "trial": k,
                    "kills": moments,
                    "unfinished_stages": unfinished,
                    "exit": res.returncode,
                    "equal": equal,
                    "chain_ok": chain,
                }
            )
            say(
                f"trial {k}: killed at {[m['at_s'] for m in moments]} s, unfinished "
                f"{unfinished or '-'}, equal {equal}, chain {chain}"
            )
            shutil.rmtree(d, ignore_errors=True)
        return {
            "kills": kills,
            "kills_per_trial": kills_per_trial,
            "reference_wall_s": round(ref_wall, 2),
            "reference_decisions": [c["decision"] for c in ref["cycles"]],
            "reference_champion": ref["champion"],
            "equal": sum(1 for r in rows if r["equal"]),
            "chain_ok": sum(1 for r in rows if r["chain_ok"]),
            "killed": sum(1 for r in rows for m in r["kills"] if m["killed"]),
            "trials": rows,
        }
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)
