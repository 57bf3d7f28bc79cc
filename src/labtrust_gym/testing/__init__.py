"""Test support shipped with the package: the golden suite runner, env/task checks and
the hostile-action fuzzer."""

from labtrust_gym.testing.env_checks import check_task, trajectory_hash
from labtrust_gym.testing.fuzz import ActionFuzzer, hostile_kinds
from labtrust_gym.testing.golden import load_golden_scenarios, run_golden_scenario

__all__ = [
    "ActionFuzzer",
    "check_task",
    "hostile_kinds",
    "load_golden_scenarios",
    "run_golden_scenario",
    "trajectory_hash",
]
