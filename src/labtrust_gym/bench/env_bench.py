"""Env benchmarks: raw NOOP stepping at scale, and scripted episodes per task."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

__all__ = [
    "bench_env_noop",
    "bench_env_noop_isolated",
    "bench_episodes",
    "peak_rss_mib",
    "ENV_SCALES",
]

#: The scale presets the env benchmark reports: 4, 200, 2,000 and 10,000 agents.
ENV_SCALES = ("small_smoke", "corridor_heavy", "hospital_network_2k", "hospital_network_10k")


def peak_rss_mib() -> float | None:
    """Peak resident set size of this process so far, in MiB (None where unknown)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def bench_env_noop(
    scale: str = "corridor_heavy", steps: int = 100, seed: int = 0
) -> dict[str, Any]:
    """Agent-steps per second of ``env.step`` with every agent idle (NOOP).

    ``scale`` is a scale preset of ``coord_scale`` (see :data:`ENV_SCALES`). ``setup_s``
    is building the env and its first reset (``reset_s`` the reset alone, measured
    again on a second reset); ``peak_rss_mib`` is the process's peak resident memory
    after the run (interpreter and imports included: run each scale in a fresh process,
    :func:`bench_env_noop_isolated`, for figures that do not carry over).
    """
    from labtrust_gym.envs import make_env

    t0 = time.perf_counter()
    env = make_env("coord_scale", scale=scale)
    env.reset(seed=seed)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    env.reset(seed=seed)
    reset_s = time.perf_counter() - t0
    n = len(env.agents)
    steps = max(1, min(steps, env.task.max_steps))
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step({})
    wall = time.perf_counter() - t0
    return {
        "scale": scale,
        "agents": n,
        "steps": steps,
        "obs_dim": env.obs_builder.dim,
        "wall_s": round(wall, 4),
        "setup_s": round(setup, 3),
        "reset_s": round(reset_s, 3),
        "agent_steps_per_s": round(n * steps / wall),
        "ms_per_step": round(1000 * wall / steps, 3),
        "peak_rss_mib": peak_rss_mib(),
    }


_CHILD = (
    "import json, sys\n"
    "from labtrust_gym.bench.env_bench import bench_env_noop\n"
    "print(json.dumps(bench_env_noop(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))\n"
)


def bench_env_noop_isolated(
    scale: str = "corridor_heavy", steps: int = 100, seed: int = 0
) -> dict[str, Any]:
    """:func:`bench_env_noop` in a fresh Python process (peak memory of that scale only).

    An unknown preset raises :class:`~labtrust_gym.errors.UnknownIdError` here, before
    any process starts."""
    from labtrust_gym.benchmarks.coordination_scale import load_scale_config_by_id

    load_scale_config_by_id(None, scale)
    p = subprocess.run(
        [sys.executable, "-c", _CHILD, scale, str(steps), str(seed)],
        capture_output=True,
        text=True,
        check=False,
    )
    if p.returncode != 0:
        raise RuntimeError(f"env benchmark of {scale!r} failed:\n{p.stderr.strip()}")
    out: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def bench_episodes(tasks: list[str] | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """Wall time of one scripted episode per task (after start-up)."""
    from labtrust_gym.benchmarks.runner import episode_seed, run_episode
    from labtrust_gym.benchmarks.tasks import get_task, list_tasks

    out = []
    for name in tasks or list_tasks():
        task = get_task(name)()
        env = task.make_env()
        s = episode_seed(seed, 0)
        run_episode(task, s, env=env)  # warm-up: imports, caches
        t0 = time.perf_counter()
        m, _ = run_episode(task, s, env=env)
        wall = time.perf_counter() - t0
        out.append(
            {
                "task": name,
                "agents": m["num_agents"],
                "steps": m["steps"],
                "episode_wall_s": round(wall, 4),
                "agent_steps_per_s": round(m["num_agents"] * m["steps"] / wall),
                "throughput": m["throughput"],
            }
        )
    return out
