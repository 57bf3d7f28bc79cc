"""Playing a trained policy, and the baselines, on given episode seeds with the same metrics.

:func:`play_episodes` runs a policy function ``act(obs, masks) -> actions`` (one row per
agent, in ``env.possible_agents`` order) on each seed and returns the episode metrics of
the benchmark runner (:func:`~labtrust_gym.benchmarks.metrics.compute_episode_metrics` and
the task's ``episode_metrics``), plus ``masked_actions_chosen``: how many of its actions
the agent's mask ruled out (a masked policy chooses none). :func:`baseline_episodes`
plays the runner's own controllers (``scripted``, ``random``) on the same seeds.
:func:`summarize` gives mean and 95% CI.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from labtrust_gym.benchmarks.metrics import compute_episode_metrics, mean_ci95
from labtrust_gym.benchmarks.runner import run_episode

__all__ = [
    "ActFn",
    "play_episodes",
    "baseline_episodes",
    "masked_random_act",
    "model_act",
    "summarize",
    "SUMMARY_METRICS",
]

#: ``act(observations (agents, dim), masks (agents, n) bool) -> actions (agents,)``
ActFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
SUMMARY_METRICS = ("throughput", "completion_rate", "blocked", "turnaround_p50_s")


def play_episodes(env: Any, act: ActFn, seeds: Iterable[int]) -> list[dict[str, Any]]:
    """One episode of ``env`` per seed with the policy ``act``; their metrics."""
    out = []
    agents = list(env.possible_agents)
    for seed in seeds:
        t0 = time.perf_counter()
        obs, infos = env.reset(seed=int(seed))
        masked = 0
        while env.agents:
            o = np.stack([obs[a] for a in agents])
            m = np.stack([np.asarray(infos[a]["action_mask"], dtype=bool) for a in agents])
            acts = np.asarray(act(o, m)).reshape(len(agents))
            masked += int((~m[np.arange(len(agents)), acts]).sum())
            obs, _, _, _, infos = env.step({a: int(x) for a, x in zip(agents, acts, strict=True)})
        metrics = compute_episode_metrics(env, env.task, time.perf_counter() - t0)
        metrics.update(env.task.episode_metrics(env))  # as the runner does
        metrics["seed"] = int(seed)
        metrics["masked_actions_chosen"] = masked
        out.append(metrics)
    return out


def baseline_episodes(task: Any, seeds: Iterable[int], controller: str) -> list[dict[str, Any]]:
    """The benchmark runner's ``controller`` (``scripted`` or ``random``) on each seed."""
    out = []
    for seed in seeds:
        metrics, _ = run_episode(task, int(seed), controller=controller)
        metrics["seed"] = int(seed)
        out.append(metrics)
    return out


def masked_random_act(rng: np.random.Generator) -> ActFn:
    """Uniform random among each agent's plausible actions (its mask)."""

    def act(obs: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return np.array([int(rng.choice(np.flatnonzero(m))) for m in masks])

    return act


def model_act(model: Any, *, deterministic: bool = True) -> ActFn:
    """A MaskablePPO model as a policy function (its masks applied)."""

    def act(obs: np.ndarray, masks: np.ndarray) -> np.ndarray:
        actions, _ = model.predict(obs, action_masks=masks, deterministic=deterministic)
        return np.asarray(actions)

    return act


def summarize(
    episodes: Sequence[dict[str, Any]], metrics: Sequence[str] = SUMMARY_METRICS
) -> dict[str, dict[str, Any]]:
    """Mean and Student-t 95% CI of each metric over the episodes."""
    return {k: mean_ci95([e.get(k) for e in episodes]) for k in metrics}
