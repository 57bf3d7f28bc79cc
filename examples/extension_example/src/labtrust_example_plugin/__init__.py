"""Example LabTrust-Gym plugin.

The package registers nothing when imported: the task is registered by LabTrust-Gym from
the entry point in pyproject.toml (group ``labtrust_gym.tasks``), when the ``labtrust``
command starts, on first use of a registry, or when a lab profile lists this package in
``extension_packages`` (policy/lab_profiles/example.v0.1.yaml).
"""

__version__ = "0.1.0"
