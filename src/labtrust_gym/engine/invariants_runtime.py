"""Invariant handlers: the registry and its compiled, per-action-type dispatch.

An invariant in ``policy/invariants/invariant_registry.v0.1.yaml`` names a handler by
``<logic_template.type>.<logic_template.parameters.check>``. A handler has the signature
``(env, event, params) -> (passed, reason_code, details) | None``; ``None`` means the check
does not apply to this step. ``env`` is the engine; ``env.step_ctx`` holds the ids the
current step touched, so a handler looks only at what can have changed.

The engine checks every return value (:func:`evaluate`): anything but ``None`` or a
3-tuple ``(bool, registered reason code | None, dict | None)`` — a string ``"yes"``, a
bare ``True``, a list — is a bug of the handler and raises
:class:`~labtrust_gym.errors.RegistryError` naming the invariant and the handler; it never
counts as a pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from labtrust_gym.errors import RegistryError
from labtrust_gym.registry import BUILTIN_ORIGIN, Registry, require_signature

__all__ = [
    "InvariantHandler",
    "register_invariant_handler",
    "get_invariant_handler",
    "list_invariant_handlers",
    "HANDLERS",
    "CompiledInvariant",
    "compile_invariants",
    "evaluate",
    "check_outcome",
]

InvariantHandler = Callable[
    [Any, dict[str, Any], dict[str, Any]], "tuple[bool, str | None, dict[str, Any] | None] | None"
]


def _check(key: str, handler: Any) -> None:
    logic_type, _, check_name = key.partition(".")
    if not logic_type or not check_name or "." in check_name:
        raise RegistryError(
            f"invariant handler key {key!r} must be 'type.check_name' with two non-empty parts"
        )
    require_signature("invariant handler", key, handler, (None, {}, {}), "(env, event, params)")


def _builtins() -> None:
    from labtrust_gym.engine.invariants_builtin import BUILTIN_HANDLERS

    for (logic_type, check), fn in BUILTIN_HANDLERS.items():
        register_invariant_handler(logic_type, check, fn, origin=BUILTIN_ORIGIN)


HANDLERS: Registry[InvariantHandler] = Registry(
    "invariant handler", check=_check, load_builtins=_builtins, plugins=True
)


def register_invariant_handler(
    logic_type: str,
    check_name: str,
    handler: InvariantHandler,
    *,
    override: bool = False,
    origin: str = "runtime",
) -> None:
    """Register ``handler`` under ``"<logic_type>.<check_name>"``.

    Registering a key that exists raises :class:`RegistryError` unless ``override=True``;
    overrides are recorded.
    """
    if "." in logic_type:
        raise RegistryError(
            f"invariant handler key {logic_type!r}.{check_name!r} must be 'type.check_name' "
            "with two non-empty parts"
        )
    HANDLERS.register(f"{logic_type}.{check_name}", handler, override=override, origin=origin)


def get_invariant_handler(key: str) -> InvariantHandler:
    return HANDLERS.get(key)


def list_invariant_handlers() -> dict[str, str]:
    """``key -> origin`` of every registered handler."""
    HANDLERS.ids()
    return dict(sorted(HANDLERS.origins.items()))


@dataclass(frozen=True, slots=True)
class CompiledInvariant:
    """An invariant of the policy bound to its registered handler."""

    invariant_id: str
    severity: str
    reason_code: str
    handler: InvariantHandler
    params: dict[str, Any]
    handler_key: str = ""


def _bad_outcome(inv: CompiledInvariant, out: Any, why: str) -> RegistryError:
    shown = repr(out)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return RegistryError(
        f"invariant {inv.invariant_id}: handler {inv.handler_key!r} returned {shown} "
        f"({why}); a handler returns None (not applicable) or (passed: bool, "
        "reason_code: str | None, details: dict | None)"
    )


def evaluate(
    inv: CompiledInvariant, env: Any, event: Any, reason_codes: Any
) -> tuple[bool, str | None, dict[str, Any] | None] | None:
    """Run ``inv``'s handler and check what it returned (see the module docstring).

    Returns None when the check does not apply or passed, else the failing outcome.
    ``reason_codes`` is the set of registered codes a failing outcome may name.
    """
    out = inv.handler(env, event, inv.params)
    if out is None:
        return None
    return check_outcome(inv, out, reason_codes)


def check_outcome(
    inv: CompiledInvariant, out: Any, reason_codes: Any
) -> tuple[bool, str | None, dict[str, Any] | None] | None:
    """:func:`evaluate` for a return value ``out`` that is not None (the hot path calls
    the handler itself and checks only what is not None)."""
    if type(out) is not tuple or len(out) != 3:
        raise _bad_outcome(inv, out, "not None or a 3-tuple")
    passed, code, details = out
    if type(passed) is not bool:
        if not isinstance(passed, np.bool_):  # what numpy comparisons return
            raise _bad_outcome(inv, out, "passed is not a bool")
        passed = bool(passed)
    if code is not None and (not isinstance(code, str) or code not in reason_codes):
        raise _bad_outcome(inv, out, "reason_code is not a registered reason code")
    if details is not None and not isinstance(details, dict):
        raise _bad_outcome(inv, out, "details is not a dict")
    if passed:
        return None
    return (False, code, details)


def compile_invariants(entries: list[dict[str, Any]]) -> dict[str, tuple[CompiledInvariant, ...]]:
    """Map each trigger (action type or CLOCK) to the invariants it must evaluate."""
    by_trigger: dict[str, list[CompiledInvariant]] = {}
    for inv in entries:
        lt = inv["logic_template"]
        params = dict(lt.get("parameters", {}))
        key = f"{lt['type']}.{params['check']}"
        handler = get_invariant_handler(key)
        ci = CompiledInvariant(
            inv["invariant_id"], inv["severity"], inv["reason_code"], handler, params, key
        )
        for trig in inv["triggers"]:
            by_trigger.setdefault(trig, []).append(ci)
    return {k: tuple(v) for k, v in by_trigger.items()}
