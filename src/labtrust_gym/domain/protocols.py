"""The contracts of a domain: the engine-level adapter and the env a benchmark drives.

* :class:`LabTrustEnvAdapter` is what a domain factory returns
  (``factory(workflow_spec, config) -> adapter``): ``reset(initial_state, seed)``,
  ``step(event) -> result``, ``query(kind, ident=None, **filters)``; an adapter may add
  ``step_batch(events)`` with the semantics of calling ``step`` for each event in order.
  The built-in ``hospital_lab`` adapter is :class:`~labtrust_gym.engine.LabEngine`.
* :class:`BenchmarkEnv` is the env side: ``agents``, ``reset``, ``step`` and the lab's
  ``get_device_ids()``, ``get_zone_ids()``, ``get_dt_s()`` (what coordination methods
  and timing read). :class:`~labtrust_gym.envs.LabTrustParallelEnv` implements it.

Both are runtime-checkable protocols: ``isinstance(obj, LabTrustEnvAdapter)`` checks that
the methods exist (not their signatures).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["LabTrustEnvAdapter", "BenchmarkEnv"]


@runtime_checkable
class LabTrustEnvAdapter(Protocol):
    """A domain's engine: reset to an initial state, step one event, query state."""

    def reset(self, initial_state: Mapping[str, Any] | None = None, seed: int = 0) -> Any: ...

    def step(self, event: Any) -> Mapping[str, Any]: ...

    def query(self, kind: str, ident: str | None = None, **filters: Any) -> Any: ...


@runtime_checkable
class BenchmarkEnv(Protocol):
    """The env a benchmark task runs (a PettingZoo ParallelEnv with the lab's ids)."""

    agents: list[str]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> Any: ...

    def step(self, actions: dict[str, Any]) -> Any: ...

    def get_device_ids(self) -> list[str]: ...

    def get_zone_ids(self) -> list[str]: ...

    def get_dt_s(self) -> float: ...
