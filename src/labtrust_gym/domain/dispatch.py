"""Which domain a run drives, and building its adapter.

Before the adapter is built, every invariant of the task's policy must name a registered
handler (:func:`~labtrust_gym.engine.invariant_check.invariant_handler_problems`).

The domain of a run is, in order: the one asked for (``run_benchmark(domain=...)``,
``labtrust run-benchmark --domain ID``, ``make_env(..., domain=...)``), else the active
lab profile's ``domain_id``, else ``hospital_lab``. Its registered factory is called as
``factory(workflow_spec, config)`` with ``workflow_spec`` the task's description
(``task.describe()``: name, max_steps, dt_s, timing_mode, agents) and ``config``
``{"policy", "policy_root", "partner_id", "task"}``; the adapter it returns is the engine
the lab env steps. The lab env reads the engine's state (agents, devices, clock, audit),
so an adapter must be a :class:`~labtrust_gym.engine.LabEngine` or delegate to one (a
subclass, or a LabEngine wrapping a partner's rules); anything else is an error naming the
domain and where it was registered.
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.domain.protocols import LabTrustEnvAdapter
from labtrust_gym.domain.registry import DOMAINS, get_domain_adapter_factory
from labtrust_gym.errors import PolicyValidationError, RegistryError
from labtrust_gym.registry import PluginError

__all__ = ["DEFAULT_DOMAIN", "resolve_domain_id", "make_domain_adapter"]

DEFAULT_DOMAIN = "hospital_lab"


def resolve_domain_id(domain_id: str | None = None) -> str:
    """The domain of a run (see the module docstring)."""
    if domain_id:
        return domain_id
    from labtrust_gym.profiles import active_lab_profile

    prof = active_lab_profile()
    if prof is not None and prof.domain_id:
        return prof.domain_id
    return DEFAULT_DOMAIN


def make_domain_adapter(domain_id: str, task: Any) -> Any:
    """Call the domain's factory for ``task`` and check what it returned."""
    from labtrust_gym.engine.core_env import LabEngine
    from labtrust_gym.engine.invariant_check import invariant_handler_problems

    factory = get_domain_adapter_factory(domain_id)
    policy = task.policy
    problems = invariant_handler_problems(
        policy["invariant_registry"],
        policy.sources.get("invariant_registry", "invariants/invariant_registry.v0.1.yaml"),
    )
    if problems:
        raise PolicyValidationError(problems)
    config = {
        "policy": policy,
        "policy_root": policy.policy_dir,
        "partner_id": policy.partner_id,
        "task": task,
    }
    adapter = factory(task.describe(), config)
    origin = DOMAINS.origins.get(domain_id, "runtime")
    err = PluginError if origin.startswith("plugin ") else RegistryError
    what = getattr(factory, "__qualname__", repr(factory))
    if not isinstance(adapter, LabTrustEnvAdapter):
        raise err(
            f"domain {domain_id!r} (registered by {origin}): its factory {what} returned "
            f"{type(adapter).__name__} {adapter!r:.60}, not a domain adapter; return an "
            "object with reset(initial_state, seed), step(event) and query(kind, ...) "
            "(labtrust_gym.domain.LabTrustEnvAdapter)"
        )
    if not isinstance(adapter, LabEngine):
        raise err(
            f"domain {domain_id!r} (registered by {origin}): its adapter "
            f"{type(adapter).__name__} is not a labtrust_gym.engine.LabEngine; the lab env "
            "reads the engine's state (agents, devices, clock, audit), so subclass LabEngine "
            "or build one inside the adapter"
        )
    if adapter.policy.fingerprint != policy.fingerprint:
        raise err(
            f"domain {domain_id!r} (registered by {origin}): its adapter runs a policy "
            f"(fingerprint {adapter.policy.fingerprint[:12]}) other than the task's "
            f"({policy.fingerprint[:12]}); build it from config['policy']"
        )
    return adapter
