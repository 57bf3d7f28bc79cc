"""Security suites: the provider registry and the default provider.

A security suite provider has two methods:

* ``load_suite(policy_root, partner_id) -> dict``: the suite document;
* ``run_suite(policy_root, repo_root, **options) -> list[dict]``: run it, one result per
  attack ``{attack_id, passed, ...}``.

Register one with :func:`register_security_suite_provider` (or the entry-point group
``labtrust_gym.security_suite_providers``); :func:`run_security_suite` runs the provider
of the active lab profile (``security_suite_provider_id``), else ``default``.

The ``default`` provider runs the attack catalogue ``security/security_suite.v0.1.yaml``
(schema ``security_suite.v0.1``; a lab profile's ``security_suite_path`` replaces it; a
partner overlay ``partners/<id>/security/security_suite.v0.1.yaml`` is merged over it):
scripted event sequences against a fresh engine, envelopes against the signed bus,
benchmark episodes of the insider tasks and coordination injections judged by
:func:`evaluate_check`, and callables that other packages provide. Its implementation
lives in :mod:`labtrust_gym.security` (imported when the provider is used, so this
registry stays importable from the benchmark layer). Replacing the provider can weaken
the evidence (a custom provider may run other attacks or relax checks): the report names
the provider and the suite file so the change is visible.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError, RegistryError
from labtrust_gym.registry import BUILTIN_ORIGIN, Registry, require_signature
from labtrust_gym.security.checks import evaluate_check

__all__ = [
    "SECURITY_SUITE_FILE",
    "SECURITY_SUITE_PROVIDERS",
    "DefaultSecuritySuiteProvider",
    "register_security_suite_provider",
    "get_security_suite_provider",
    "list_security_suite_providers",
    "run_security_suite",
    "evaluate_check",
]

#: The default suite, relative to the policy directory.
SECURITY_SUITE_FILE = "security/security_suite.v0.1.yaml"


class DefaultSecuritySuiteProvider:
    """The default provider: the attack catalogue of :mod:`labtrust_gym.security` (see
    the module docstring). Subclass it to narrow or extend the suite."""

    provider_id = "default"

    def suite_path(self, policy_root: Path | str | None = None) -> Path:
        from labtrust_gym.security.catalogue import catalogue_path

        return catalogue_path(policy_root)

    def load_suite(
        self, policy_root: Path | str | None = None, partner_id: str | None = None
    ) -> dict[str, Any]:
        from labtrust_gym.security.catalogue import load_catalogue

        return load_catalogue(policy_root, partner_id, path=self.suite_path(policy_root))

    def run_suite(
        self,
        policy_root: Path | str | None = None,
        repo_root: Path | str | None = None,
        *,
        partner_id: str | None = None,
        attack_ids: Sequence[str] | None = None,
        categories: Sequence[str] | None = None,
        seed: int | None = None,
        suite: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Run the suite's attacks (all, or those ``attack_ids`` / ``categories``); one
        result per attack (:func:`labtrust_gym.security.suite.run_attack`)."""
        from labtrust_gym.security.suite import run_catalogue

        suite = suite if suite is not None else self.load_suite(policy_root, partner_id)
        return run_catalogue(
            suite,
            policy_root=policy_root,
            partner_id=partner_id,
            attack_ids=attack_ids,
            categories=categories,
            seed=seed,
        )


# ------------------------------------------------------------------------ registry ---
def _check(provider_id: str, provider: Any) -> None:
    for method, args, shape in (
        ("load_suite", (None, None), "(policy_root, partner_id)"),
        ("run_suite", (None, None), "(policy_root, repo_root, ...)"),
    ):
        fn = getattr(provider, method, None)
        if fn is None:
            raise RegistryError(
                f"security suite provider {provider_id!r}: {provider!r} has no method {method}"
            )
        require_signature("security suite provider", f"{provider_id}.{method}", fn, args, shape)


def _builtins() -> None:
    SECURITY_SUITE_PROVIDERS.register(
        "default", DefaultSecuritySuiteProvider(), origin=BUILTIN_ORIGIN
    )


SECURITY_SUITE_PROVIDERS: Registry[Any] = Registry(
    "security suite provider", check=_check, load_builtins=_builtins, plugins=True
)


def register_security_suite_provider(
    provider_id: str, provider: Any, *, override: bool = False, origin: str = "runtime"
) -> None:
    """Register a provider (an object with ``load_suite`` and ``run_suite``)."""
    SECURITY_SUITE_PROVIDERS.register(provider_id, provider, override=override, origin=origin)


def get_security_suite_provider(provider_id: str) -> Any:
    return SECURITY_SUITE_PROVIDERS.get(provider_id)


def list_security_suite_providers() -> list[str]:
    return SECURITY_SUITE_PROVIDERS.ids()


def run_security_suite(
    provider_id: str | None = None,
    *,
    policy_root: Path | str | None = None,
    partner_id: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Run a provider's suite; returns ``{provider_id, suite_id, source, passed, summary,
    categories, controls, attacks, ...}`` (``passed``: every attack passed, and there was one).

    ``provider_id`` defaults to the active lab profile's ``security_suite_provider_id``
    (else ``default``); ``partner_id`` to the profile's partner.
    """
    from labtrust_gym.config import get_repo_root
    from labtrust_gym.profiles import active_lab_profile, profile_provider_id

    pid = provider_id or profile_provider_id("security_suite_provider_id")
    prof = active_lab_profile()
    if partner_id is None and prof is not None:
        partner_id = prof.partner_id
    provider = get_security_suite_provider(pid)
    suite = provider.load_suite(policy_root, partner_id)
    params = inspect.signature(provider.run_suite).parameters
    any_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unsupported = sorted(
        k for k, v in options.items() if v is not None and not any_kw and k not in params
    )
    if unsupported:
        raise ConfigError(f"security suite provider {pid!r} does not take {', '.join(unsupported)}")
    kw = {k: v for k, v in options.items() if v is not None}
    for k, v in (("partner_id", partner_id), ("suite", suite)):
        if any_kw or k in params:
            kw[k] = v
    attacks = provider.run_suite(policy_root, get_repo_root(), **kw)
    from labtrust_gym.plugins import loaded_plugins, plugin_overrides

    outcomes: dict[str, int] = {}
    for a in attacks:
        o = str(a.get("outcome", "blocked" if a.get("passed") else "succeeded"))
        outcomes[o] = outcomes.get(o, 0) + 1
    return {
        "provider_id": pid,
        "suite_id": suite.get("suite_id"),
        "source": suite.get("source"),
        "partner_id": partner_id,
        "passed": bool(attacks) and all(a["passed"] for a in attacks),
        "summary": {
            "attacks": len(attacks),
            "passed": sum(1 for a in attacks if a["passed"]),
            "outcomes": dict(sorted(outcomes.items())),
        },
        "categories": suite.get("categories") or {},
        "controls": suite.get("controls") or {},
        "attacks": attacks,
        "plugins": loaded_plugins(),
        "plugin_overrides": plugin_overrides(),
    }
