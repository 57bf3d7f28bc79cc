"""The coordination-method registry and catalogue.

``register_coordination_method(method_id, factory)`` with ``factory(policy, repo_root,
scale_config, params) -> CoordinationMethod``. ``make_coordination_method`` merges the
catalogue's ``default_params`` (``policy/coordination/coordination_methods.v0.1.yaml``)
under the caller's params, and checks what the factory returned: anything that is not a
coordination method (``None``, a dict, a half-implemented object) is an error naming the
method id and where it was registered (the plugin's entry point), never a silent fallback
to another team.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from labtrust_gym.errors import RegistryError
from labtrust_gym.policy.yaml_io import load_yaml
from labtrust_gym.registry import BUILTIN_ORIGIN, PluginError, Registry

__all__ = [
    "register_coordination_method",
    "get_coordination_method_factory",
    "list_coordination_methods",
    "make_coordination_method",
    "load_catalogue",
    "METHODS",
    "METHOD_INTERFACE",
]

Factory = Callable[[Any, Any, Any, dict[str, Any]], Any]
CATALOGUE = ("coordination", "coordination_methods.v0.1.yaml")
#: What the runner calls on a method (a CoordinationMethod subclass has them all).
METHOD_INTERFACE = ("attach", "reset", "propose_actions", "on_step_results", "on_episode_end")


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
        module, _, cls = target.partition(":")
        mod = importlib.import_module(f"labtrust_gym.baselines.coordination.{module}")
        METHODS.register(method_id, getattr(mod, cls), origin=BUILTIN_ORIGIN)


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
    method = factory(policy, repo_root, scale_config, merged)
    _check_method(method_id, factory, method)
    return method


def _check_method(method_id: str, factory: Any, method: Any) -> None:
    """Raise unless ``method`` is a coordination method; the error names the factory and
    its origin (a :class:`PluginError` when a plugin registered it)."""
    from labtrust_gym.baselines.coordination.base import CoordinationMethod

    if isinstance(method, CoordinationMethod):
        return
    missing = [m for m in METHOD_INTERFACE if not callable(getattr(method, m, None))]
    if not missing and method is not None:
        return
    origin = METHODS.origins.get(method_id, "runtime")
    what = getattr(factory, "__qualname__", repr(factory))
    got = "None" if method is None else f"a {type(method).__name__} ({method!r:.60})"
    lacks = f" (it lacks {', '.join(missing)})" if method is not None else ""
    err = PluginError if origin.startswith("plugin ") else RegistryError
    raise err(
        f"coordination method {method_id!r} (registered by {origin}): its factory {what} "
        f"returned {got}{lacks}, not a coordination method; return an instance of a "
        "labtrust_gym.baselines.coordination.CoordinationMethod subclass"
    )
