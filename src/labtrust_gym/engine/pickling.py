"""Pickling support for the read-only mappings of frozen policy documents.

A loaded policy is frozen into ``types.MappingProxyType`` views (see
:func:`labtrust_gym.policy.loader.load_policy`), which the standard library cannot pickle
or deep-copy. Engines and envs hold them (the policy bundle, the compiled world), so
vector-env wrappers that copy envs into worker processes (SuperSuit, Stable-Baselines3's
``SubprocVecEnv``) and ``copy.deepcopy`` failed. :func:`register_policy_pickling` teaches
``copyreg`` to rebuild such a view from a plain dict copy of what it shows; it is called
when the engine module is imported and is idempotent.
"""

from __future__ import annotations

import copyreg
from types import MappingProxyType
from typing import Any

__all__ = ["register_policy_pickling", "rebuild_mapping_proxy"]


def rebuild_mapping_proxy(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    """A read-only view of ``items`` (the unpickling side)."""
    return MappingProxyType(items)


def _reduce(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return rebuild_mapping_proxy, (dict(proxy),)


def register_policy_pickling() -> None:
    """Make ``MappingProxyType`` picklable and deep-copyable (by value)."""
    copyreg.pickle(MappingProxyType, _reduce)
