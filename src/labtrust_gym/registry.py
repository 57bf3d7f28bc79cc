"""One registry mechanism for every extension kind (tasks, domains, coordination methods,
invariant handlers, metrics aggregators, security suite and safety case providers,
benchmark pack loaders).

Registering an id that exists is an error unless ``override=True``; every override is
recorded (in the registry and in :data:`OVERRIDES`) so results can report it. Built-ins
are registered lazily, through the same ``register`` path, on first use. Registries of
the eight extension kinds also load the installed plugins (entry points) on first use,
unless ``LABTRUST_DISABLE_PLUGIN_AUTOLOAD=1`` (see :mod:`labtrust_gym.plugins`).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

from labtrust_gym.errors import RegistryError, UnknownIdError

__all__ = [
    "Registry",
    "OVERRIDES",
    "BUILTIN_ORIGIN",
    "registration_origin",
    "require_signature",
]

T = TypeVar("T")
BUILTIN_ORIGIN = "labtrust_gym (built-in)"
#: Every override made in any registry of this process.
OVERRIDES: list[dict[str, str]] = []

#: The origin given to registrations that name none ("runtime"), while set.
#: How many registries are registering their built-ins right now.
_BUILDING = 0
_DEFAULT_ORIGIN: ContextVar[str | None] = ContextVar("labtrust_default_origin", default=None)


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


class Registry(Generic[T]):
    """``id -> object`` with origins, override rules and lazily loaded built-ins.

    ``kind`` names the registry in messages ("task", "domain"...); ``check(id, obj)``
    raises :class:`RegistryError` for a wrong shape; ``load_builtins()`` registers the
    built-ins (it runs once, before the first lookup). With ``plugins=True`` the first
    lookup also loads the installed plugins (:func:`labtrust_gym.plugins.autoload_plugins`).
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
        self._plugins = plugins
        self._items: dict[str, T] = {}
        self.origins: dict[str, str] = {}
        self.overrides: list[dict[str, str]] = []

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
        # Plugins load once every built-in being registered is in place, so a plugin id
        # that clashes with a built-in is always reported against the plugin.
        if self._plugins and not _BUILDING:
            from labtrust_gym.plugins import autoload_plugins

            autoload_plugins()

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
        if ident in self._items:
            if not override:
                raise RegistryError(
                    f"{self.kind} {ident!r} is already registered (by {self.origins[ident]}); "
                    "pass override=True to replace it"
                )
            rec = {"kind": self.kind, "id": ident, "by": origin, "replaced": self.origins[ident]}
            self.overrides.append(rec)
            OVERRIDES.append(rec)
        self._items[ident] = obj
        self.origins[ident] = origin

    def get(self, ident: str) -> T:
        self._ensure()
        try:
            return self._items[ident]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise UnknownIdError(f"unknown {self.kind} {ident!r}; known: {known}") from None

    def ids(self) -> list[str]:
        self._ensure()
        return sorted(self._items)

    def __contains__(self, ident: object) -> bool:
        self._ensure()
        return ident in self._items

    # ------------------------------------------------------------- test support ------
    def snapshot(self) -> tuple[Any, ...]:
        """The registry's whole state, for :meth:`restore` (tests that register things)."""
        return (dict(self._items), dict(self.origins), list(self.overrides), self._loaded)

    def restore(self, snap: tuple[Any, ...]) -> None:
        items, origins, overrides, loaded = snap
        self._items, self.origins, self.overrides = dict(items), dict(origins), list(overrides)
        self._loaded = loaded
