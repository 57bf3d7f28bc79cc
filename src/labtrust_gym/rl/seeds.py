"""Every seed of a training run, from one seed through ``numpy.random.SeedSequence``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SeedPlan", "HELD_OUT_MIN"]

#: Held-out evaluation seeds are drawn at or above this; training episodes never reach it
#: (the first reset gives env copy k the seed ``env + k``, below it, and each env draws its
#: later episodes' seeds in ``[0, 2**31 - 1)``), so held-out seeds are unseen by design.
HELD_OUT_MIN = 2**31


@dataclass(frozen=True)
class SeedPlan:
    """The seeds of one run, children of ``SeedSequence(seed)`` at fixed indices:
    ``env`` (first reset of the training vector env), ``algo`` (the learner: torch,
    action sampling), ``curve`` (episodes of the learning curve, also below
    :data:`HELD_OUT_MIN`) and ``held_out`` (final evaluation, at or above it)."""

    seed: int
    env: int
    algo: int
    curve: tuple[int, ...]
    held_out: tuple[int, ...]

    @classmethod
    def from_seed(
        cls, seed: int, *, n_envs: int, curve_episodes: int, held_out_episodes: int
    ) -> SeedPlan:
        env_ss, algo_ss, curve_ss, held_ss = np.random.SeedSequence(int(seed)).spawn(4)
        env = int(np.random.default_rng(env_ss).integers(0, HELD_OUT_MIN - 1 - n_envs))
        algo = int(np.random.default_rng(algo_ss).integers(0, 2**31 - 1))
        curve = np.random.default_rng(curve_ss).integers(0, HELD_OUT_MIN - 1, curve_episodes)
        held = np.random.default_rng(held_ss).integers(HELD_OUT_MIN, 2**62, held_out_episodes)
        return cls(
            seed=int(seed),
            env=env,
            algo=algo,
            curve=tuple(int(s) for s in curve),
            held_out=tuple(int(s) for s in held),
        )
