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

Who loads them: the entry points of the package, not the registries. The ``labtrust``
command loads every plugin before a command; :func:`~labtrust_gym.envs.make_env` and
:func:`~labtrust_gym.benchmarks.runner.run_benchmark` call :func:`ensure_plugins_loaded`;
a library user who looks ids up in a registry directly calls :func:`load_plugins` once
first. ``LABTRUST_DISABLE_PLUGIN_AUTOLOAD=1`` turns the automatic loading off (an explicit
:func:`load_plugins` still loads); the variable accepts only the switch values of
:mod:`labtrust_gym.envvars`.

Strict and tolerant loading. By default a plugin that fails to import or has the wrong
shape raises :class:`PluginError` naming the entry point, its group and its distribution;
nothing is skipped. ``load_plugins(strict=False)`` (what ``labtrust plugins list``,
``validate-policy`` and ``--help`` use) records the failure instead
(:func:`broken_plugins`) and goes on, so one broken plugin cannot take down the commands
that show what is wrong; a later strict load (any run) raises the recorded error.

A plugin id that exists (a built-in or another plugin) is an error unless the object has
the attribute ``labtrust_override = True``; the override is recorded
(:func:`plugin_overrides`). :func:`loaded_plugins` is what results files record. The
registries themselves, all eight, are listed by :mod:`labtrust_gym.extensions`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from labtrust_gym.envvars import env_flag
from labtrust_gym.errors import ConfigError, RegistryError
from labtrust_gym.registry import (
    ENTRY_POINT_GROUPS,
    ENV_DISABLE_AUTOLOAD,
    LOADER,
    OVERRIDES,
    REJECTED,
    TOLERANT,
    PendingPlugin,
    PluginError,
    queue_plugin,
    registration_origin,
)

__all__ = [
    "ENTRY_POINT_GROUPS",
    "ENV_DISABLE_AUTOLOAD",
    "PluginError",
    "load_plugins",
    "ensure_plugins_loaded",
    "autoload_plugins",
    "autoload_disabled",
    "loaded_plugins",
    "broken_plugins",
    "tolerant_plugins",
    "plugin_overrides",
    "import_extension_packages",
]


@dataclass
class _State:
    """What this process has loaded, and what failed."""

    records: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    broken: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    errors: dict[tuple[str, str, str], PluginError] = field(default_factory=dict)
    loading: bool = False


_STATE = _State()

_HINT = (
    f"; fix or uninstall the distribution ({ENV_DISABLE_AUTOLOAD}=1 runs without "
    "automatic plugin loading)"
)


def autoload_disabled() -> bool:
    """Whether ``LABTRUST_DISABLE_PLUGIN_AUTOLOAD`` is on (a value that is not a switch
    value is a :class:`~labtrust_gym.errors.ConfigError`)."""
    return env_flag(ENV_DISABLE_AUTOLOAD)


def _norm(dist_name: str) -> str:
    return re.sub(r"[-_.]+", "-", dist_name).lower()


def _dist_of(ep: Any) -> tuple[str, str]:
    if isinstance(ep, _EntryPoint):
        return ep.dist_name, ep.dist_version
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "(unknown distribution)", "?"
    name = dist.metadata["Name"] or getattr(dist, "name", None) or "(unnamed)"
    return str(name), str(dist.version)


def _describe(group: str, ep: Any, dist: str, version: str) -> str:
    return (
        f"plugin entry point {ep.name!r} = {ep.value!r} of group {group!r} "
        f"(distribution {dist} {version})"
    )


def _record(group: str, ep: Any, dist: str, version: str, override: bool) -> dict[str, Any]:
    return {
        "group": group,
        "kind": ENTRY_POINT_GROUPS[group],
        "name": ep.name,
        "value": ep.value,
        "distribution": dist,
        "version": version,
        "override": override,
    }


def _load_one(group: str, ep: Any) -> None:
    """Import one entry point's object and hand it to its registry (raises PluginError)."""
    dist, version = _dist_of(ep)
    key = (group, ep.name, _norm(dist))
    if key in _STATE.records:
        return
    where = _describe(group, ep, dist, version)
    try:
        obj = ep.load()
    except Exception as exc:
        raise PluginError(f"{where} failed to import: {type(exc).__name__}: {exc}{_HINT}") from exc
    override = getattr(obj, "labtrust_override", False) is True
    origin = f"plugin {dist} {version} ({group}: {ep.name} = {ep.value})"
    queue_plugin(PendingPlugin(group, ep.name, obj, override, origin, where))
    _STATE.records[key] = _record(group, ep, dist, version, override)
    _STATE.errors.pop(key, None)
    _STATE.broken.pop(key, None)


class _EntryPoint(NamedTuple):
    """An installed entry point as the loader needs it (what :func:`_scan` keeps)."""

    group: str
    name: str
    value: str
    dist_name: str
    dist_version: str

    @property
    def module(self) -> str:
        return self.value.split(":")[0].strip()

    def load(self) -> Any:
        """Import the module and resolve the attribute path, as importlib.metadata does."""
        match = _EP_VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point value {self.value!r} is not 'module:attribute'")
        obj: Any = importlib.import_module(match.group("module"))
        for attr in filter(None, (match.group("attr") or "").split(".")):
            obj = getattr(obj, attr)
        return obj


_EP_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


def _mtime(path: str) -> int:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return -1


def _dist_signature(path: str) -> str:
    """What importlib.metadata can find in one ``sys.path`` entry: the names and
    modification times of its ``*.dist-info`` and ``*.egg-info`` entries (installing,
    removing or reinstalling a distribution changes them; writing other files there, such
    as a run's outputs in the working directory, does not). A file entry (a zip): its
    own modification time."""
    try:
        with os.scandir(path or ".") as it:
            rows = sorted(
                f"{e.name}:{e.stat().st_mtime_ns}"
                for e in it
                if e.name.endswith((".dist-info", ".egg-info"))
            )
    except NotADirectoryError:
        return f"file:{_mtime(path)}"
    except OSError:
        return "-"
    return ",".join(rows)


def _scan_installed() -> tuple[list[_EntryPoint], list[str]]:
    """Every entry point of the groups (importlib.metadata, one pass over the
    distributions) and the metadata directories of their distributions."""
    import importlib.metadata as md

    everything = md.entry_points()
    eps: list[_EntryPoint] = []
    dirs: set[str] = set()
    for group in ENTRY_POINT_GROUPS:
        for ep in everything.select(group=group):
            name, version = _dist_of(ep)
            eps.append(_EntryPoint(group, ep.name, ep.value, name, version))
            where = getattr(getattr(ep, "dist", None), "_path", None)
            if where is not None:  # its metadata directory and entry point file
                dirs.add(str(where))
                dirs.add(os.path.join(str(where), "entry_points.txt"))
    eps.sort(key=lambda e: (e.group, _norm(e.dist_name), e.name, e.value))
    return eps, sorted(dirs)


def _scan() -> dict[str, list[_EntryPoint]]:
    """The installed entry points of every group, sorted by distribution and name.

    Scanning the installed distributions means importing importlib.metadata and reading
    every distribution's metadata: a third of a short command's start-up. The result is
    kept in the compiled-policy cache, keyed by ``sys.path`` and the distributions each of
    its entries holds (:func:`_dist_signature`), and checked against the modification
    times of each plugin distribution's metadata directory and entry point file; anything
    else is a fresh scan. ``LABTRUST_DISABLE_POLICY_CACHE=1`` scans every time.
    """
    import hashlib
    import sys

    from labtrust_gym.policy import cache

    key = hashlib.sha256(
        "\n".join(f"{p}\t{_dist_signature(p)}" for p in sys.path).encode() + b"|entry-points-v2"
    ).hexdigest()
    ok, doc = cache.get_json("entry_points", key)
    if ok and all(_mtime(d) == m for d, m in doc["dirs"]):
        eps = [_EntryPoint(*row) for row in doc["entry_points"]]
    else:
        eps, dirs = _scan_installed()
        cache.put_json(
            "entry_points",
            key,
            {"entry_points": [list(e) for e in eps], "dirs": [[d, _mtime(d)] for d in dirs]},
        )
    out: dict[str, list[_EntryPoint]] = {g: [] for g in ENTRY_POINT_GROUPS}
    for e in eps:
        out[e.group].append(e)
    return out


@contextlib.contextmanager
def tolerant_plugins() -> Iterator[None]:
    """Within the block a plugin that fails (to import, or later when its registry first
    takes it) is recorded in :func:`broken_plugins` instead of raising: for the commands
    that show what is wrong (``plugins list``, ``validate-policy``)."""
    before = TOLERANT[0]
    TOLERANT[0] = True
    try:
        yield
    finally:
        TOLERANT[0] = before


def load_plugins(
    *, modules: Iterable[str] | None = None, strict: bool = True
) -> list[dict[str, Any]]:
    """Load the entry points of every group (each once per process) and return the
    records of all plugins loaded so far.

    With ``modules`` only the entry points whose object lives in one of those packages
    are loaded (a lab profile's ``extension_packages``). Strict (the default): raises
    :class:`PluginError` on the first plugin that cannot be loaded (the ones before it
    stay registered; a later call retries the rest). ``strict=False``: every failure is
    recorded (:func:`broken_plugins`) and loading goes on.

    A plugin whose registry module has not been imported yet is registered (and its
    shape checked) when that registry is first used; :func:`labtrust_gym.extensions
    .load_all_plugins` imports every registry first, so every check happens at once.
    """
    only = tuple(modules) if modules is not None else None
    was_loading = _STATE.loading
    _STATE.loading = True
    try:
        scanned = _scan()
        for group in ENTRY_POINT_GROUPS:
            for ep in scanned[group]:
                if only is not None and not any(
                    ep.module == m or ep.module.startswith(m + ".") for m in only
                ):
                    continue
                try:
                    _load_one(group, ep)
                except PluginError as exc:
                    if strict and not TOLERANT[0]:
                        raise
                    dist, version = _dist_of(ep)
                    key = (group, ep.name, _norm(dist))
                    _STATE.errors[key] = exc
                    _STATE.broken[key] = {
                        **_record(group, ep, dist, version, False),
                        "error": str(exc),
                    }
        if only is None:
            LOADER.complete = True
    finally:
        _STATE.loading = was_loading
    return loaded_plugins()


def ensure_plugins_loaded() -> None:
    """For the package's entry points (a run, an env): load the installed plugins once,
    strictly, unless ``LABTRUST_DISABLE_PLUGIN_AUTOLOAD`` is on. A plugin recorded as
    broken by a tolerant load raises its :class:`PluginError` here: runs stay strict."""
    if _STATE.loading or autoload_disabled():
        return
    if REJECTED and not TOLERANT[0]:
        raise REJECTED[0][1]
    if _STATE.errors or not LOADER.complete:
        load_plugins()  # retries the broken ones: raises their PluginError


#: The former name of :func:`ensure_plugins_loaded`.
autoload_plugins = ensure_plugins_loaded


def loaded_plugins() -> list[dict[str, Any]]:
    """``[{group, kind, name, value, distribution, version, override}]`` of every plugin
    loaded in this process (entry points and lab-profile extension packages)."""
    return [dict(r) for r in _STATE.records.values()]


def broken_plugins() -> list[dict[str, Any]]:
    """The entry points a tolerant load could not load or register: the record (as far
    as known) plus ``error``."""
    out = [dict(r) for r in _STATE.broken.values()]
    for p, exc in REJECTED:
        rec = next(
            (
                dict(r)
                for r in _STATE.records.values()
                if r["group"] == p.group and r["name"] == p.ident
            ),
            {"group": p.group, "kind": ENTRY_POINT_GROUPS.get(p.group), "name": p.ident},
        )
        out.append({**rec, "error": str(exc)})
    return out


def plugin_overrides() -> list[dict[str, str]]:
    """Every override made in any registry of this process (``{kind, id, by, replaced}``)."""
    return [dict(r) for r in OVERRIDES]


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
        except RegistryError:
            raise
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
    import importlib.metadata as md

    top = package.split(".")[0]
    everything = md.entry_points()
    for group in ENTRY_POINT_GROUPS:
        for ep in everything.select(group=group):
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
    from labtrust_gym import registry

    _STATE.records.clear()
    _STATE.broken.clear()
    _STATE.errors.clear()
    _STATE.loading = False
    LOADER.complete = False
    registry._PENDING.clear()
    registry.REJECTED.clear()
