"""The PettingZoo ParallelEnv over the lab engine.

:class:`LabTrustParallelEnv` is :class:`~labtrust_gym.envs.core.LabEnvCore` (where steps,
observations, rewards, infos, masks and pickling are documented and implemented) with
``pettingzoo.ParallelEnv`` as a base class, so that PettingZoo's and SuperSuit's wrappers,
vector envs and API tests take it.
"""

from __future__ import annotations

from pettingzoo import ParallelEnv

from labtrust_gym.envs.core import LabEnvCore, pz_name

__all__ = ["LabTrustParallelEnv", "pz_name"]


class LabTrustParallelEnv(LabEnvCore, ParallelEnv):
    """A task's lab as a PettingZoo ParallelEnv (see :mod:`labtrust_gym.envs.core`)."""
