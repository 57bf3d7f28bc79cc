"""The coordination-method registry and catalogue.

``register_coordination_method(method_id, factory)`` with ``factory(policy, repo_root,
scale_config, params) -> CoordinationMethod``. ``make_coordination_method`` merges the
catalogue's ``default_params`` (``policy/coordination/coordination_methods.v0.1.yaml``)
under the caller's params.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from labtrust_gym.config import policy_path
from labtrust_gym.errors import RegistryError, UnknownIdError
from labtrust_gym.policy.loader import load_yaml

__all__ = [
    "register_coordination_method",
    "get_coordination_method_factory",
    "list_coordination_methods",
    "make_coordination_method",
    "load_catalogue",
    "METHOD_ORIGINS",
    "METHOD_OVERRIDES",
]

Factory = Callable[[Any, Any, Any, dict[str, Any]], Any]
_METHODS: dict[str, Factory] = {}
METHOD_ORIGINS: dict[str, str] = {}
METHOD_OVERRIDES: list[dict[str, str]] = []
CATALOGUE = ("coordination", "coordination_methods.v0.1.yaml")


def register_coordination_method(
    method_id: str, factory: Factory, *, override: bool = False, origin: str = "runtime"
) -> None:
    """Register ``factory``; an existing id needs ``override=True`` (recorded)."""
    if not isinstance(method_id, str) or not method_id:
        raise RegistryError(f"coordination method id must be a non-empty string: {method_id!r}")
    if not callable(factory):
        raise RegistryError(f"coordination method {method_id!r}: factory is not callable")
    try:
        inspect.signature(factory).bind(None, None, None, {})
    except TypeError:
        raise RegistryError(
            f"coordination method {method_id!r}: factory {factory!r} must accept "
            "(policy, repo_root, scale_config, params)"
        ) from None
    except ValueError:
        pass  # builtins without a signature: trust the caller
    _ensure()
    if method_id in _METHODS and not override:
        raise RegistryError(
            f"coordination method {method_id!r} is already registered (by "
            f"{METHOD_ORIGINS[method_id]}); pass override=True to replace it"
        )
    if method_id in _METHODS:
        METHOD_OVERRIDES.append(
            {
                "kind": "coordination_method",
                "id": method_id,
                "by": origin,
                "replaced": METHOD_ORIGINS[method_id],
            }
        )
    _METHODS[method_id] = factory
    METHOD_ORIGINS[method_id] = origin


def _ensure() -> None:
    if "scripted_team" not in _METHODS:
        from labtrust_gym.baselines.coordination.scripted_team import make_scripted_team

        _METHODS["scripted_team"] = make_scripted_team
        METHOD_ORIGINS["scripted_team"] = "labtrust_gym (built-in)"


def get_coordination_method_factory(method_id: str) -> Factory:
    _ensure()
    try:
        return _METHODS[method_id]
    except KeyError:
        raise UnknownIdError(
            f"unknown coordination method {method_id!r}; known: {', '.join(sorted(_METHODS))}"
        ) from None


def list_coordination_methods() -> list[str]:
    _ensure()
    return sorted(_METHODS)


def load_catalogue(repo_root: Any = None) -> dict[str, Any]:
    doc = load_yaml(policy_path(repo_root, *CATALOGUE))
    methods = doc.get("methods") if isinstance(doc, dict) else None
    if not isinstance(methods, dict):
        raise RegistryError(f"{policy_path(repo_root, *CATALOGUE)}: expected a mapping 'methods'")
    return methods


def make_coordination_method(
    method_id: str,
    policy: Any = None,
    repo_root: Any = None,
    scale_config: Any = None,
    params: dict[str, Any] | None = None,
) -> Any:
    factory = get_coordination_method_factory(method_id)
    entry = load_catalogue(repo_root).get(method_id, {})
    merged = dict(entry.get("default_params") or {})
    merged.update(params or {})
    return factory(policy, repo_root, scale_config, merged)
