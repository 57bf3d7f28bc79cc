"""Example LabTrust-Gym plugin: the coordination method ``example_noop_coord``.

Registered by LabTrust-Gym from the entry point in pyproject.toml (group
``labtrust_gym.coordination_methods``); importing the package registers nothing.
"""

__version__ = "0.1.0"
