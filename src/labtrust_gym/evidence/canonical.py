"""Canonical JSON with the standard library only.

The engine hashes and signs the canonical JSON that :mod:`orjson` produces (keys sorted,
no whitespace, UTF-8). The independent verifier must rebuild the same bytes without
orjson (it imports only the standard library and ``cryptography``), so this module
reproduces orjson's output for every value a parsed JSON document can hold:

* ``null``, ``true``, ``false``, integers as decimal digits;
* strings as :func:`json.dumps` with ``ensure_ascii=False`` (the same escapes as orjson:
  ``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t`` and ``\\u00XX`` for the other control
  characters);
* floats as the shortest repr that round-trips (both use it), except that orjson writes
  exponents without zero padding (``1e-7``, ``1e+16``) and writes numbers with a decimal
  exponent of -5 in positional form (``0.00001234``); non-finite floats become ``null``;
* object keys sorted by code point (the same order as orjson's UTF-8 byte order).

A value that orjson itself refuses (a lone surrogate, a key that is not a string) raises
:class:`ValueError` here too.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["canonical_bytes", "format_float"]

_encode_str = json.encoder.encode_basestring  # ensure_ascii=False form, C accelerated


def format_float(v: float) -> str:
    """The text orjson writes for the float ``v``."""
    if not math.isfinite(v):
        return "null"
    r = float.__repr__(float(v))
    if "e" not in r:
        return r
    mant, _, exp_s = r.partition("e")
    exp = int(exp_s)
    if exp == -5:
        # repr switches to exponent form below 1e-4, orjson only below 1e-5.
        neg = mant.startswith("-")
        digits = mant.lstrip("-").replace(".", "")
        return ("-" if neg else "") + "0.0000" + digits
    return f"{mant}e{'+' if exp > 0 else '-'}{abs(exp)}"


def _encode(obj: Any, out: list[str]) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(_encode_str(obj))
    elif isinstance(obj, int):
        out.append(str(int(obj)))
    elif isinstance(obj, float):
        out.append(format_float(float(obj)))
    elif isinstance(obj, dict):
        out.append("{")
        first = True
        for k in sorted(obj):
            if not isinstance(k, str):
                raise ValueError(f"object key {k!r} is not a string")
            if not first:
                out.append(",")
            first = False
            out.append(_encode_str(k))
            out.append(":")
            _encode(obj[k], out)
        out.append("}")
    elif isinstance(obj, (list, tuple)):
        out.append("[")
        for i, item in enumerate(obj):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise ValueError(f"{type(obj).__name__} is not a JSON value")


def canonical_bytes(obj: Any) -> bytes:
    """The canonical JSON bytes of ``obj`` (see the module docstring).

    Raises :class:`ValueError` for values with no canonical form (lone surrogates,
    non-string keys, non-JSON types, nesting deeper than the interpreter allows).
    """
    out: list[str] = []
    try:
        _encode(obj, out)
        return "".join(out).encode("utf-8")
    except RecursionError:
        raise ValueError("value nested too deeply") from None
    except UnicodeEncodeError as exc:
        raise ValueError(f"string is not valid UTF-8 ({exc.reason})") from None
