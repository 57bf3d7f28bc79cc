"""Test support shipped with the package: the golden suite runner and env/task checks."""

from labtrust_gym.testing.env_checks import check_task, trajectory_hash
from labtrust_gym.testing.golden import load_golden_scenarios, run_golden_scenario

__all__ = ["check_task", "load_golden_scenarios", "run_golden_scenario", "trajectory_hash"]
