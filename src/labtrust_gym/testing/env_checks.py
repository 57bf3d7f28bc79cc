"""Compliance checks for tasks and envs, for plugin authors and our own test suite.

``check_task(task)`` builds the task's env and runs PettingZoo's ``parallel_api_test``,
``api_test`` on the AEC conversion and ``seed_test``, then our multi-step determinism
check (pettingzoo's ``parallel_seed_test`` stops after one step): two envs reset with the
same seed and driven by the same seeded random actions must produce the same trajectory
hash (audit chain heads and observations) after every step, and a different seed must
produce a different one. Any warning raised during the checks is an error.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = ["check_task", "trajectory_hash", "check_observations_in_space"]


def _make(task: Any, **kw: Any) -> Any:
    from labtrust_gym.envs import make_env

    return make_env(task, **kw)


def trajectory_hash(task: Any, seed: int, steps: int, action_seed: int = 0) -> list[str]:
    """Per-step trajectory hashes of an env driven by seeded uniform random actions."""
    env = _make(task)
    env.reset(seed=seed)
    rng = np.random.default_rng(action_seed)
    hashes = []
    for _ in range(steps):
        if not env.agents:
            break
        acts = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        env.step(acts)
        hashes.append(env.trajectory_hash())
    return hashes


def check_observations_in_space(env: Any, obs: dict[str, Any]) -> None:
    for a, o in obs.items():
        space = env.observation_space(a)
        if not space.contains(o):
            raise AssertionError(
                f"observation of {a} is outside its space: dtype {o.dtype}, "
                f"shape {o.shape}, min {o.min()}, max {o.max()}"
            )


def check_task(task: Any, *, num_cycles: int = 40, determinism_steps: int = 40) -> None:
    """Run every env compliance check on ``task`` (a name or BenchmarkTask); raise on failure."""
    from pettingzoo.test import api_test, parallel_api_test, seed_test
    from pettingzoo.utils.conversions import parallel_to_aec

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(_make(task), num_cycles=num_cycles)
        api_test(parallel_to_aec(_make(task)), num_cycles=num_cycles)
        seed_test(lambda: parallel_to_aec(_make(task)), num_cycles=num_cycles)
        env = _make(task)
        obs, infos = env.reset(seed=3)
        check_observations_in_space(env, obs)
        rng = np.random.default_rng(3)
        for _ in range(num_cycles):
            if not env.agents:
                break
            acts = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
            obs, _, _, _, infos = env.step(acts)
            check_observations_in_space(env, obs)
            for a, info in infos.items():
                m = info.get("action_mask")
                if m is not None and (m.shape != (env.action_space(a).n,) or m[0] != 1):
                    raise AssertionError(f"action mask of {a} has shape {m.shape} or masks NOOP")
    h1 = trajectory_hash(task, 11, determinism_steps)
    h2 = trajectory_hash(task, 11, determinism_steps)
    if h1 != h2:
        first = next(i for i, (a, b) in enumerate(zip(h1, h2, strict=False)) if a != b)
        raise AssertionError(f"same seed, different trajectories from step {first}")
    h3 = trajectory_hash(task, 12, determinism_steps)
    if h3 == h1:
        raise AssertionError("seeds 11 and 12 gave the same trajectory; the seed is ignored")
