"""Assurance artifacts: the safety case (claims backed by evidence from real artifacts).

The security suite (attacks run as benchmark episodes) lives in
:mod:`labtrust_gym.benchmarks.security_runner`.
"""

from labtrust_gym.security.safety_case import (
    get_safety_case_provider,
    list_safety_case_providers,
    register_safety_case_provider,
    run_safety_case,
)

__all__ = [
    "get_safety_case_provider",
    "list_safety_case_providers",
    "register_safety_case_provider",
    "run_safety_case",
]
