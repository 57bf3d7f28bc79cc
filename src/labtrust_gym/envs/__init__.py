"""PettingZoo environments over the lab engine.

``make_env("throughput_sla", seed=0)`` builds the ParallelEnv of a registered task;
``make_aec_env(...)`` the AEC form (PettingZoo's ``parallel_to_aec``).

:class:`LabTrustParallelEnv` is imported on first use: importing this package (the codec,
the core env) does not import PettingZoo and Gymnasium.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labtrust_gym.envs.codec import CONTRACT_ACTIONS, REJECTION_CODES, ActionCodec, Rejection

if TYPE_CHECKING:
    from labtrust_gym.envs.lab_env import LabTrustParallelEnv

__all__ = [
    "ActionCodec",
    "CONTRACT_ACTIONS",
    "LabTrustParallelEnv",
    "REJECTION_CODES",
    "Rejection",
    "make_aec_env",
    "make_env",
]


def make_env(
    task: Any, seed: int | None = None, scale: Any = None, **kwargs: Any
) -> LabTrustParallelEnv:
    """A ParallelEnv for ``task`` (a registered name or a BenchmarkTask instance).

    ``scale`` is a scale preset id or config for the scale-aware tasks; ``timing_mode``,
    ``params`` and ``policy`` go to the task, ``domain`` (default: the lab profile's
    ``domain_id``, else ``hospital_lab``) picks the engine adapter, the rest goes to the
    env. The installed plugins are loaded first, unless
    ``LABTRUST_DISABLE_PLUGIN_AUTOLOAD`` is set.
    """
    from labtrust_gym.benchmarks.tasks import get_task
    from labtrust_gym.domain import make_domain_adapter, resolve_domain_id
    from labtrust_gym.plugins import ensure_plugins_loaded

    ensure_plugins_loaded()
    domain_id = resolve_domain_id(kwargs.pop("domain", None))

    task_kw: dict[str, Any] = {
        k: kwargs.pop(k) for k in ("timing_mode", "params", "policy") if k in kwargs
    }
    if isinstance(task, str):
        cls = get_task(task)
        if scale is not None:
            task_kw["scale_config"] = scale
        task = cls(**task_kw)
    if kwargs.get("engine") is None:
        kwargs["engine"] = make_domain_adapter(domain_id, task)
    return task.make_env(seed=seed, **kwargs)


def make_aec_env(task: Any, seed: int | None = None, scale: Any = None, **kwargs: Any) -> Any:
    from pettingzoo.utils.conversions import parallel_to_aec

    return parallel_to_aec(make_env(task, seed=seed, scale=scale, **kwargs))


def __getattr__(name: str) -> Any:
    if name == "LabTrustParallelEnv":
        from labtrust_gym.envs.lab_env import LabTrustParallelEnv

        return LabTrustParallelEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
