"""One registry mechanism for every extension kind (tasks, domains, coordination methods,
invariant handlers, metrics aggregators, ...).

Registering an id that exists is an error unless ``override=True``; every override is
recorded (in the registry and in :data:`OVERRIDES`) so results can report it. Built-ins
are registered lazily, through the same ``register`` path, on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from labtrust_gym.errors import RegistryError, UnknownIdError

__all__ = ["Registry", "OVERRIDES", "BUILTIN_ORIGIN"]

T = TypeVar("T")
BUILTIN_ORIGIN = "labtrust_gym (built-in)"
#: Every override made in any registry of this process.
OVERRIDES: list[dict[str, str]] = []


class Registry(Generic[T]):
    """``id -> object`` with origins, override rules and lazily loaded built-ins.

    ``kind`` names the registry in messages ("task", "domain"...); ``check(id, obj)``
    raises :class:`RegistryError` for a wrong shape; ``load_builtins()`` registers the
    built-ins (it runs once, before the first lookup).
    """

    def __init__(
        self,
        kind: str,
        *,
        check: Callable[[str, T], None] | None = None,
        load_builtins: Callable[[], None] | None = None,
    ) -> None:
        self.kind = kind
        self._check = check
        self._load_builtins = load_builtins
        self._loaded = load_builtins is None
        self._items: dict[str, T] = {}
        self.origins: dict[str, str] = {}
        self.overrides: list[dict[str, str]] = []

    def _ensure(self) -> None:
        if not self._loaded:
            self._loaded = True  # first, so built-ins can register through register()
            assert self._load_builtins is not None
            self._load_builtins()

    def register(
        self, ident: str, obj: T, *, override: bool = False, origin: str = "runtime"
    ) -> None:
        if not isinstance(ident, str) or not ident:
            raise RegistryError(f"{self.kind} id must be a non-empty string, got {ident!r}")
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
