"""Benchmark tasks: the BenchmarkTask contract, the registry and the built-in tasks."""

from labtrust_gym.benchmarks.tasks.base import BenchmarkTask
from labtrust_gym.benchmarks.tasks.registry import (
    get_task,
    list_tasks,
    make_task,
    register_task,
)

__all__ = ["BenchmarkTask", "get_task", "list_tasks", "make_task", "register_task"]
