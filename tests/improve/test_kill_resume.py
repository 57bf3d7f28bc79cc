"""kill -9 at random moments, then resume: the final state equals an uninterrupted
run's. (The 20-kill version is ``labtrust bench improve-resume --kills 20``.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import yaml

from conftest import TINY
from labtrust_gym.improve import fingerprint, read_events, verify_chain
from labtrust_gym.improve.bench_resume import cli_command

#: Stages that play episodes (a kill there interrupts real work).
EPISODE_STAGES = ("baseline", "collect", "eval")


def _starts(d: Path, playing: set[str]) -> list[str]:
    """``cycle:stage`` of the stages in ``playing`` started so far."""
    f = d / "events.jsonl"
    if not f.exists():
        return []
    out = []
    for raw in f.read_bytes().split(b"\n"):
        if b'"kind":"stage_started"' in raw:
            e = json.loads(raw)
            if f"{e['cycle']}:{e['stage']}" in playing:
                out.append(f"{e['cycle']}:{e['stage']}")
    return out


def _start_and_kill(
    args: list[str], d: Path, nth_start: int, env: dict[str, str], playing: set[str]
) -> str | None:
    """Start ``labtrust ARGS``; SIGKILL it as soon as the ``nth_start``-th episode stage
    (counted over the whole log) has started. The stage killed, or None when the
    process ended first."""
    proc = subprocess.Popen(
        cli_command(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    deadline = time.monotonic() + 120
    while (
        proc.poll() is None and len(_starts(d, playing)) < nth_start and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    landed = proc.poll() is None
    if landed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return _starts(d, playing)[nth_start - 1] if landed else None


def test_two_kills_then_resume_equal_the_uninterrupted_run(
    reference_run: Path, tmp_path: Path
) -> None:
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    d = tmp_path / "run"
    env = {**os.environ, "LABTRUST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    # the stages of the reference run that played episodes (not skipped)
    stages = [
        f"{e['cycle']}:{e['stage']}"
        for e in read_events(reference_run)
        if e["kind"] == "stage_done"
        and e["stage"] in EPISODE_STAGES
        and not e["payload"].get("skipped")
    ]
    playing = set(stages)
    rng = np.random.Generator(np.random.PCG64(20261203))
    first = int(rng.integers(1, len(stages)))  # the k-th episode stage of the run
    second = first + 1 + int(rng.integers(1, len(stages) - first + 1))  # counted with the restart
    k1 = _start_and_kill(
        ["improve", "run", "-c", str(cfg), "--out", str(d), "--quiet"], d, first, env, playing
    )
    k2 = _start_and_kill(["improve", "resume", str(d), "--quiet"], d, second, env, playing)
    assert k1 is not None and k2 is not None, "a kill did not land: the run ended first"
    done = subprocess.run(
        cli_command("improve", "resume", str(d), "--quiet"),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert fingerprint(d) == fingerprint(reference_run)
    assert verify_chain(d)["ok"]
    ev = read_events(d)
    assert [e["kind"] for e in ev].count("run_resumed") == 2
    unfinished = [
        [f"{u['cycle']}:{u['stage']}" for u in e["payload"]["unfinished"]]
        for e in ev
        if e["kind"] == "run_resumed"
    ]
    assert unfinished == [[k1], [k2]]  # each kill interrupted the stage it hit
