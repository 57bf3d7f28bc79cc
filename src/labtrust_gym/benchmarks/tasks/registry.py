"""The task registry: ``register_task(name, task_class)``, ``get_task``, ``list_tasks``."""

from __future__ import annotations

from typing import Any

from labtrust_gym.errors import RegistryError, UnknownIdError

__all__ = ["register_task", "get_task", "list_tasks", "make_task", "TASK_ORIGINS", "TASK_OVERRIDES"]

_TASKS: dict[str, type] = {}
TASK_ORIGINS: dict[str, str] = {}
TASK_OVERRIDES: list[dict[str, str]] = []


def register_task(
    name: str, task_class: type, *, override: bool = False, origin: str = "runtime"
) -> None:
    """Register ``task_class`` (a BenchmarkTask subclass) under ``name``.

    An existing name raises :class:`RegistryError` unless ``override=True`` (recorded).
    """
    from labtrust_gym.benchmarks.tasks.base import BenchmarkTask

    if not isinstance(task_class, type) or not issubclass(task_class, BenchmarkTask):
        raise RegistryError(
            f"task {name!r}: {task_class!r} is not a subclass of "
            "labtrust_gym.benchmarks.tasks.BenchmarkTask; register the class, not an instance"
        )
    if not isinstance(name, str) or not name:
        raise RegistryError(f"task name must be a non-empty string, got {name!r}")
    if name in _TASKS and not override:
        raise RegistryError(
            f"task {name!r} is already registered (by {TASK_ORIGINS[name]}); "
            "pass override=True to replace it"
        )
    if name in _TASKS:
        TASK_OVERRIDES.append(
            {"kind": "task", "id": name, "by": origin, "replaced": TASK_ORIGINS[name]}
        )
    _TASKS[name] = task_class
    TASK_ORIGINS[name] = origin


def _ensure() -> None:
    if "throughput_sla" not in _TASKS:
        import labtrust_gym.benchmarks.tasks.builtin  # noqa: F401  (registers built-ins)


def get_task(name: str) -> type:
    _ensure()
    try:
        return _TASKS[name]
    except KeyError:
        raise UnknownIdError(
            f"unknown task {name!r}; known tasks: {', '.join(sorted(_TASKS))}"
        ) from None


def make_task(name: str, **kwargs: Any) -> Any:
    return get_task(name)(**kwargs)


def list_tasks() -> list[str]:
    _ensure()
    return sorted(_TASKS)
