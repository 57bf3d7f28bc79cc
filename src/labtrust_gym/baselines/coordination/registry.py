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

from labtrust_gym.errors import RegistryError
from labtrust_gym.policy.loader import load_yaml
from labtrust_gym.registry import BUILTIN_ORIGIN, Registry

__all__ = [
    "register_coordination_method",
    "get_coordination_method_factory",
    "list_coordination_methods",
    "make_coordination_method",
    "load_catalogue",
    "METHODS",
]

Factory = Callable[[Any, Any, Any, dict[str, Any]], Any]
CATALOGUE = ("coordination", "coordination_methods.v0.1.yaml")


def _check(method_id: str, factory: Any) -> None:
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


#: Built-in methods: id -> "module:Class" under labtrust_gym.baselines.coordination (a
#: CoordinationMethod subclass is its own factory: ``Class(policy, repo_root,
#: scale_config, params)``).
BUILTIN_METHODS = {
    "scripted_team": "scripted_team:ScriptedTeamMethod",
    "centralized_planner": "centralized:CentralizedPlanner",
    "whca_router": "whca:WHCARouting",
    "market_auction": "market:ContractNet",
    "hierarchical_hub": "hierarchical:HierarchicalHub",
    "swarm_stigmergy": "swarm:SwarmStigmergy",
    "gossip_consensus": "gossip:GossipConsensus",
    "llm_dispatcher": "llm_dispatcher:LLMDispatcher",
}


def _builtins() -> None:
    import importlib

    for method_id, target in BUILTIN_METHODS.items():
        mod, _, fn = target.partition(":")
        module = importlib.import_module(f"labtrust_gym.baselines.coordination.{mod}")
        METHODS.register(method_id, getattr(module, fn), origin=BUILTIN_ORIGIN)


METHODS: Registry[Factory] = Registry(
    "coordination method", check=_check, load_builtins=_builtins, plugins=True
)


def register_coordination_method(
    method_id: str, factory: Factory, *, override: bool = False, origin: str = "runtime"
) -> None:
    """Register ``factory``; an existing id needs ``override=True`` (recorded)."""
    METHODS.register(method_id, factory, override=override, origin=origin)


def get_coordination_method_factory(method_id: str) -> Factory:
    return METHODS.get(method_id)


def list_coordination_methods() -> list[str]:
    return METHODS.ids()


def load_catalogue(repo_root: Any = None) -> dict[str, Any]:
    """``method_id -> entry`` of the coordination-method catalogue.

    The entries of every artifact root's ``coordination/coordination_methods.v0.1.yaml``
    are merged (an id defined in two roots is an
    :class:`~labtrust_gym.artifacts.ArtifactCollisionError`); an active lab profile's
    ``coordination_methods_path`` replaces the search with that one file.
    """
    from labtrust_gym.artifacts import load_entries
    from labtrust_gym.profiles import profile_path_override

    override = profile_path_override("coordination_methods_path")
    if override is not None:
        doc = load_yaml(override)
        methods = doc.get("methods") if isinstance(doc, dict) else None
        if not isinstance(methods, dict):
            raise RegistryError(f"{override}: expected a mapping 'methods'")
        return methods
    return load_entries("coordination_methods", repo_root)


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
