"""The compiled-policy cache: parsed and validated policy files, kept between processes.

Parsing YAML and checking JSON Schemas is most of a cold start. A policy file whose bytes
(and the code that reads them) did not change parses to the same document, so the
document is kept as JSON in a user cache directory, keyed by the SHA-256 of the file's
bytes, the reader's options and a digest of the reading and validating code. A policy
tree that validated once is recorded the same way (keyed by every file, overlay and schema
that went into the check), so an unchanged policy is not validated again.

* Where: ``$LABTRUST_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/labtrust-gym``, else
  ``~/.cache/labtrust-gym``. A cache directory inside an artifact root's policy directory
  is refused (nothing is ever written into a root): :class:`~labtrust_gym.errors.ConfigError`.
* Off: ``LABTRUST_DISABLE_POLICY_CACHE=1``.
* Safe: each entry carries the SHA-256 of its payload; an entry that is truncated,
  corrupt or unreadable is a miss and is written again. Writes are atomic
  (:mod:`labtrust_gym.outputs`) and best effort: a read-only cache directory only costs
  the speed-up. Only plain JSON documents (string keys, 64-bit integers; ``inf`` and
  ``nan`` are written by the standard json module) are cached.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

from labtrust_gym.envvars import env_flag
from labtrust_gym.errors import ConfigError

__all__ = [
    "ENV_CACHE_DIR",
    "ENV_DISABLE_CACHE",
    "cache_dir",
    "code_digest",
    "get_json",
    "put_json",
    "has_marker",
    "put_marker",
    "json_safe",
]

ENV_CACHE_DIR = "LABTRUST_CACHE_DIR"
ENV_DISABLE_CACHE = "LABTRUST_DISABLE_POLICY_CACHE"
#: Bumped when the layout of the cache changes.
_FORMAT = "1"

_DIR_MEMO: dict[tuple[str, ...], Path] = {}


def _configured_dir() -> Path | None:
    explicit = os.environ.get(ENV_CACHE_DIR, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():  # the XDG spec ignores a relative value
        return Path(xdg) / "labtrust-gym"
    try:
        return Path.home() / ".cache" / "labtrust-gym"
    except RuntimeError:  # no home directory: no cache (set LABTRUST_CACHE_DIR for one)
        return None


def cache_dir() -> Path | None:
    """The policy cache directory, or ``None`` when the cache is switched off."""
    if env_flag(ENV_DISABLE_CACHE):
        return None
    from labtrust_gym.paths import ENV_EXTRA_ROOTS, ENV_POLICY_DIR, ENV_ROOT

    key = tuple(
        os.environ.get(k, "")
        for k in (ENV_CACHE_DIR, "XDG_CACHE_HOME", "HOME", ENV_EXTRA_ROOTS, ENV_POLICY_DIR)
    ) + (os.environ.get(ENV_ROOT, ""), os.getcwd())
    hit = _DIR_MEMO.get(key)
    if hit is not None:
        return hit
    from labtrust_gym.paths import search_roots

    base = _configured_dir()
    if base is None:
        return None
    d = base / f"policy-cache-v{_FORMAT}"
    real = Path(os.path.realpath(d))
    for root in search_roots():
        if real.is_relative_to(root.real):
            raise ConfigError(
                f"the policy cache directory {d} is inside the artifact root {root.policy_dir} "
                f"({root.label}); nothing may be written into a root: set {ENV_CACHE_DIR} to "
                f"another directory, or {ENV_DISABLE_CACHE}=1"
            )
    _DIR_MEMO[key] = d
    return d


_CODE: dict[str, str] = {}


def code_digest() -> str:
    """SHA-256 over the policy reader's and validator's source files (their sizes and
    modification times), the package version and the cache format: a change of any of
    them invalidates the cache."""
    hit = _CODE.get("digest")
    if hit is not None:
        return hit
    from labtrust_gym._version import __version__

    h = hashlib.sha256(f"labtrust-gym {__version__} format {_FORMAT}\n".encode())
    here = Path(__file__).resolve().parent
    # Each source file's size and modification time, as for bytecode caches: reading
    # them all would cost every command more than the cache saves a short one.
    for path in sorted(here.rglob("*.py")):
        h.update(path.relative_to(here).as_posix().encode() + b"\0")
        try:
            st = path.stat()
            h.update(f"{st.st_size}:{st.st_mtime_ns}\0".encode())
        except OSError:
            h.update(b"<unreadable>")
    digest = h.hexdigest()
    _CODE["digest"] = digest
    return digest


def json_safe(obj: Any, _depth: int = 0, *, finite: bool = True) -> bool:
    """Whether ``obj`` round-trips through JSON unchanged (str keys, ints within 64 bits,
    lists, no other types; with ``finite``, no ``inf``/``nan`` either)."""
    if obj is None or isinstance(obj, (bool, str)):
        return True
    if isinstance(obj, int):
        return -(2**63) <= obj < 2**63
    if isinstance(obj, float):
        return math.isfinite(obj) or not finite
    if _depth > 200:
        return False
    if isinstance(obj, list):
        return all(json_safe(v, _depth + 1, finite=finite) for v in obj)
    if isinstance(obj, dict):
        return all(
            isinstance(k, str) and json_safe(v, _depth + 1, finite=finite) for k, v in obj.items()
        )
    return False


def _entry(kind: str, key: str) -> Path | None:
    d = cache_dir()
    if d is None:
        return None
    return d / kind / key[:2] / f"{key}.json"


def get_json(kind: str, key: str) -> tuple[bool, Any]:
    """``(True, document)`` for a sound cache entry, else ``(False, None)``."""
    ok, doc, _ = read_json(kind, key)
    return ok, doc


def read_json(kind: str, key: str) -> tuple[bool, Any, bool]:
    """:func:`get_json` and whether the document is finite (holds no ``inf``/``nan``)."""
    path = _entry(kind, key)
    if path is None:
        return False, None, False
    try:
        blob = path.read_bytes()
    except OSError:
        return False, None, False
    head, sep, payload = blob.partition(b"\n")
    digest, _, fmt = head.partition(b" ")
    if not sep or hashlib.sha256(payload).hexdigest().encode() != digest:
        return False, None, False  # truncated or corrupt: a miss, rewritten by the caller
    try:
        if fmt == b"json":  # documents holding inf/nan (orjson cannot write those)
            import json

            return True, json.loads(payload), False
        import orjson

        return True, orjson.loads(payload), True
    except ValueError:
        return False, None, False


def put_json(kind: str, key: str, doc: Any) -> bool:
    """Store ``doc`` (if JSON-safe); ``False`` when it was not stored."""
    path = _entry(kind, key)
    if path is None or not json_safe(doc, finite=False):
        return False
    from labtrust_gym.outputs import atomic_write_bytes

    fmt = b"orjson"
    if json_safe(doc):
        import orjson

        payload = orjson.dumps(doc)
    else:
        import json

        payload, fmt = json.dumps(doc, allow_nan=True).encode(), b"json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        head = hashlib.sha256(payload).hexdigest().encode() + b" " + fmt
        atomic_write_bytes(path, head + b"\n" + payload, fsync=False)
    except (OSError, ConfigError):
        return False  # a read-only or full cache only costs the speed-up
    return True


def has_marker(kind: str, key: str) -> bool:
    ok, doc = get_json(kind, key)
    return ok and doc == {"ok": key}


def put_marker(kind: str, key: str) -> bool:
    return put_json(kind, key, {"ok": key})
