"""Assurance: the attack catalogue of the security suite, the safety case, security gates
of benchmark runs, and engine mutants that prove the checks notice a broken engine.

The security suite provider registry keeps its public home in
:mod:`labtrust_gym.benchmarks.security_runner`; the default provider runs the catalogue
with :mod:`labtrust_gym.security.suite`. See ``docs/assurance.md``. The names below are
imported on first use, so importing the package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SECURITY_SUITE_FILE": "catalogue",
    "check_catalogue": "catalogue",
    "load_catalogue": "catalogue",
    "SECURITY_GATES_FILE": "gates",
    "check_gates": "gates",
    "load_gates": "gates",
    "MUTANTS": "mutants",
    "MutantError": "mutants",
    "apply_mutant": "mutants",
    "list_mutants": "mutants",
    "coverage_matrix": "report",
    "render_markdown": "report",
    "case_passed": "safety_case",
    "get_safety_case_provider": "safety_case",
    "list_safety_case_providers": "safety_case",
    "register_safety_case_provider": "safety_case",
    "run_safety_case": "safety_case",
    "render_safety_case": "safety_render",
    "run_attack": "suite",
    "run_catalogue": "suite",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)
