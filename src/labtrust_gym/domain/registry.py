"""The domain registry: ``register_domain(id, factory)``, ``get_domain_adapter_factory``,
``list_domains``.

A factory has the signature ``factory(workflow_spec, config) -> adapter`` where the adapter
implements ``reset(initial_state, seed)``, ``step(event)``, ``query(...)`` and optionally
``step_batch(events)`` with the semantics of the lab engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labtrust_gym.errors import RegistryError, UnknownIdError

__all__ = [
    "register_domain",
    "get_domain_adapter_factory",
    "list_domains",
    "DOMAIN_ORIGINS",
    "DOMAIN_OVERRIDES",
]

DomainFactory = Callable[[Any, Any], Any]
_DOMAINS: dict[str, DomainFactory] = {}
DOMAIN_ORIGINS: dict[str, str] = {}
DOMAIN_OVERRIDES: list[dict[str, str]] = []


def _hospital_lab(workflow_spec: Any = None, config: Any = None) -> Any:
    """The lab engine. ``config`` may carry ``policy`` (a PolicyBundle), ``policy_root``
    and ``partner_id``."""
    from labtrust_gym.engine.core_env import LabEngine

    cfg = dict(config or {})
    return LabEngine(
        cfg.get("policy"), policy_root=cfg.get("policy_root"), partner_id=cfg.get("partner_id")
    )


def register_domain(
    domain_id: str, factory: DomainFactory, *, override: bool = False, origin: str = "runtime"
) -> None:
    """Register a domain adapter factory; an existing id needs ``override=True`` (recorded)."""
    if not isinstance(domain_id, str) or not domain_id:
        raise RegistryError(f"domain id must be a non-empty string, got {domain_id!r}")
    if not callable(factory):
        raise RegistryError(f"domain {domain_id!r}: factory {factory!r} is not callable")
    _ensure()
    if domain_id in _DOMAINS and not override:
        raise RegistryError(
            f"domain {domain_id!r} is already registered (by "
            f"{DOMAIN_ORIGINS[domain_id]}); pass override=True to replace it"
        )
    if domain_id in _DOMAINS:
        DOMAIN_OVERRIDES.append(
            {"kind": "domain", "id": domain_id, "by": origin, "replaced": DOMAIN_ORIGINS[domain_id]}
        )
    _DOMAINS[domain_id] = factory
    DOMAIN_ORIGINS[domain_id] = origin


def _ensure() -> None:
    if "hospital_lab" not in _DOMAINS:
        _DOMAINS["hospital_lab"] = _hospital_lab
        DOMAIN_ORIGINS["hospital_lab"] = "labtrust_gym (built-in)"


def get_domain_adapter_factory(domain_id: str) -> DomainFactory:
    _ensure()
    try:
        return _DOMAINS[domain_id]
    except KeyError:
        raise UnknownIdError(
            f"unknown domain {domain_id!r}; known domains: {', '.join(sorted(_DOMAINS))}"
        ) from None


def list_domains() -> list[str]:
    _ensure()
    return sorted(_DOMAINS)
