"""The domain registry: ``register_domain(id, factory)``, ``get_domain_adapter_factory``,
``list_domains``.

A factory has the signature ``factory(workflow_spec, config) -> adapter`` where the adapter
implements ``reset(initial_state, seed)``, ``step(event)``, ``query(...)`` and optionally
``step_batch(events)`` with the semantics of the lab engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labtrust_gym.registry import BUILTIN_ORIGIN, Registry, require_signature

__all__ = ["register_domain", "get_domain_adapter_factory", "list_domains", "DOMAINS"]

DomainFactory = Callable[[Any, Any], Any]


def _hospital_lab(workflow_spec: Any = None, config: Any = None) -> Any:
    """The lab engine. ``config`` may carry ``policy`` (a PolicyBundle), ``policy_root``
    and ``partner_id``."""
    from labtrust_gym.engine.core_env import LabEngine

    cfg = dict(config or {})
    return LabEngine(
        cfg.get("policy"), policy_root=cfg.get("policy_root"), partner_id=cfg.get("partner_id")
    )


def _check(domain_id: str, factory: Any) -> None:
    require_signature("domain", domain_id, factory, (None, None), "(workflow_spec, config)")


def _builtins() -> None:
    DOMAINS.register("hospital_lab", _hospital_lab, origin=BUILTIN_ORIGIN)


DOMAINS: Registry[DomainFactory] = Registry(
    "domain", check=_check, load_builtins=_builtins, plugins=True
)


def register_domain(
    domain_id: str, factory: DomainFactory, *, override: bool = False, origin: str = "runtime"
) -> None:
    """Register a domain adapter factory; an existing id needs ``override=True`` (recorded)."""
    DOMAINS.register(domain_id, factory, override=override, origin=origin)


def get_domain_adapter_factory(domain_id: str) -> DomainFactory:
    return DOMAINS.get(domain_id)


def list_domains() -> list[str]:
    return DOMAINS.ids()
