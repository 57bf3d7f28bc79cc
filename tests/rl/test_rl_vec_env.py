"""The SuperSuit vector env with masks: seeding, masks after auto-reset, worker processes."""

from __future__ import annotations

import numpy as np
import pytest

from labtrust_gym.errors import ConfigError
from labtrust_gym.rl import HELD_OUT_MIN, MaskedVecEnv, SeedPlan, make_task_env, make_vec_env


def _vec(n_envs: int, num_cpus: int) -> MaskedVecEnv:
    return make_vec_env(make_task_env("rl_tutorial"), n_envs, num_cpus=num_cpus)


def _trace(vec: MaskedVecEnv, seed: int, steps: int) -> list[bytes]:
    """Observations, rewards and masks of ``steps`` steps of masked random actions."""
    vec.seed(seed)
    obs = vec.reset()
    rng = np.random.default_rng(0)
    out = [obs.tobytes(), vec.action_masks().tobytes()]
    for _ in range(steps):
        acts = np.array([rng.choice(np.flatnonzero(m)) for m in vec.action_masks()])
        obs, rew, _, _ = vec.step(acts)
        out += [obs.tobytes(), rew.tobytes(), vec.action_masks().tobytes()]
    return out


def test_one_slot_per_agent_and_masks_of_the_current_observation() -> None:
    vec = _vec(2, 0)
    try:
        vec.seed(11)
        vec.reset()
        env0 = vec.venv.vec_envs[0].par_env  # the first copy (in-process)
        n_agents = len(env0.possible_agents)
        assert vec.num_envs == 2 * n_agents
        masks = vec.action_masks()
        assert masks.shape == (vec.num_envs, env0.codec.n) and masks.dtype == bool
        assert env0.seed == 11 and vec.venv.vec_envs[1].par_env.seed == 12
        for k, a in enumerate(env0.possible_agents):
            assert np.array_equal(masks[k], env0.action_mask(a).astype(bool))
        # MaskablePPO reads the masks through env_method / has_attr.
        assert vec.has_attr("action_masks")
        assert np.array_equal(np.stack(vec.env_method("action_masks")), masks)
        # Step to the end of the episode: the masks are then the next episode's first ones.
        done = np.zeros(vec.num_envs, dtype=bool)
        for _ in range(env0.task.max_steps):
            _, _, done, infos = vec.step(np.zeros(vec.num_envs, dtype=np.int64))
        assert done.all() and "terminal_observation" in infos[0]
        assert env0.step_count == 0 and env0.seed != 11  # reset, with a seed of its own
        masks = vec.action_masks()
        for k, a in enumerate(env0.possible_agents):
            assert np.array_equal(masks[k], env0.action_mask(a).astype(bool))
    finally:
        vec.close()


def test_worker_processes_run_the_same_episodes_as_in_process() -> None:
    runs = []
    for cpus in (0, 2):
        vec = _vec(2, cpus)
        try:
            runs.append(_trace(vec, 5, 25))
        finally:
            vec.close()
    assert runs[0] == runs[1]
    # The two copies run different episodes (seeds 5 and 6): their observations differ.
    vec = _vec(2, 0)
    try:
        vec.seed(5)
        vec.reset()
        for _ in range(25):
            obs, _, _, _ = vec.step(np.zeros(vec.num_envs, dtype=np.int64))
        half = vec.num_envs // 2
        assert not np.array_equal(obs[:half], obs[half:])
    finally:
        vec.close()


def test_copies_per_worker_would_share_seeds_so_they_are_refused() -> None:
    with pytest.raises(ConfigError, match="num_cpus=2 with n_envs=4"):
        _vec(4, 2)
    with pytest.raises(ConfigError, match="action_masks=True"):
        from labtrust_gym.envs import make_env

        make_vec_env(make_env("rl_tutorial", action_masks=False), 1)


def test_an_env_without_masks_in_infos_is_an_error() -> None:
    class NoMasks:
        num_envs = 1
        observation_space = make_task_env("rl_tutorial").observation_space("runner_03")
        action_space = make_task_env("rl_tutorial").action_space("runner_03")

        def reset(self, seed=None, options=None):  # noqa: ANN001, ANN202 - gymnasium API
            return np.zeros((1, *self.observation_space.shape), np.float32), [{}]

    with pytest.raises(ConfigError, match="slot 0"):
        MaskedVecEnv(NoMasks()).reset()


def test_seed_plan_is_one_seed_through_seed_sequence() -> None:
    a = SeedPlan.from_seed(7, n_envs=4, curve_episodes=5, held_out_episodes=20)
    assert a == SeedPlan.from_seed(7, n_envs=4, curve_episodes=5, held_out_episodes=20)
    b = SeedPlan.from_seed(8, n_envs=4, curve_episodes=5, held_out_episodes=20)
    assert a.held_out != b.held_out and a.env != b.env
    assert len(set(a.held_out)) == 20 and min(a.held_out) >= HELD_OUT_MIN
    assert max(a.curve) < HELD_OUT_MIN and a.env + 4 < HELD_OUT_MIN
