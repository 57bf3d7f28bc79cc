"""Env benchmarks: raw NOOP stepping at scale, and scripted episodes per task."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["bench_env_noop", "bench_episodes"]


def bench_env_noop(
    scale: str = "corridor_heavy", steps: int = 100, seed: int = 0
) -> dict[str, Any]:
    """Agent-steps per second of ``env.step`` with every agent idle (NOOP)."""
    from labtrust_gym.envs import make_env

    t0 = time.perf_counter()
    env = make_env("coord_scale", scale=scale)
    env.reset(seed=seed)
    setup = time.perf_counter() - t0
    n = len(env.agents)
    steps = min(steps, env.task.max_steps)
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step({})
    wall = time.perf_counter() - t0
    return {
        "scale": scale,
        "agents": n,
        "steps": steps,
        "wall_s": round(wall, 4),
        "setup_s": round(setup, 3),
        "agent_steps_per_s": round(n * steps / wall),
        "ms_per_step": round(1000 * wall / steps, 3),
    }


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
