"""One registry mechanism for every extension kind (tasks, domains, coordination methods,
invariant handlers, metrics aggregators, security suite and safety case providers,
benchmark pack loaders).

Registering an id that exists is an error unless ``override=True``; every override is
recorded (in the registry and in :data:`OVERRIDES`) so results can report it. Built-ins
are registered lazily, through the same ``register`` path, on first use.

A registry never loads plugins by itself (that would make every module that looks up an
id depend on every plugin and on the plugin loader). The entry points of the package
load them: the ``labtrust`` command, :func:`~labtrust_gym.envs.make_env` and
:func:`~labtrust_gym.benchmarks.runner.run_benchmark` (see :mod:`labtrust_gym.plugins`).
The loader hands each plugin object to the registry of its entry-point group
(:data:`ENTRY_POINT_GROUPS`): at once if that registry exists, else when it is first used
(:func:`queue_plugin`), after its built-ins, so a plugin that clashes with a built-in is
always the one reported. An unknown id in a plugin-backed registry says when the installed
plugins are not loaded, and why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, Generic, NamedTuple, TypeVar

from labtrust_gym.errors import RegistryError, UnknownIdError

__all__ = [
    "Registry",
    "OVERRIDES",
    "BUILTIN_ORIGIN",
    "ENTRY_POINT_GROUPS",
    "ENV_DISABLE_AUTOLOAD",
    "PluginError",
    "PendingPlugin",
    "queue_plugin",
    "registry_for_group",
    "registration_origin",
    "require_signature",
    "provider_from",
]

T = TypeVar("T")
BUILTIN_ORIGIN = "labtrust_gym (built-in)"
#: Every override made in any registry of this process.
OVERRIDES: list[dict[str, str]] = []
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
#: A registry's ``kind`` (its name in messages) -> its entry-point group.
_GROUP_OF_KIND = {
    "domain": "labtrust_gym.domains",
    "coordination method": "labtrust_gym.coordination_methods",
    "task": "labtrust_gym.tasks",
    "invariant handler": "labtrust_gym.invariant_handlers",
    "security suite provider": "labtrust_gym.security_suite_providers",
    "safety case provider": "labtrust_gym.safety_case_providers",
    "metrics aggregator": "labtrust_gym.metrics_aggregators",
    "benchmark pack loader": "labtrust_gym.benchmark_pack_loaders",
}
#: Provider groups: an entry point may name the provider, its class or a factory.
_PROVIDER_METHODS = {
    "labtrust_gym.security_suite_providers": ("load_suite", "run_suite"),
    "labtrust_gym.safety_case_providers": ("load_claims", "build_safety_case"),
}
_HINT = (
    f"; fix or uninstall the distribution ({ENV_DISABLE_AUTOLOAD}=1 runs without "
    "automatic plugin loading)"
)

#: How many registries are registering their built-ins right now.
_BUILDING = 0
_DEFAULT_ORIGIN: ContextVar[str | None] = ContextVar("labtrust_default_origin", default=None)


class PluginError(RegistryError):
    """A plugin failed to import, has the wrong shape, or clashes with a registered id."""


class PendingPlugin(NamedTuple):
    """A loaded plugin object waiting for its registry (see :func:`queue_plugin`)."""

    group: str
    ident: str
    obj: Any
    override: bool
    origin: str
    where: str  # "plugin entry point 'x' = 'm:f' of group 'g' (distribution d v)"


_PENDING: dict[str, list[PendingPlugin]] = {}
_BY_GROUP: dict[str, Registry[Any]] = {}
#: While ``TOLERANT[0]`` (see :func:`labtrust_gym.plugins.tolerant_plugins`), a queued
#: plugin that its registry rejects is recorded here instead of raising.
TOLERANT = [False]
REJECTED: list[tuple[PendingPlugin, PluginError]] = []


class _LoaderState:
    """What the plugin loader reports to the registries (for unknown-id messages)."""

    complete = False  # every installed entry point has been loaded


LOADER = _LoaderState()


@contextlib.contextmanager
def registration_origin(origin: str) -> Iterator[None]:
    """Within the block, registrations made without an explicit origin are attributed to
    ``origin`` (used while importing a lab profile's extension packages)."""
    token = _DEFAULT_ORIGIN.set(origin)
    try:
        yield
    finally:
        _DEFAULT_ORIGIN.reset(token)


def require_signature(kind: str, ident: str, fn: Any, args: tuple[Any, ...], shape: str) -> None:
    """Raise :class:`RegistryError` unless ``fn`` is callable with ``args`` (positionally).

    ``shape`` is the expected signature, quoted in the message (e.g.
    ``"(policy, repo_root, scale_config, params)"``).
    """
    import inspect

    if not callable(fn):
        raise RegistryError(f"{kind} {ident!r}: {fn!r} is not callable; expected {shape}")
    try:
        inspect.signature(fn).bind(*args)
    except TypeError:
        raise RegistryError(
            f"{kind} {ident!r}: {getattr(fn, '__qualname__', fn)!r} has the wrong signature; "
            f"it must accept {shape}"
        ) from None
    except ValueError:
        pass  # no introspectable signature (C builtins): trust the caller


def provider_from(obj: Any, methods: tuple[str, ...]) -> Any:
    """A provider object from a provider, its class, or a zero-argument factory."""
    if isinstance(obj, type):
        return obj()
    if all(callable(getattr(obj, m, None)) for m in methods):
        return obj
    if callable(obj):
        return obj()
    return obj


def registry_for_group(group: str) -> Registry[Any] | None:
    """The registry of an entry-point group, if its module has been imported."""
    return _BY_GROUP.get(group)


def _apply(reg: Registry[Any], p: PendingPlugin) -> None:
    """Register one plugin object; failures become a :class:`PluginError` naming it."""
    try:
        methods = _PROVIDER_METHODS.get(p.group)
        obj = provider_from(p.obj, methods) if methods else p.obj
        reg.register(p.ident, obj, override=p.override, origin=p.origin)
    except RegistryError as exc:
        raise PluginError(f"{p.where} was rejected: {exc}{_HINT}") from exc
    except Exception as exc:  # a provider factory that raised, for instance
        raise PluginError(
            f"{p.where} could not be registered: {type(exc).__name__}: {exc}{_HINT}"
        ) from exc


def queue_plugin(p: PendingPlugin) -> None:
    """Hand a loaded plugin object to its registry: registered now if the registry
    exists (a bad shape raises :class:`PluginError` here), else when it is first used."""
    reg = _BY_GROUP.get(p.group)
    if reg is None:
        _PENDING.setdefault(p.group, []).append(p)
    else:
        _apply(reg, p)


def _autoload_hint() -> str:
    from labtrust_gym.envvars import env_flag

    if LOADER.complete:
        return ""
    if env_flag(ENV_DISABLE_AUTOLOAD):
        return (
            f"; plugin autoload is disabled ({ENV_DISABLE_AUTOLOAD} is set), so ids that "
            "installed plugins provide are unknown: unset it, or call "
            "labtrust_gym.plugins.load_plugins()"
        )
    return (
        "; the installed plugins are not loaded in this process: if the id comes from a "
        "plugin, call labtrust_gym.plugins.load_plugins() first"
    )


class Registry(Generic[T]):
    """``id -> object`` with origins, override rules and lazily loaded built-ins.

    ``kind`` names the registry in messages ("task", "domain"...); ``check(id, obj)``
    raises :class:`RegistryError` for a wrong shape; ``load_builtins()`` registers the
    built-ins (it runs once, before the first lookup), directly or with
    :meth:`register_lazy` so that a built-in's module is imported only when it is asked
    for. With ``plugins=True`` the registry
    receives the plugin objects of its entry-point group (:data:`ENTRY_POINT_GROUPS`).
    """

    def __init__(
        self,
        kind: str,
        *,
        check: Callable[[str, T], None] | None = None,
        load_builtins: Callable[[], None] | None = None,
        plugins: bool = False,
    ) -> None:
        self.kind = kind
        self._check = check
        self._load_builtins = load_builtins
        self._loaded = load_builtins is None
        self._items: dict[str, T] = {}
        self._lazy: dict[str, Callable[[], T]] = {}
        self.origins: dict[str, str] = {}
        self.overrides: list[dict[str, str]] = []
        self.group: str | None = None
        if plugins:
            group = _GROUP_OF_KIND.get(kind)
            if group is None:
                raise RegistryError(
                    f"registry {kind!r} has no entry-point group; known kinds: "
                    f"{', '.join(_GROUP_OF_KIND)}"
                )
            self.group = group
            _BY_GROUP[group] = self

    def _ensure(self) -> None:
        global _BUILDING
        if not self._loaded:
            self._loaded = True  # first, so built-ins can register through register()
            assert self._load_builtins is not None
            _BUILDING += 1
            try:
                self._load_builtins()
            finally:
                _BUILDING -= 1
        # Plugins loaded before this registry existed, once its built-ins are in place.
        if self.group is not None and not _BUILDING and _PENDING.get(self.group):
            queue = _PENDING[self.group]
            while queue:
                try:
                    _apply(self, queue[0])  # raises (and stays queued) until fixed
                except PluginError as exc:
                    if not TOLERANT[0]:
                        raise
                    REJECTED.append((queue[0], exc))
                queue.pop(0)

    def register(
        self, ident: str, obj: T, *, override: bool = False, origin: str = "runtime"
    ) -> None:
        if not isinstance(ident, str) or not ident:
            raise RegistryError(f"{self.kind} id must be a non-empty string, got {ident!r}")
        if origin == "runtime":
            origin = _DEFAULT_ORIGIN.get() or origin
        if self._check is not None:
            self._check(ident, obj)
        self._ensure()
        if ident in self._items or ident in self._lazy:
            if not override:
                raise RegistryError(
                    f"{self.kind} {ident!r} is already registered (by {self.origins[ident]}); "
                    "pass override=True to replace it"
                )
            rec = {"kind": self.kind, "id": ident, "by": origin, "replaced": self.origins[ident]}
            self.overrides.append(rec)
            OVERRIDES.append(rec)
            self._lazy.pop(ident, None)
        self._items[ident] = obj
        self.origins[ident] = origin

    def register_lazy(
        self, ident: str, loader: Callable[[], T], *, origin: str = BUILTIN_ORIGIN
    ) -> None:
        """Register ``ident`` as the object ``loader()`` returns, called (and the object
        checked) on its first lookup; it is listed and overridden like any other."""
        if ident in self._items or ident in self._lazy:
            raise RegistryError(
                f"{self.kind} {ident!r} is already registered (by {self.origins[ident]})"
            )
        self._lazy[ident] = loader
        self.origins[ident] = origin

    def get(self, ident: str) -> T:
        self._ensure()
        loader = self._lazy.get(ident)
        if loader is not None:
            obj = loader()
            if self._check is not None:
                self._check(ident, obj)
            self._items[ident] = obj
            del self._lazy[ident]
        try:
            return self._items[ident]
        except KeyError:
            known = ", ".join(self.ids()) or "(none)"
            hint = _autoload_hint() if self.group is not None else ""
            raise UnknownIdError(f"unknown {self.kind} {ident!r}; known: {known}{hint}") from None

    def ids(self) -> list[str]:
        self._ensure()
        return sorted({*self._items, *self._lazy})

    def __contains__(self, ident: object) -> bool:
        self._ensure()
        return ident in self._items or ident in self._lazy

    # ------------------------------------------------------------- test support ------
    def snapshot(self) -> tuple[Any, ...]:
        """The registry's whole state, for :meth:`restore` (tests that register things)."""
        return (
            dict(self._items),
            dict(self._lazy),
            dict(self.origins),
            list(self.overrides),
            self._loaded,
        )

    def restore(self, snap: tuple[Any, ...]) -> None:
        items, lazy, origins, overrides, loaded = snap
        self._items, self._lazy = dict(items), dict(lazy)
        self.origins, self.overrides = dict(origins), list(overrides)
        self._loaded = loaded
