"""Training a shared policy over a task's agents with sb3-contrib's MaskablePPO.

:func:`train_ppo` builds the task's ParallelEnv (action masks on, no rich views), turns
it into ``n_envs`` SuperSuit vector-env copies (one slot per agent: one policy acts for
every agent, told apart by the role in its observation), trains ``MaskablePPO`` on them
with the masks, and every ``curve_every`` timesteps plays the learning-curve episodes
(:attr:`SeedPlan.curve`, deterministic policy) to record the throughput. All seeds come
from ``config.seed`` (:class:`~labtrust_gym.rl.seeds.SeedPlan`).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sb3_contrib import MaskablePPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecMonitor

from labtrust_gym.envs import make_env
from labtrust_gym.rl.evaluate import model_act, play_episodes
from labtrust_gym.rl.seeds import SeedPlan
from labtrust_gym.rl.vec_env import make_vec_env

__all__ = ["PPOConfig", "TrainResult", "CurvePoint", "train_ppo", "make_task_env"]


@dataclass(frozen=True)
class PPOConfig:
    """A training run. ``timesteps`` counts agent steps (one per agent per env step)."""

    task: str = "rl_tutorial"
    seed: int = 0
    timesteps: int = 400_000
    n_envs: int = 4
    num_cpus: int = 0
    n_steps: int = 240
    batch_size: int = 960
    n_epochs: int = 6
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: float = 0.01
    net_arch: tuple[int, ...] = (128, 128)
    curve_every: int = 20_000
    curve_episodes: int = 8
    held_out_episodes: int = 30
    torch_threads: int = 1
    task_params: dict[str, Any] = field(default_factory=dict)

    def seeds(self) -> SeedPlan:
        return SeedPlan.from_seed(
            self.seed,
            n_envs=self.n_envs,
            curve_episodes=self.curve_episodes,
            held_out_episodes=self.held_out_episodes,
        )


@dataclass(frozen=True)
class CurvePoint:
    timesteps: int
    wall_s: float
    throughput_mean: float
    masked_actions_chosen: int
    ep_reward_mean: float | None


@dataclass
class TrainResult:
    model: Any
    config: PPOConfig
    seeds: SeedPlan
    curve: list[CurvePoint]
    wall_s: float
    cpu_s: float

    def summary(self) -> dict[str, Any]:
        return {
            "config": {**asdict(self.config), "net_arch": list(self.config.net_arch)},
            "seeds": asdict(self.seeds),
            "curve": [asdict(p) for p in self.curve],
            "wall_s": round(self.wall_s, 1),
            "cpu_s": round(self.cpu_s, 1),
        }


def make_task_env(task: str, params: dict[str, Any] | None = None) -> Any:
    """The task's ParallelEnv for training: action masks on, no structured views."""
    kw: dict[str, Any] = {"params": params} if params else {}
    return make_env(task, action_masks=True, rich_infos=False, **kw)


class _Curve(BaseCallback):
    """Every ``every`` timesteps (and at the end), the learning-curve episodes' throughput."""

    def __init__(
        self,
        env: Any,
        seeds: tuple[int, ...],
        every: int,
        t0: float,
        progress: Callable[[CurvePoint], None] | None = None,
    ) -> None:
        super().__init__()
        self.progress = progress
        self.env = env
        self.seeds = seeds
        self.every = every
        self.t0 = t0
        self.points: list[CurvePoint] = []
        self._next = 0

    def record(self) -> None:
        eps = play_episodes(self.env, model_act(self.model), self.seeds)
        buf = self.model.ep_info_buffer
        rew = float(np.mean([e["r"] for e in buf])) if buf else None
        self.points.append(
            CurvePoint(
                timesteps=int(self.num_timesteps),
                wall_s=round(time.perf_counter() - self.t0, 2),
                throughput_mean=float(np.mean([e["throughput"] for e in eps])),
                masked_actions_chosen=sum(e["masked_actions_chosen"] for e in eps),
                ep_reward_mean=rew,
            )
        )
        if self.progress is not None:
            self.progress(self.points[-1])

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self.record()
            self._next = self.num_timesteps + self.every
        return True


def _cpu_s() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def train_ppo(
    config: PPOConfig,
    *,
    verbose: int = 0,
    progress: Callable[[CurvePoint], None] | None = None,
) -> TrainResult:
    """Train a shared MaskablePPO policy on ``config.task``; see the module docstring.
    ``progress`` gets each learning-curve point as it is made. ``cpu_s`` counts this
    process and its finished worker processes."""
    import torch

    torch.set_num_threads(config.torch_threads)
    seeds = config.seeds()
    t0 = time.perf_counter()
    cpu0 = _cpu_s()
    env = make_task_env(config.task, config.task_params)
    vec = make_vec_env(env, config.n_envs, num_cpus=config.num_cpus)
    venv = VecMonitor(vec)
    try:
        model = MaskablePPO(
            "MlpPolicy",
            venv,
            n_steps=config.n_steps,
            batch_size=config.batch_size,
            n_epochs=config.n_epochs,
            learning_rate=config.learning_rate,
            gamma=config.gamma,
            gae_lambda=config.gae_lambda,
            ent_coef=config.ent_coef,
            policy_kwargs={"net_arch": list(config.net_arch)},
            seed=seeds.algo,
            device="cpu",
            verbose=verbose,
        )
        venv.seed(seeds.env)  # the model's constructor seeded it with the learner's seed
        curve_env = make_task_env(config.task, config.task_params)
        curve = _Curve(curve_env, seeds.curve, config.curve_every, t0, progress)
        model.learn(total_timesteps=config.timesteps, callback=curve)
        curve.record()
    finally:
        venv.close()
    return TrainResult(
        model=model,
        config=config,
        seeds=seeds,
        curve=curve.points,
        wall_s=time.perf_counter() - t0,
        cpu_s=_cpu_s() - cpu0,
    )
