"""Plugins: extensions shipped as Python distributions with entry points.

A distribution extends LabTrust-Gym by declaring entry points in one of the groups of
:data:`ENTRY_POINT_GROUPS`; the entry point's name is the id it registers and its value
the object (``module:attribute``):

===================================== ============================================
group                                 object registered under the entry point name
===================================== ============================================
``labtrust_gym.domains``              ``factory(workflow_spec, config)``
``labtrust_gym.coordination_methods`` ``factory(policy, repo_root, scale_config, params)``
``labtrust_gym.tasks``                a :class:`~labtrust_gym.benchmarks.tasks.BenchmarkTask`
                                      subclass whose ``name`` is the entry point name
``labtrust_gym.invariant_handlers``   ``handler(env, event, params)``; the name is
                                      ``type.check_name``
``labtrust_gym.security_suite_providers`` a provider (``load_suite``, ``run_suite``), its
                                      class, or a factory returning one
``labtrust_gym.safety_case_providers`` a provider (``load_claims``,
                                      ``build_safety_case``), its class, or a factory
``labtrust_gym.metrics_aggregators``  ``aggregator(env, task, wall_s) -> metrics``
``labtrust_gym.benchmark_pack_loaders`` ``loader(repo_root, prefer_v02, partner_id)``
===================================== ============================================

:func:`load_plugins` loads every group once (the ``labtrust`` command calls it at start;
the eight registries call :func:`autoload_plugins` on first use, so library users need
not). ``LABTRUST_DISABLE_PLUGIN_AUTOLOAD=1`` turns the automatic loading off (an explicit
:func:`load_plugins` still loads). A plugin that fails to import or has the wrong shape
raises :class:`PluginError` naming the entry point, its group and its distribution;
nothing is skipped. A plugin id that exists (a built-in or another plugin) is an error
unless the object has the attribute ``labtrust_override = True``; the override is
recorded (:func:`plugin_overrides`). :func:`loaded_plugins` is what results files record.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from labtrust_gym.errors import ConfigError, RegistryError
from labtrust_gym.registry import OVERRIDES, Registry, registration_origin

__all__ = [
    "ENTRY_POINT_GROUPS",
    "ENV_DISABLE_AUTOLOAD",
    "PluginError",
    "load_plugins",
    "autoload_plugins",
    "autoload_disabled",
    "loaded_plugins",
    "plugin_overrides",
    "registered_extensions",
    "extension_registries",
    "import_extension_packages",
]

ENV_DISABLE_AUTOLOAD = "LABTRUST_DISABLE_PLUGIN_AUTOLOAD"

#: Entry-point group -> extension kind.
ENTRY_POINT_GROUPS: dict[str, str] = {
    "labtrust_gym.domains": "domains",
    "labtrust_gym.coordination_methods": "coordination_methods",
    "labtrust_gym.tasks": "tasks",
    "labtrust_gym.invariant_handlers": "invariant_handlers",
    "labtrust_gym.security_suite_providers": "security_suite_providers",
    "labtrust_gym.safety_case_providers": "safety_case_providers",
    "labtrust_gym.metrics_aggregators": "metrics_aggregators",
    "labtrust_gym.benchmark_pack_loaders": "benchmark_pack_loaders",
}


class PluginError(RegistryError):
    """A plugin failed to import, has the wrong shape, or clashes with a registered id."""


@dataclass
class _State:
    records: dict[tuple[str, str, str], dict[str, Any]]
    complete: bool = False
    loading: bool = False


_STATE = _State(records={})


def autoload_disabled() -> bool:
    return os.environ.get(ENV_DISABLE_AUTOLOAD, "").strip().lower() in {"1", "true", "yes", "on"}


def extension_registries() -> dict[str, Registry[Any]]:
    """Extension kind -> its registry (the eight kinds of :data:`ENTRY_POINT_GROUPS`)."""
    from labtrust_gym.baselines.coordination.registry import METHODS
    from labtrust_gym.benchmarks.metrics import AGGREGATORS
    from labtrust_gym.benchmarks.official_pack import PACK_LOADERS
    from labtrust_gym.benchmarks.security_runner import SECURITY_SUITE_PROVIDERS
    from labtrust_gym.benchmarks.tasks.registry import TASKS
    from labtrust_gym.domain.registry import DOMAINS
    from labtrust_gym.engine.invariants_runtime import HANDLERS
    from labtrust_gym.security.safety_case import SAFETY_CASE_PROVIDERS

    return {
        "domains": DOMAINS,
        "coordination_methods": METHODS,
        "tasks": TASKS,
        "invariant_handlers": HANDLERS,
        "security_suite_providers": SECURITY_SUITE_PROVIDERS,
        "safety_case_providers": SAFETY_CASE_PROVIDERS,
        "metrics_aggregators": AGGREGATORS,
        "benchmark_pack_loaders": PACK_LOADERS,
    }


def _provider(obj: Any, methods: tuple[str, ...]) -> Any:
    """A provider object from a provider, its class, or a zero-argument factory."""
    if isinstance(obj, type):
        return obj()
    if all(callable(getattr(obj, m, None)) for m in methods):
        return obj
    if callable(obj):
        return obj()
    return obj


def _registrar(kind: str) -> Callable[[str, Any, bool, str], None]:
    """``register(id, obj, override, origin)`` of an extension kind."""
    if kind == "domains":
        from labtrust_gym.domain.registry import register_domain as reg_domain

        return lambda i, o, ov, org: reg_domain(i, o, override=ov, origin=org)
    if kind == "coordination_methods":
        from labtrust_gym.baselines.coordination.registry import register_coordination_method

        return lambda i, o, ov, org: register_coordination_method(i, o, override=ov, origin=org)
    if kind == "tasks":
        from labtrust_gym.benchmarks.tasks.registry import register_task

        return lambda i, o, ov, org: register_task(i, o, override=ov, origin=org)
    if kind == "invariant_handlers":
        from labtrust_gym.engine.invariants_runtime import register_invariant_handler

        def reg_handler(i: str, o: Any, ov: bool, org: str) -> None:
            logic_type, dot, check_name = i.partition(".")
            if not dot or not logic_type or not check_name or "." in check_name:
                raise RegistryError(
                    f"invariant handler key {i!r} must be 'type.check_name' (e.g. state.my_check)"
                )
            register_invariant_handler(logic_type, check_name, o, override=ov, origin=org)

        return reg_handler
    if kind == "security_suite_providers":
        from labtrust_gym.benchmarks.security_runner import register_security_suite_provider

        return lambda i, o, ov, org: register_security_suite_provider(
            i, _provider(o, ("load_suite", "run_suite")), override=ov, origin=org
        )
    if kind == "safety_case_providers":
        from labtrust_gym.security.safety_case import register_safety_case_provider

        return lambda i, o, ov, org: register_safety_case_provider(
            i, _provider(o, ("load_claims", "build_safety_case")), override=ov, origin=org
        )
    if kind == "metrics_aggregators":
        from labtrust_gym.benchmarks.metrics import register_metrics_aggregator

        return lambda i, o, ov, org: register_metrics_aggregator(i, o, override=ov, origin=org)
    if kind == "benchmark_pack_loaders":
        from labtrust_gym.benchmarks.official_pack import register_benchmark_pack_loader

        return lambda i, o, ov, org: register_benchmark_pack_loader(i, o, override=ov, origin=org)
    raise ConfigError(f"unknown extension kind {kind!r}")


def _norm(dist_name: str) -> str:
    return re.sub(r"[-_.]+", "-", dist_name).lower()


def _dist_of(ep: md.EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "(unknown distribution)", "?"
    name = dist.metadata["Name"] or getattr(dist, "name", None) or "(unnamed)"
    return str(name), str(dist.version)


_HINT = (
    f"; fix or uninstall the distribution ({ENV_DISABLE_AUTOLOAD}=1 runs without "
    "automatic plugin loading)"
)


def _describe(group: str, ep: md.EntryPoint, dist: str, version: str) -> str:
    return (
        f"plugin entry point {ep.name!r} = {ep.value!r} of group {group!r} "
        f"(distribution {dist} {version})"
    )


def _load_one(group: str, ep: md.EntryPoint) -> dict[str, Any] | None:
    dist, version = _dist_of(ep)
    key = (group, ep.name, _norm(dist))
    if key in _STATE.records:
        return None
    where = _describe(group, ep, dist, version)
    try:
        obj = ep.load()
    except Exception as exc:
        raise PluginError(f"{where} failed to import: {type(exc).__name__}: {exc}{_HINT}") from exc
    kind = ENTRY_POINT_GROUPS[group]
    override = getattr(obj, "labtrust_override", False) is True
    origin = f"plugin {dist} {version} ({group}: {ep.name} = {ep.value})"
    try:
        _registrar(kind)(ep.name, obj, override, origin)
    except RegistryError as exc:
        raise PluginError(f"{where} was rejected: {exc}{_HINT}") from exc
    except Exception as exc:  # a provider factory that raised, for instance
        raise PluginError(
            f"{where} could not be registered: {type(exc).__name__}: {exc}{_HINT}"
        ) from exc
    rec = {
        "group": group,
        "kind": kind,
        "name": ep.name,
        "value": ep.value,
        "distribution": dist,
        "version": version,
        "override": override,
    }
    _STATE.records[key] = rec
    return rec


def _entry_points(group: str) -> list[md.EntryPoint]:
    eps = list(md.entry_points(group=group))
    return sorted(eps, key=lambda e: (_norm(_dist_of(e)[0]), e.name, e.value))


def load_plugins(*, modules: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Load the entry points of every group (each once per process) and return the
    records of all plugins loaded so far.

    With ``modules`` only the entry points whose object lives in one of those packages
    are loaded (a lab profile's ``extension_packages``). Raises :class:`PluginError` on
    the first plugin that cannot be loaded; the ones before it stay registered and a
    later call retries the rest.
    """
    only = tuple(modules) if modules is not None else None
    was_loading = _STATE.loading
    _STATE.loading = True
    try:
        extension_registries()  # built-ins first: a clash is reported against the plugin
        for group in ENTRY_POINT_GROUPS:
            for ep in _entry_points(group):
                if only is not None and not any(
                    ep.module == m or ep.module.startswith(m + ".") for m in only
                ):
                    continue
                _load_one(group, ep)
        if only is None:
            _STATE.complete = True
    finally:
        _STATE.loading = was_loading
    return loaded_plugins()


def autoload_plugins() -> None:
    """Load the plugins on first use, unless ``LABTRUST_DISABLE_PLUGIN_AUTOLOAD=1``."""
    if _STATE.complete or _STATE.loading or autoload_disabled():
        return
    load_plugins()


def loaded_plugins() -> list[dict[str, Any]]:
    """``[{group, kind, name, value, distribution, version, override}]`` of every plugin
    loaded in this process (entry points and lab-profile extension packages)."""
    return [dict(r) for r in _STATE.records.values()]


def plugin_overrides() -> list[dict[str, str]]:
    """Every override made in any registry of this process (``{kind, id, by, replaced}``)."""
    return [dict(r) for r in OVERRIDES]


def registered_extensions() -> dict[str, list[dict[str, str]]]:
    """Extension kind -> ``[{id, origin}]`` of everything registered (built-ins too)."""
    out: dict[str, list[dict[str, str]]] = {}
    for kind, reg in extension_registries().items():
        out[kind] = [{"id": i, "origin": reg.origins[i]} for i in reg.ids()]
    return out


def import_extension_packages(packages: Iterable[str], *, context: str) -> list[dict[str, Any]]:
    """Import each package (registrations made while importing are attributed to it) and
    load the entry points that point into it; return one record per package.

    ``context`` names the requester in errors (e.g. ``lab profile 'x' (path)``). A package
    that cannot be imported, or whose import raises, is a :class:`ConfigError` naming the
    package and the requester.
    """
    records = []
    for name in packages:
        try:
            with registration_origin(f"extension package {name} ({context})"):
                importlib.import_module(name)
        except Exception as exc:
            hint = ""
            if isinstance(exc, ModuleNotFoundError) and exc.name == name.split(".")[0]:
                hint = (
                    "; install the distribution that provides it (pip install ...) and list "
                    "its import name, not its distribution name"
                )
            raise ConfigError(
                f"{context}: extension package {name!r} cannot be imported: "
                f"{type(exc).__name__}: {exc}{hint}"
            ) from exc
        load_plugins(modules=[name])
        dist, version = _package_dist(name)
        key = ("extension_packages", name, _norm(dist or name))
        rec = {
            "group": "extension_packages",
            "kind": "extension_packages",
            "name": name,
            "value": name,
            "distribution": dist,
            "version": version,
            "override": False,
        }
        _STATE.records.setdefault(key, rec)
        records.append(rec)
    return records


def _package_dist(package: str) -> tuple[str | None, str | None]:
    """The distribution (name, version) that provides ``package``, if one is known."""
    top = package.split(".")[0]
    for group in ENTRY_POINT_GROUPS:
        for ep in md.entry_points(group=group):
            if ep.module.split(".")[0] == top and getattr(ep, "dist", None) is not None:
                return _dist_of(ep)
    names = md.packages_distributions().get(top) or []
    if names:
        try:
            return names[0], md.version(names[0])
        except md.PackageNotFoundError:
            return names[0], None
    return None, None


def _reset_for_tests() -> None:
    """Forget what was loaded (the registries are restored by the caller)."""
    _STATE.records.clear()
    _STATE.complete = False
    _STATE.loading = False
