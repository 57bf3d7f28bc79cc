"""Invariant handlers: the registry and its compiled, per-action-type dispatch.

An invariant in ``policy/invariants/invariant_registry.v0.1.yaml`` names a handler by
``<logic_template.type>.<logic_template.parameters.check>``. A handler has the signature
``(env, event, params) -> (passed, reason_code, details) | None``; ``None`` means the check
does not apply to this step. ``env`` is the engine; ``env.step_ctx`` holds the ids the
current step touched, so a handler looks only at what can have changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    invariant_id: str
    severity: str
    reason_code: str
    handler: InvariantHandler
    params: dict[str, Any]


def compile_invariants(entries: list[dict[str, Any]]) -> dict[str, tuple[CompiledInvariant, ...]]:
    """Map each trigger (action type or CLOCK) to the invariants it must evaluate."""
    by_trigger: dict[str, list[CompiledInvariant]] = {}
    for inv in entries:
        lt = inv["logic_template"]
        params = dict(lt.get("parameters", {}))
        handler = get_invariant_handler(f"{lt['type']}.{params['check']}")
        ci = CompiledInvariant(
            inv["invariant_id"], inv["severity"], inv["reason_code"], handler, params
        )
        for trig in inv["triggers"]:
            by_trigger.setdefault(trig, []).append(ci)
    return {k: tuple(v) for k, v in by_trigger.items()}
