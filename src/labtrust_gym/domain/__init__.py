"""Domains: the registry of domain adapters (the lab engine is domain ``hospital_lab``)."""

from labtrust_gym.domain.registry import (
    get_domain_adapter_factory,
    list_domains,
    register_domain,
)

__all__ = ["get_domain_adapter_factory", "list_domains", "register_domain"]
