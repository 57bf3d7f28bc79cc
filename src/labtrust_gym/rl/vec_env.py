"""A Stable-Baselines3 vector env over SuperSuit's vector envs of a LabTrust task, with masks.

SuperSuit turns the PettingZoo ParallelEnv into a vector env with one slot per agent
(``pettingzoo_env_to_vec_env_v1``: a shared policy acts for every agent) and concatenates
copies of it, in worker processes when ``num_cpus`` > 1 (``concat_vec_envs_v1``, which
pickles the env). :class:`MaskedVecEnv` adapts the result (``base_class="gymnasium"``) to
SB3's ``VecEnv`` API and exposes ``action_masks()``, which sb3-contrib's ``MaskablePPO``
reads before every action: the masks of the observations last returned, taken from the
agents' ``infos["action_mask"]`` (after an episode ends, the masks of the first
observation of the next one: SuperSuit merges the reset infos over the last step's).

Seeds: ``reset`` passes the seed of :meth:`MaskedVecEnv.seed` to SuperSuit, which gives
env copy ``k`` the seed ``seed + k`` (each env then draws its next episodes' seeds from a
generator of its own seed). SuperSuit adds the worker's index and the copy's index within
the worker, so two copies per worker would share seeds; :func:`make_vec_env` therefore
runs one copy per worker (or all copies in this process with ``num_cpus=0``).

SuperSuit's own SB3 wrapper (``base_class="stable_baselines3"``) drops the seed on
``reset`` and has no masks, hence this adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import supersuit as ss
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)
from supersuit.vector.multiproc_vec import decompress_info

from labtrust_gym.errors import ConfigError

__all__ = ["MaskedVecEnv", "make_vec_env"]


class MaskedVecEnv(VecEnv):
    """SB3 ``VecEnv`` over a gymnasium-style SuperSuit vector env; ``action_masks()`` gives
    the boolean masks ``(num_envs, n_actions)`` of the current observations."""

    def __init__(self, venv: Any) -> None:
        super().__init__(venv.num_envs, venv.observation_space, venv.action_space)
        self.venv = venv
        self.n_actions = int(venv.action_space.n)
        self._masks = np.ones((self.num_envs, self.n_actions), dtype=bool)
        self._actions: np.ndarray | None = None
        self.reset_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]

    # ------------------------------------------------------------------ masks ---------
    def _take_masks(self, infos: Sequence[dict[str, Any]]) -> None:
        for i, info in enumerate(infos):
            m = info.get("action_mask")
            if m is None:
                raise ConfigError(
                    f"vector env slot {i}: its info has no 'action_mask'; build the env with "
                    "action_masks=True (the default for teams of at most 64 agents)"
                )
            self._masks[i] = m

    def action_masks(self) -> np.ndarray:
        """A copy of the masks of the current observations (True = plausible action)."""
        return self._masks.copy()

    # ------------------------------------------------------------------ VecEnv API ----
    def reset(self) -> VecEnvObs:
        seed = self._seeds[0]
        if seed is not None:
            obs, infos = self.venv.reset(seed=int(seed))
        else:
            obs, infos = self.venv.reset()
        self._reset_seeds()
        starts = getattr(self.venv, "idx_starts", None)
        if starts is not None:
            # SuperSuit's worker-process vector env returns on reset, per worker, the
            # (index, info) pairs of its non-empty infos (as it sends them), not a list.
            infos = decompress_info(self.num_envs, starts, infos)
        self.reset_infos = list(infos)
        self._take_masks(infos)
        return obs

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """The seed of the next ``reset`` (env copy ``k`` gets ``seed + k``)."""
        if seed is None:
            return self._seeds
        self._seeds = [int(seed) + idx for idx in range(self.num_envs)]
        return self._seeds

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async first"
        obs, rewards, terms, truncs, infos = self.venv.step(self._actions)
        self._actions = None
        infos = list(infos)
        self._take_masks(infos)
        dones = np.logical_or(terms, truncs)
        return obs, np.asarray(rewards, dtype=np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return list(indices)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        idx = self._indices(indices)
        if attr_name == "action_masks":
            return [self.action_masks for _ in idx]
        if attr_name == "render_mode":
            return [None for _ in idx]
        raise AttributeError(f"MaskedVecEnv exposes action_masks and render_mode, not {attr_name}")

    def has_attr(self, attr_name: str) -> bool:
        return attr_name in ("action_masks", "render_mode")

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(f"MaskedVecEnv cannot set {attr_name} in its worker envs")

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        if method_name != "action_masks":
            raise AttributeError(f"MaskedVecEnv has no env method {method_name}")
        return [self._masks[i].copy() for i in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]


def make_vec_env(env: Any, n_envs: int, *, num_cpus: int = 0) -> MaskedVecEnv:
    """``n_envs`` copies of the ParallelEnv ``env`` (made with action masks), one slot per
    agent each, through SuperSuit's ``pettingzoo_env_to_vec_env_v1`` and
    ``concat_vec_envs_v1``: in this process (``num_cpus`` 0 or 1) or one worker process per
    copy (``num_cpus`` = ``n_envs``; other values would make copies share seeds, see the
    module docstring). Seed it with ``.seed(s)`` before the first ``reset``."""
    if n_envs < 1:
        raise ConfigError(f"n_envs must be >= 1, got {n_envs}")
    if num_cpus > 1 and num_cpus != n_envs:
        raise ConfigError(
            f"num_cpus={num_cpus} with n_envs={n_envs}: use num_cpus=0 (all copies in this "
            f"process) or num_cpus={n_envs} (one copy per worker); SuperSuit seeds copy j of "
            "worker i with seed + i + j, so several copies per worker would share seeds"
        )
    if not getattr(env, "action_masks", False):
        raise ConfigError("make_vec_env needs an env built with action_masks=True")
    vec = ss.pettingzoo_env_to_vec_env_v1(env)
    cat = ss.concat_vec_envs_v1(vec, n_envs, num_cpus=num_cpus, base_class="gymnasium")
    return MaskedVecEnv(cat)
