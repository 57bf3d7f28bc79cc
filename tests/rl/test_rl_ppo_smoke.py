"""CI smoke test of the RL pipeline: a tiny MaskablePPO training run on rl_tutorial through
SuperSuit's vector envs, then an evaluation. The budget is a few hundred steps; the
learning itself is measured by examples/rl_ppo (docs/rl.md)."""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.rl import (
    PPOConfig,
    TrainResult,
    baseline_episodes,
    make_task_env,
    model_act,
    play_episodes,
    train_ppo,
)

TINY = PPOConfig(
    timesteps=512,
    n_envs=2,
    num_cpus=0,
    n_steps=64,
    batch_size=128,
    n_epochs=2,
    net_arch=(32, 32),
    curve_every=256,
    curve_episodes=1,
    held_out_episodes=2,
)


@cache
def _trained(num_cpus: int = 0) -> TrainResult:
    from dataclasses import replace

    return train_ppo(replace(TINY, num_cpus=num_cpus))


def test_training_respects_the_masks_and_records_a_curve() -> None:
    res = _trained()
    buf = res.model.rollout_buffer
    # The last rollout: every action taken was allowed by the mask it was taken under.
    acts = buf.actions.reshape(-1).astype(int)
    masks = buf.action_masks.reshape(len(acts), -1)
    assert masks.shape[1] == make_task_env("rl_tutorial").codec.n
    assert masks[np.arange(len(acts)), acts].all()
    # ...and the masks were real ones (not all-ones), so that check can fail.
    assert masks.mean() < 0.2
    assert res.model.num_timesteps >= TINY.timesteps
    assert [p.timesteps for p in res.curve] == sorted(p.timesteps for p in res.curve)
    assert len(res.curve) >= 3 and all(p.masked_actions_chosen == 0 for p in res.curve)
    assert res.wall_s > 0 and res.cpu_s > 0


def test_held_out_evaluation_uses_the_masks_and_the_runner_metrics() -> None:
    res = _trained()
    env = make_task_env("rl_tutorial")
    seeds = res.seeds.held_out
    eps = play_episodes(env, model_act(res.model, deterministic=False), seeds)
    assert [e["seed"] for e in eps] == list(seeds)
    assert all(e["masked_actions_chosen"] == 0 for e in eps)
    assert all(e["steps"] == env.task.max_steps for e in eps)
    # The same seeds as the runner's baselines: the same arrivals.
    scripted = baseline_episodes(get_task("rl_tutorial")(), seeds, "scripted")
    assert [e["specimens_arrived"] for e in eps] == [e["specimens_arrived"] for e in scripted]
    assert all(e["throughput"] == e["specimens_arrived"] for e in scripted)


def test_an_unmasked_policy_is_counted_choosing_masked_actions() -> None:
    env = make_task_env("rl_tutorial")
    n = env.codec.n
    eps = play_episodes(env, lambda obs, masks: np.full(len(masks), n - 1), [1])
    # VERIFY_AUDIT (the last index) is open to none of the tutorial's roles but the scientist.
    assert eps[0]["masked_actions_chosen"] > 0


def test_same_seed_same_policy_in_worker_processes() -> None:
    """Training with the env copies in two worker processes gives the very same weights
    as in-process: the seeds, not the process layout, decide the run."""
    a = _trained(0).model.policy.state_dict()
    b = _trained(2).model.policy.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
