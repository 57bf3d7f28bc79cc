"""A pytest plugin that runs a test session against an engine mutant.

``LABTRUST_MUTANT=skip_rbac python -m pytest -p labtrust_gym.security.mutant_plugin
tests/engine`` applies the mutant (comma-separated ids stack) before the first test and
removes it after the last; the session header names it. Without the variable the plugin
does nothing. The kill matrix (:mod:`labtrust_gym.security.mutant_matrix`) uses it for its
pytest column.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from labtrust_gym.security.mutants import MUTANT_ENV, apply_mutant

__all__ = ["pytest_configure", "pytest_unconfigure", "pytest_report_header"]

_ACTIVE: list[contextlib.ExitStack[Any]] = []


def _ids() -> list[str]:
    return [m for m in os.environ.get(MUTANT_ENV, "").split(",") if m.strip()]


def pytest_configure(config: Any) -> None:
    ids = _ids()
    if not ids:
        return
    stack = contextlib.ExitStack()
    stack.enter_context(apply_mutant(*ids))
    _ACTIVE.append(stack)


def pytest_unconfigure(config: Any) -> None:
    while _ACTIVE:
        _ACTIVE.pop().close()


def pytest_report_header(config: Any) -> str | None:
    ids = _ids()
    return f"labtrust engine mutant: {', '.join(ids)}" if ids else None
