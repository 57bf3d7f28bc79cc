"""The task registry: ``register_task(name, task_class)``, ``get_task``, ``list_tasks``."""

from __future__ import annotations

import importlib
from functools import partial
from typing import Any

from labtrust_gym.errors import RegistryError
from labtrust_gym.registry import BUILTIN_ORIGIN, Registry

__all__ = ["register_task", "get_task", "list_tasks", "make_task", "TASKS"]


def _check(name: str, task_class: Any) -> None:
    from labtrust_gym.benchmarks.tasks.base import BenchmarkTask

    if not isinstance(task_class, type) or not issubclass(task_class, BenchmarkTask):
        raise RegistryError(
            f"task {name!r}: {task_class!r} is not a subclass of "
            "labtrust_gym.benchmarks.tasks.BenchmarkTask; register the class, not an instance"
        )
    if task_class.name != name:
        raise RegistryError(
            f"task {name!r}: {task_class.__qualname__}.name is {task_class.name!r}; a task is "
            "registered under its own name (results report it)"
        )


def _builtins() -> None:
    from labtrust_gym.benchmarks.tasks.builtin import BUILTIN_TASKS

    for name, target in BUILTIN_TASKS.items():
        TASKS.register_lazy(name, partial(_import, target), origin=BUILTIN_ORIGIN)


def _import(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


TASKS: Registry[type] = Registry("task", check=_check, load_builtins=_builtins, plugins=True)


def register_task(
    name: str, task_class: type, *, override: bool = False, origin: str = "runtime"
) -> None:
    """Register ``task_class`` (a BenchmarkTask subclass) under ``name``."""
    TASKS.register(name, task_class, override=override, origin=origin)


def get_task(name: str) -> type:
    return TASKS.get(name)


def make_task(name: str, **kwargs: Any) -> Any:
    return get_task(name)(**kwargs)


def list_tasks() -> list[str]:
    return TASKS.ids()
