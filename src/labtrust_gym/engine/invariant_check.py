"""Does every invariant of the policy name a registered handler?

The invariant registry is policy data, the handlers are code (built-ins and plugins), so
the check belongs here, above both. ``labtrust validate-policy`` reports the problems, and
every run checks them before it builds the engine: an invariant whose handler is unknown
is a :class:`~labtrust_gym.errors.PolicyValidationError` naming the invariant, its file and
its key path, not a bare "unknown invariant handler" from deep in the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labtrust_gym.engine.invariants_runtime import HANDLERS

__all__ = ["invariant_handler_problems"]


def invariant_handler_problems(doc: Any, source: str) -> list[tuple[str, str, str]]:
    """``(file, path, message)`` for each invariant of ``doc`` (an invariant registry
    document) whose ``logic_template`` names no registered handler."""
    problems: list[tuple[str, str, str]] = []
    invariants = doc.get("invariants") if isinstance(doc, Mapping) else None
    if not isinstance(invariants, (list, tuple)):
        return problems
    for i, inv in enumerate(invariants):
        if not isinstance(inv, Mapping):
            continue
        lt = inv.get("logic_template")
        if not isinstance(lt, Mapping) or not isinstance(lt.get("parameters"), Mapping):
            continue  # the schema check reports it
        params = lt["parameters"]
        key = f"{lt.get('type')}.{params.get('check')}"
        if key in HANDLERS:
            continue
        known = ", ".join(HANDLERS.ids())
        problems.append(
            (
                source,
                f"invariants[{i}].logic_template.parameters.check",
                f"invariant {inv.get('invariant_id')} names the handler {key!r}, which is "
                f"not registered (known: {known}); fix type/check, register the handler "
                "(register_invariant_handler or the labtrust_gym.invariant_handlers entry "
                "point) or install the plugin that provides it",
            )
        )
    return problems
