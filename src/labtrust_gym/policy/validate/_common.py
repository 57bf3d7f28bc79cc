"""Shared pieces of the validator: the problem triple, paths, id look-ups."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from labtrust_gym.errors import PolicyValidationError
from labtrust_gym.policy.files import thaw

__all__ = [
    "Problem",
    "ZONE_KINDS",
    "SLA_PRIORITIES",
    "format_path",
    "raise_for_problems",
]

#: ``(file, path, message)``.
Problem = tuple[str, str, str]

#: The zone kinds RBAC can grant (closed vocabulary, mirrored by the zone_layout schema).
ZONE_KINDS: tuple[str, ...] = (
    "reception",
    "corridor",
    "preanalytics",
    "analytics",
    "restricted",
    "stores",
    "office",
    "dispatch",
)

#: The priorities of ``sla_targets``, most urgent first.
SLA_PRIORITIES: tuple[str, ...] = ("STAT", "URGENT", "ROUTINE")


def raise_for_problems(problems: Sequence[Problem]) -> None:
    """Raise :class:`PolicyValidationError` listing ``problems`` if there are any."""
    if problems:
        raise PolicyValidationError(list(problems))


def format_path(parts: Iterable[str | int]) -> str:
    """``["zones", 3, "site_id"]`` -> ``zones[3].site_id``."""
    out = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            key = str(part)
            if _PLAIN_KEY.fullmatch(key):
                out += f".{key}" if out else key
            else:
                out += f"[{json.dumps(key)}]"
    return out


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _plain(doc: Any) -> Any:
    """Frozen bundle documents (mapping proxies, tuples) -> dicts and lists."""
    if isinstance(doc, Mapping) and not isinstance(doc, dict):
        return thaw(doc)
    if isinstance(doc, tuple):
        return thaw(doc)
    return doc


def _known(names: Iterable[Any], limit: int = 15) -> str:
    items = sorted({str(n) for n in names})
    if not items:
        return "(none)"
    if len(items) > limit:
        return ", ".join(items[:limit]) + f", ... (+{len(items) - limit} more)"
    return ", ".join(items)


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _fmt_num(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _entries(doc: Mapping[str, Any] | None, key: str) -> list[tuple[int, dict[str, Any]]]:
    """``(index, item)`` of the mapping items of list ``doc[key]``."""
    value = doc.get(key) if doc is not None else None
    if not isinstance(value, list):
        return []
    return [(i, x) for i, x in enumerate(value) if isinstance(x, dict)]


def _members(doc: Mapping[str, Any] | None, key: str) -> list[tuple[str, dict[str, Any]]]:
    """``(name, value)`` of the mapping values of mapping ``doc[key]``."""
    value = doc.get(key) if doc is not None else None
    if not isinstance(value, dict):
        return []
    return [(str(k), v) for k, v in value.items() if isinstance(v, dict)]


def _strings(value: Any) -> Iterator[tuple[int, str]]:
    if isinstance(value, list):
        for i, x in enumerate(value):
            if isinstance(x, str):
                yield i, x
