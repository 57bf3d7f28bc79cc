"""Canonical JSON: the byte form hashed by the audit chain and signed by agents.

Keys sorted, no whitespace, UTF-8. orjson gives the same bytes for the same value in any
process (no dependence on dict order or hash seeds).
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["canonical_json", "canonical_text"]

_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical_json(obj: Any) -> bytes:
    return orjson.dumps(obj, option=_OPTS)


def canonical_text(obj: Any) -> str:
    return orjson.dumps(obj, option=_OPTS).decode("utf-8")
