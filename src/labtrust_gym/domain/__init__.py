"""Domains: the registry of domain adapters (the lab engine is domain ``hospital_lab``),
their contracts (:class:`LabTrustEnvAdapter`, :class:`BenchmarkEnv`) and the choice of the
domain a run drives (:func:`resolve_domain_id`, :func:`make_domain_adapter`)."""

from labtrust_gym.domain.dispatch import DEFAULT_DOMAIN, make_domain_adapter, resolve_domain_id
from labtrust_gym.domain.protocols import BenchmarkEnv, LabTrustEnvAdapter
from labtrust_gym.domain.registry import (
    get_domain_adapter_factory,
    list_domains,
    register_domain,
)

__all__ = [
    "BenchmarkEnv",
    "DEFAULT_DOMAIN",
    "LabTrustEnvAdapter",
    "get_domain_adapter_factory",
    "list_domains",
    "make_domain_adapter",
    "register_domain",
    "resolve_domain_id",
]
