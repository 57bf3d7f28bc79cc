"""An indexed artefact (:class:`Entry`) and its id (:func:`entry_id`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Entry", "entry_id"]


def entry_id(kind: str, rel: str) -> str:
    """A stable id for the artefact of ``kind`` at ``rel`` (a path relative to the root)."""
    return f"{kind}-{hashlib.sha256(f'{kind}:{rel}'.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class Entry:
    """One indexed artefact: its id, kind, path relative to the root, and a summary
    (``meta``) the listings show without opening the file again."""

    id: str
    kind: str
    rel: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
