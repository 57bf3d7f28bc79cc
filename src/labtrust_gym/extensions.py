"""The extension platform as the entry points see it: all eight registries at once,
loading every plugin with every check, and activating a lab profile.

This module sits at the top of the layering (with the CLI): it imports every registry
module, so nothing below it may import it. Lower layers use :mod:`labtrust_gym.registry`,
:mod:`labtrust_gym.plugins` and :mod:`labtrust_gym.profiles`, which import nothing above
the policy layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.plugins import import_extension_packages, load_plugins
from labtrust_gym.profiles import (
    PROVIDER_FIELDS,
    LabProfile,
    load_lab_profile,
    pop_lab_profiles,
    push_lab_profile,
)
from labtrust_gym.registry import ENTRY_POINT_GROUPS, Registry

__all__ = [
    "extension_registries",
    "registered_extensions",
    "load_all_plugins",
    "check_lab_profile",
    "apply_lab_profile",
    "use_lab_profile",
]


def extension_registries() -> dict[str, Registry[Any]]:
    """Extension kind -> its registry (the eight kinds of ``ENTRY_POINT_GROUPS``)."""
    from labtrust_gym.baselines.coordination.registry import METHODS
    from labtrust_gym.benchmarks.metrics import AGGREGATORS
    from labtrust_gym.benchmarks.official_pack import PACK_LOADERS
    from labtrust_gym.benchmarks.security_runner import SECURITY_SUITE_PROVIDERS
    from labtrust_gym.benchmarks.tasks.registry import TASKS
    from labtrust_gym.domain.registry import DOMAINS
    from labtrust_gym.engine.invariants_runtime import HANDLERS
    from labtrust_gym.security.safety_case import SAFETY_CASE_PROVIDERS

    regs: dict[str, Registry[Any]] = {
        "domains": DOMAINS,
        "coordination_methods": METHODS,
        "tasks": TASKS,
        "invariant_handlers": HANDLERS,
        "security_suite_providers": SECURITY_SUITE_PROVIDERS,
        "safety_case_providers": SAFETY_CASE_PROVIDERS,
        "metrics_aggregators": AGGREGATORS,
        "benchmark_pack_loaders": PACK_LOADERS,
    }
    assert set(regs) == set(ENTRY_POINT_GROUPS.values())
    return regs


def load_all_plugins(*, strict: bool = True) -> list[dict[str, Any]]:
    """Every registry first (so each plugin's shape is checked as it loads and a clash
    with a built-in is reported against the plugin), then every plugin."""
    for reg in extension_registries().values():
        reg.ids()
    return load_plugins(strict=strict)


def registered_extensions() -> dict[str, list[dict[str, str]]]:
    """Extension kind -> ``[{id, origin}]`` of everything registered (built-ins too)."""
    out: dict[str, list[dict[str, str]]] = {}
    for kind, reg in extension_registries().items():
        out[kind] = [{"id": i, "origin": reg.origins[i]} for i in reg.ids()]
    return out


def check_lab_profile(prof: LabProfile) -> None:
    """Every id the profile names (providers, ``domain_id``, ``partner_id``) must exist;
    a :class:`ConfigError` names the profile file and the field."""
    from labtrust_gym.artifacts import discover_artifacts, resolve_artifact

    regs = extension_registries()
    where = f"lab profile {prof.profile_id!r} ({prof.source})"
    for f, kind in PROVIDER_FIELDS.items():
        value = prof.provider(f)
        if value and value not in regs[kind]:
            raise ConfigError(
                f"{where}: {f} {value!r} is not a registered {regs[kind].kind}; known: "
                f"{', '.join(regs[kind].ids())}"
            )
    domains = regs["domains"]
    if prof.domain_id and prof.domain_id not in domains:
        raise ConfigError(
            f"{where}: domain_id {prof.domain_id!r} is not a registered domain; known: "
            f"{', '.join(domains.ids())}"
        )
    if prof.partner_id and resolve_artifact("partners", prof.partner_id, required=False) is None:
        known = ", ".join(discover_artifacts("partners")) or "(none)"
        raise ConfigError(
            f"{where}: partner_id {prof.partner_id!r} has no overlay partners/"
            f"{prof.partner_id}/ in any artifact root; known partners: {known}"
        )


def apply_lab_profile(profile: str | Path | LabProfile) -> LabProfile:
    """Load (unless given loaded), import the extension packages, check every id, and
    make the profile the active one of this process."""
    prof = profile if isinstance(profile, LabProfile) else load_lab_profile(profile)
    import_extension_packages(
        prof.extension_packages, context=f"lab profile {prof.profile_id!r} ({prof.source})"
    )
    check_lab_profile(prof)
    push_lab_profile(prof)
    return prof


@contextlib.contextmanager
def use_lab_profile(profile: str | Path | LabProfile) -> Iterator[LabProfile]:
    """Apply a profile for the duration of the block, then restore the previous one."""
    from labtrust_gym.profiles import _ACTIVE

    depth = len(_ACTIVE)
    prof = apply_lab_profile(profile)
    try:
        yield prof
    finally:
        pop_lab_profiles(depth)
