"""Test support shipped with the package: the golden scenario suite runner."""

from labtrust_gym.testing.golden import load_golden_scenarios, run_golden_scenario

__all__ = ["load_golden_scenarios", "run_golden_scenario"]
