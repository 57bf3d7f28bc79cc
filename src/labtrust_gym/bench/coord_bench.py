"""Coordination benchmarks: agent-steps/s, wall time and peak memory per method and preset.

Each (method, preset) cell runs one ``coord_scale`` episode in a fresh interpreter, so
peak memory (``ru_maxrss``) belongs to that cell alone. Episode wall time covers the
steps (method proposals, env step, engine), not the one-off world generation and env
construction, which are reported as ``setup_s``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from typing import Any

__all__ = ["COORD_SCALES", "CURVE_SCALES", "bench_coord_cell", "bench_coord"]

COORD_SCALES = (
    "small_smoke",
    "corridor_heavy",
    "medium_stress_signed_bus",
    "hospital_network_2k",
    "hospital_network_10k",
)
#: The scaling curve: 4, 200, 2,000 and 10,000 agents.
CURVE_SCALES = ("small_smoke", "corridor_heavy", "hospital_network_2k", "hospital_network_10k")


def bench_coord_cell(method: str, scale: str, seed: int = 1) -> dict[str, Any]:
    """One episode of ``coord_scale`` at ``scale`` driven by ``method`` (this process)."""
    from labtrust_gym.benchmarks.runner import run_episode
    from labtrust_gym.benchmarks.tasks import get_task

    t0 = time.perf_counter()
    task = get_task("coord_scale")(scale_config=scale)
    env = task.make_env()
    setup = time.perf_counter() - t0
    m, _ = run_episode(task, seed, coord_method=method, env=env)
    n, steps, wall = m["num_agents"], m["steps"], m["wall_s"]
    return {
        "method": method,
        "scale": scale,
        "agents": n,
        "steps": steps,
        "episode_wall_s": round(wall, 3),
        "ms_per_step": round(1000.0 * wall / max(1, steps), 2),
        "agent_steps_per_s": round(n * steps / wall) if wall > 0 else None,
        "setup_s": round(setup, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "throughput": m["throughput"],
        "actions": m["actions"],
        "blocked": m["blocked"],
        "blocked_rate": round(m["blocked"] / m["actions"], 4) if m["actions"] else 0.0,
        "on_time_rate": m["on_time_rate"],
    }


def _isolated(method: str, scale: str, seed: int) -> dict[str, Any]:
    code = (
        "import json, sys\n"
        "from labtrust_gym.bench.coord_bench import bench_coord_cell\n"
        f"print(json.dumps(bench_coord_cell({method!r}, {scale!r}, {int(seed)})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(
            f"coordination bench {method} on {scale} failed (exit {out.returncode}):\n"
            + out.stderr[-2000:]
        )
    row: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return row


def bench_coord(
    methods: list[str], scales: list[str], seed: int = 1, *, isolated: bool = True
) -> list[dict[str, Any]]:
    """Every (method, scale) cell, each in its own process unless ``isolated`` is False."""
    rows = []
    for scale in scales:
        for method in methods:
            rows.append(
                _isolated(method, scale, seed)
                if isolated
                else bench_coord_cell(method, scale, seed)
            )
    return rows
