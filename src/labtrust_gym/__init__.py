"""LabTrust-Gym: a multi-agent environment for hospital pathology-lab automation."""

from labtrust_gym._version import __version__

__all__ = ["__version__"]
