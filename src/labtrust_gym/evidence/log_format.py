"""The episode log format ``labtrust.episode_log.v1``: lines, hash chain, signature sidecar.

Standard library only: the writer (:mod:`labtrust_gym.evidence.episode_log`) and the
independent verifier share these definitions. docs/evidence.md describes the format.

A log is JSONL, one record per line, every line ending in ``\\n``. Each record is a JSON
object with ``type`` (``header``, ``event``, ``tick`` or ``footer``), ``seq`` (its line
index, from 0) and ``prev`` (the hash of the line before, or :data:`GENESIS` for the
header). A line is the record's canonical JSON with its hash appended as the last
member::

    <canonical record without the closing brace>,"hash":"<64 hex>"}

and ``hash = sha256(prev_hex_ascii || canonical record bytes)``. The record bytes are
recovered by replacing the trailing ``,"hash":"…"}`` with ``}``, so the verifier hashes
the exact bytes on disk, never a re-serialization: any edit to any byte of any record
changes a hash. The first line is the header, the last the footer (with the number of
records before it); nothing may follow the footer.

The signature sidecar ``<log>.sig.json`` (and the bundle's ``manifest.sig.json``) signs
the SHA-256 of a file with the audit key; see :func:`signature_payload`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from labtrust_gym.evidence.canonical import canonical_bytes

__all__ = [
    "LOG_FORMAT",
    "SIGNATURE_FORMAT",
    "GENESIS",
    "RECORD_TYPES",
    "SIDECAR_SUFFIX",
    "chain_hash",
    "seal",
    "unseal",
    "signature_payload",
    "sidecar_path_name",
]

LOG_FORMAT = "labtrust.episode_log.v1"
SIGNATURE_FORMAT = "labtrust.signature.v1"
GENESIS = "0" * 64
RECORD_TYPES = ("header", "event", "tick", "footer")
SIDECAR_SUFFIX = ".sig.json"

_TAIL = re.compile(rb',"hash":"([0-9a-f]{64})"\}\Z')
_HASH_LEN = len(b',"hash":"') + 64 + len(b'"}')


def chain_hash(prev: str, record: bytes) -> str:
    """``sha256(prev || record)`` as hex; ``prev`` is the previous line's hash (hex)."""
    h = hashlib.sha256(prev.encode("ascii"))
    h.update(record)
    return h.hexdigest()


def seal(record: bytes, prev: str) -> tuple[bytes, str]:
    """The line (without its newline) and hash of a record's canonical bytes."""
    digest = chain_hash(prev, record)
    return record[:-1] + b',"hash":"' + digest.encode("ascii") + b'"}', digest


def unseal(line: bytes) -> tuple[bytes, str] | None:
    """``(record bytes, claimed hash)`` of a line, or None if it does not end with a
    hash member."""
    if len(line) <= _HASH_LEN or not line.startswith(b"{"):
        return None
    m = _TAIL.search(line)
    if m is None:
        return None
    return line[: m.start()] + b"}", m.group(1).decode("ascii")


def signature_payload(
    kind: str, sha256: str, size: int, extra: dict[str, Any] | None = None
) -> bytes:
    """The bytes an audit signature covers: the canonical JSON of the signature format,
    what is signed (``kind``: ``episode_log`` or ``bundle_manifest``), the file's SHA-256
    and size, and ``extra`` (the log's final chain head and record count)."""
    doc: dict[str, Any] = {
        "format": SIGNATURE_FORMAT,
        "kind": kind,
        "sha256": sha256,
        "bytes": size,
    }
    if extra:
        doc.update(extra)
    return canonical_bytes(doc)


def sidecar_path_name(log_name: str) -> str:
    """The file name of a log's signature sidecar."""
    return log_name + SIDECAR_SUFFIX
