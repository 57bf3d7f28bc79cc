"""Reading a model's reply: find its one JSON object, then check it against the schema.

Finding the object is parsing, not repairing. A reply may be the object alone, the object
inside one Markdown code fence, or the object inside prose; in every case the JSON text
must be valid as written. Nothing is ever fixed: no trailing commas dropped, no quotes
added, no case changed, no near-miss action matched. A reply with no JSON object, with
several (ambiguous), or whose object breaks the schema is invalid: the caller does NOOP
and counts it.

Error codes: ``EMPTY``, ``TOO_LONG``, ``NO_JSON``, ``AMBIGUOUS``, ``NOT_OBJECT``,
``MISSING_FIELD``, ``EXTRA_FIELD``, ``WRONG_TYPE``, ``NOT_ALLOWED``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ReplyCheck",
    "extract_json",
    "check_agent_reply",
    "check_dispatch_reply",
    "MAX_REPLY_CHARS",
]

MAX_REPLY_CHARS = 20_000
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class ReplyCheck:
    """``ok`` with the checked ``value``, else the ``error`` code and a ``detail``."""

    ok: bool
    value: Any = None
    error: str | None = None
    detail: str = ""


def _bad(code: str, detail: str) -> ReplyCheck:
    return ReplyCheck(False, None, code, detail)


def _objects_in(text: str) -> list[Any]:
    """Every JSON object that starts at a ``{`` outside the objects found before it."""
    found: list[Any] = []
    i = text.find("{")
    while i >= 0:
        try:
            obj, end = _DECODER.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        found.append(obj)
        i = text.find("{", end)
    return found


def extract_json(text: str) -> ReplyCheck:
    """The one JSON value of a reply (see the module docstring)."""
    s = text.strip()
    if not s:
        return _bad("EMPTY", "empty reply")
    if len(s) > MAX_REPLY_CHARS:
        return _bad("TOO_LONG", f"reply of {len(s)} characters (limit {MAX_REPLY_CHARS})")
    try:
        return ReplyCheck(True, json.loads(s))
    except json.JSONDecodeError:
        pass
    fences = _FENCE.findall(s)
    if fences:
        values = []
        for block in fences:
            try:
                values.append(json.loads(block.strip()))
            except json.JSONDecodeError:
                continue
        if len(values) == 1:
            return ReplyCheck(True, values[0])
        if not values:
            return _bad("NO_JSON", "no code fence holds valid JSON")
        return _bad("AMBIGUOUS", f"{len(values)} code fences hold JSON")
    objs = _objects_in(s)
    if len(objs) == 1:
        return ReplyCheck(True, objs[0])
    if not objs:
        return _bad("NO_JSON", "no valid JSON object in the reply")
    return _bad("AMBIGUOUS", f"{len(objs)} JSON objects in the reply")


def check_agent_reply(text: str, allowed: Container[str]) -> ReplyCheck:
    """The reply's action if it is ``{"action": <allowed>, "reason": <string>}`` exactly."""
    got = extract_json(text)
    if not got.ok:
        return got
    obj = got.value
    if not isinstance(obj, dict):
        return _bad("NOT_OBJECT", f"expected a JSON object, got {type(obj).__name__}")
    for k in ("action", "reason"):
        if k not in obj:
            return _bad("MISSING_FIELD", f"no {k!r}")
    extra = sorted(set(obj) - {"action", "reason"})
    if extra:
        return _bad("EXTRA_FIELD", f"unexpected field(s) {extra}")
    if not isinstance(obj["action"], str) or not isinstance(obj["reason"], str):
        return _bad("WRONG_TYPE", "'action' and 'reason' must be strings")
    if obj["action"] not in allowed:
        return _bad("NOT_ALLOWED", f"action {obj['action'][:80]!r} is not in allowed_actions")
    return ReplyCheck(True, obj["action"])


def check_dispatch_reply(text: str, options: dict[str, dict[str, Any]]) -> ReplyCheck:
    """The reply's ``[(runner, job)]`` if it is ``{"assignments": [{"runner", "job"}...],
    "reason": <string>}`` with only pairs of ``options`` (runner -> jobs it may take), no
    runner and no job twice."""
    got = extract_json(text)
    if not got.ok:
        return got
    obj = got.value
    if not isinstance(obj, dict):
        return _bad("NOT_OBJECT", f"expected a JSON object, got {type(obj).__name__}")
    for k in ("assignments", "reason"):
        if k not in obj:
            return _bad("MISSING_FIELD", f"no {k!r}")
    extra = sorted(set(obj) - {"assignments", "reason"})
    if extra:
        return _bad("EXTRA_FIELD", f"unexpected field(s) {extra}")
    if not isinstance(obj["assignments"], list) or not isinstance(obj["reason"], str):
        return _bad("WRONG_TYPE", "'assignments' must be a list and 'reason' a string")
    pairs: list[tuple[str, str]] = []
    runners: set[str] = set()
    jobs: set[str] = set()
    for a in obj["assignments"]:
        if not isinstance(a, dict) or set(a) != {"runner", "job"}:
            return _bad("WRONG_TYPE", "each assignment is {'runner': ..., 'job': ...}")
        r, j = a["runner"], a["job"]
        if not isinstance(r, str) or not isinstance(j, str):
            return _bad("WRONG_TYPE", "runner and job must be strings")
        if r not in options or j not in options[r]:
            return _bad("NOT_ALLOWED", f"runner {r[:40]!r} may not take job {j[:40]!r}")
        if r in runners or j in jobs:
            return _bad("NOT_ALLOWED", f"runner {r!r} or job {j!r} assigned twice")
        runners.add(r)
        jobs.add(j)
        pairs.append((r, j))
    return ReplyCheck(True, pairs)
