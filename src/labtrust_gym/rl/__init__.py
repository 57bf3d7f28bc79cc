"""Reinforcement learning on LabTrust tasks with Stable-Baselines3 (the ``[rl]`` extra).

``make_vec_env`` (SuperSuit vector envs with action masks, :mod:`.vec_env`),
``train_ppo`` (a shared MaskablePPO policy over a task's agents, :mod:`.train`),
``play_episodes`` / ``baseline_episodes`` (held-out evaluation, :mod:`.evaluate`) and
``SeedPlan`` (every seed from one, :mod:`.seeds`). See docs/rl.md.
"""

from labtrust_gym.rl.evaluate import (
    SUMMARY_METRICS,
    baseline_episodes,
    masked_random_act,
    model_act,
    play_episodes,
    summarize,
)
from labtrust_gym.rl.seeds import HELD_OUT_MIN, SeedPlan
from labtrust_gym.rl.train import CurvePoint, PPOConfig, TrainResult, make_task_env, train_ppo
from labtrust_gym.rl.vec_env import MaskedVecEnv, make_vec_env

__all__ = [
    "CurvePoint",
    "HELD_OUT_MIN",
    "SUMMARY_METRICS",
    "MaskedVecEnv",
    "PPOConfig",
    "SeedPlan",
    "TrainResult",
    "baseline_episodes",
    "make_task_env",
    "make_vec_env",
    "masked_random_act",
    "model_act",
    "play_episodes",
    "summarize",
    "train_ppo",
]
