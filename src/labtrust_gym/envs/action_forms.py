"""Validation of the values inside an action: what ``env.step`` accepts without coercion.

Helpers of :class:`~labtrust_gym.envs.codec.ActionCodec`: integer indices
(:func:`index_of`), canonical-JSON arguments (:func:`json_problem`), token references,
signature fields and ``sign_with``; a defect becomes a :class:`Rejection` with one of the
registered ``ACTION_*`` reason codes (:data:`REJECTION_CODES`). :func:`describe` gives the
short, deterministic, JSON-safe description of a rejected value that the audit log keeps.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "MAX_ARGS_DEPTH",
    "MAX_ARGS_VALUES",
    "REJECTION_CODES",
    "Rejection",
    "args_of",
    "describe",
    "index_of",
    "is_utf8",
    "json_problem",
    "keys_desc",
    "refs_of",
    "sig_fields",
]

#: Deepest nesting of lists and dicts inside ``args`` (``args`` itself is level 1).
MAX_ARGS_DEPTH = 16
#: Most values (containers included) inside one ``args``.
MAX_ARGS_VALUES = 4096

#: Reason codes of actions the codec rejects before any engine event exists.
REJECTION_CODES = (
    "ACTION_FORM_UNKNOWN",
    "ACTION_INDEX_NOT_INTEGER",
    "ACTION_INDEX_OUT_OF_RANGE",
    "ACTION_FIELD_UNKNOWN",
    "ACTION_INFO_NOT_MAPPING",
    "ACTION_TYPE_INVALID",
    "ACTION_ARGS_NOT_MAPPING",
    "ACTION_ARGS_NOT_JSON",
    "ACTION_TOKEN_REFS_INVALID",
    "ACTION_SIGNATURE_FIELDS_INVALID",
    "ACTION_SIGN_WITH_INVALID",
)

_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what canonical JSON (orjson) can write


class Rejection(NamedTuple):
    """An action the codec cannot turn into an engine event: ``code`` (registered) and
    ``problem`` (what is wrong, naming the field)."""

    code: str
    problem: str


def index_of(value: Any) -> int | None:
    """The integer of an accepted index form, else None (bool is not an index)."""
    t = type(value)
    if t is int:
        return value
    if t is bool or t is np.bool_:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iu":
        return int(value)
    return None


def is_utf8(s: str) -> bool:
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_problem(value: Any, where: str = "args") -> str | None:
    """What keeps ``value`` from being canonical JSON, or None.

    Canonical JSON here is what the audit log writes without changing a value: dicts
    with string keys, lists, strings (valid UTF-8), ``bool``, ``None``, integers that fit
    in 64 bits and finite floats, nested at most :data:`MAX_ARGS_DEPTH` deep and at most
    :data:`MAX_ARGS_VALUES` values in all. Tuples, sets, bytes, Decimal, numpy values,
    NaN and infinities are not (each would be changed or refused on the way to JSON).
    """
    stack: list[tuple[Any, str, int]] = [(value, where, 1)]
    count = 0
    while stack:
        v, path, depth = stack.pop()
        count += 1
        if count > MAX_ARGS_VALUES:
            return f"{where} holds more than {MAX_ARGS_VALUES} values"
        if isinstance(v, str):
            if not is_utf8(v):
                return f"{path} is a string with a lone surrogate (not UTF-8)"
            continue
        if v is None or v is True or v is False:
            continue
        t = type(v)
        if t is float:
            if not math.isfinite(v):
                return f"{path} is {v!r}, which JSON cannot hold"
            continue
        if isinstance(v, int) and not isinstance(v, np.generic):
            if not _INT_MIN <= v <= _INT_MAX:
                return f"{path} is an integer beyond 64 bits"
            continue
        if isinstance(v, dict):
            if depth >= MAX_ARGS_DEPTH and v:
                return f"{path} is nested deeper than {MAX_ARGS_DEPTH} levels"
            for k, x in v.items():
                if not isinstance(k, str):
                    return f"{path} has a key of type {type(k).__name__}; keys are strings"
                if not is_utf8(k):
                    return f"{path} has a key with a lone surrogate (not UTF-8)"
                stack.append((x, f"{path}.{k}", depth + 1))
            continue
        if isinstance(v, list):
            if depth >= MAX_ARGS_DEPTH and v:
                return f"{path} is nested deeper than {MAX_ARGS_DEPTH} levels"
            for i, x in enumerate(v):
                stack.append((x, f"{path}[{i}]", depth + 1))
            continue
        return f"{path} is a {t.__module__}.{t.__qualname__}, not a JSON value".replace(
            "builtins.", ""
        )
    return None


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def describe(value: Any, limit: int = 160) -> str:
    """A short, deterministic, JSON-safe description of any value (for the audit log).

    No object addresses, no set order that depends on the hash seed, no lone surrogates;
    at most ``limit`` characters."""
    out: list[str] = []
    budget = [limit]

    def put(s: str) -> None:
        if budget[0] > 0:
            out.append(s[: budget[0]])
            budget[0] -= len(s)

    def walk(v: Any, depth: int) -> None:
        if budget[0] <= 0:
            return
        if depth > 4:
            put("...")
            return
        if isinstance(v, dict):
            put("{")
            for i, (k, x) in enumerate(v.items()):
                if i:
                    put(", ")
                if budget[0] <= 0:
                    return
                walk(k, depth + 1)
                put(": ")
                walk(x, depth + 1)
            put("}")
        elif isinstance(v, (list, tuple)):
            put("[" if isinstance(v, list) else "(")
            for i, x in enumerate(v):
                if i:
                    put(", ")
                if budget[0] <= 0:
                    return
                walk(x, depth + 1)
            put("]" if isinstance(v, list) else ")")
        elif isinstance(v, (set, frozenset)):
            if len(v) > 64:
                put(f"{type(v).__name__}(<{len(v)} items>)")
            else:
                items = sorted(describe(x, 40) for x in v)
                put(f"{type(v).__name__}({{{', '.join(items)}}})")
        elif isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 128:
            put(f"<int of {v.bit_length()} bits>")
        elif isinstance(v, np.ndarray):
            put(f"ndarray(shape={v.shape}, dtype={v.dtype})")
        elif isinstance(v, (str, bytes, bytearray, int, float, complex, np.generic)) or v is None:
            put(repr(v[:limit] if isinstance(v, (str, bytes, bytearray)) else v))
        else:
            t = type(v)
            try:
                text = repr(v)
            except Exception:  # noqa: BLE001 - a broken __repr__ is still described
                text = ""
            text = _ADDRESS.sub("", text)
            put(f"<{t.__module__}.{t.__qualname__}>" if not text or "<" in text else text)

    walk(value, 0)
    text = "".join(out)[:limit]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def keys_desc(keys: Any) -> str:
    return ", ".join(sorted(describe(k, 30) for k in list(keys)[:8]))


def refs_of(value: Any, where: str) -> list[str] | Rejection:
    if value is None:
        return []
    if not isinstance(value, list):
        return Rejection(
            "ACTION_TOKEN_REFS_INVALID",
            f"{where} is a {type(value).__name__}; give a list of token id strings",
        )
    for i, r in enumerate(value):
        if not isinstance(r, str) or not is_utf8(r):
            return Rejection(
                "ACTION_TOKEN_REFS_INVALID",
                f"{where}[{i}] is a {type(r).__name__}; token ids are strings",
            )
    return list(value)


def sig_fields(src: dict[str, Any], out: dict[str, Any], where: str) -> Rejection | None:
    """Copy ``key_id``/``signature`` or ``sign_with`` from ``src`` into ``out``."""
    if "sign_with" in src:
        sw = src["sign_with"]
        if "key_id" in src or "signature" in src:
            return Rejection(
                "ACTION_SIGN_WITH_INVALID",
                f"{where} has sign_with and key_id/signature; give one or the other",
            )
        if (
            not isinstance(sw, (tuple, list))
            or len(sw) != 2
            or not isinstance(sw[0], str)
            or not sw[0]
            or not is_utf8(sw[0])
            or not isinstance(sw[1], Ed25519PrivateKey)
        ):
            return Rejection(
                "ACTION_SIGN_WITH_INVALID",
                f"{where}.sign_with is {describe(sw, 60)}; give (key_id, Ed25519PrivateKey)",
            )
        out["sign_with"] = (sw[0], sw[1])
        return None
    for k in ("key_id", "signature"):
        if k in src:
            v = src[k]
            if v is not None and (not isinstance(v, str) or not is_utf8(v)):
                return Rejection(
                    "ACTION_SIGNATURE_FIELDS_INVALID",
                    f"{where}.{k} is a {type(v).__name__}; give a string or None",
                )
            out[k] = v
    return None


def args_of(value: Any, where: str) -> dict[str, Any] | Rejection:
    if value is None:
        return {}
    if not isinstance(value, dict):
        return Rejection(
            "ACTION_ARGS_NOT_MAPPING", f"{where} is a {type(value).__name__}; give a dict"
        )
    problem = json_problem(value, where)
    if problem is not None:
        return Rejection("ACTION_ARGS_NOT_JSON", problem)
    return value
