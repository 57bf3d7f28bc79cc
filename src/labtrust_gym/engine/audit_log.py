"""The hash-chained audit log.

Each record is the canonical JSON of one event and its outcome. Its hash is
``sha256(prev_hash_hex || record_bytes)``; the first record chains from 64 zeros. The log
keeps the record bytes and hashes so that :meth:`AuditLog.verify` can recompute the whole
chain and point at the first record that no longer matches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labtrust_gym.engine.canonical import canonical_json

__all__ = ["AuditLog", "GENESIS_HASH", "chain_hash"]

GENESIS_HASH = "0" * 64


def chain_hash(prev_hash: str, record: bytes) -> str:
    h = hashlib.sha256(prev_hash.encode("ascii"))
    h.update(record)
    return h.hexdigest()


class AuditLog:
    """Append-only record list with a SHA-256 hash chain."""

    __slots__ = ("_records", "_hashes", "head_hash")

    def __init__(self) -> None:
        self._records: list[bytes] = []
        self._hashes: list[str] = []
        self.head_hash: str = GENESIS_HASH

    def __len__(self) -> int:
        return len(self._records)

    @property
    def length(self) -> int:
        return len(self._records)

    @property
    def last_event_hash(self) -> str | None:
        return self._hashes[-1] if self._hashes else None

    def append(self, record: dict[str, Any]) -> str:
        return self.append_bytes(canonical_json(record))

    def append_bytes(self, blob: bytes) -> str:
        """Append a record that is already canonical JSON."""
        h = hashlib.sha256(self.head_hash.encode("ascii"))
        h.update(blob)
        digest = h.hexdigest()
        self._records.append(blob)
        self._hashes.append(digest)
        self.head_hash = digest
        return digest

    def summary(self) -> dict[str, Any]:
        return {
            "head_hash": self.head_hash,
            "length": len(self._records),
            "last_event_hash": self._hashes[-1] if self._hashes else None,
        }

    def verify(self) -> tuple[bool, int | None]:
        """Recompute the chain. Returns ``(True, None)`` or ``(False, first_bad_index)``."""
        prev = GENESIS_HASH
        n = min(len(self._records), len(self._hashes))
        for i in range(n):
            prev = chain_hash(prev, self._records[i])
            if prev != self._hashes[i]:
                return False, i
        if len(self._records) != len(self._hashes):
            return False, n  # a record without its hash, or a hash without its record
        if self.head_hash != prev:
            return False, max(n - 1, 0)
        return True, None

    # -- access -------------------------------------------------------------------------
    def records(self) -> Iterator[bytes]:
        return iter(self._records)

    def record_bytes(self, index: int) -> bytes:
        return self._records[index]

    def hashes(self) -> list[str]:
        return list(self._hashes)

    def tamper(self, index: int, new_record: bytes) -> None:
        """Overwrite a stored record without rehashing (for forensic drills and tests).

        This is what an attacker with write access to storage can do; :meth:`verify`
        detects it.
        """
        self._records[index] = new_record

    def to_jsonl(self) -> bytes:
        """The log as JSONL: one line per record, each ``{"hash": ..., "record": ...}``."""
        out = bytearray()
        for blob, digest in zip(self._records, self._hashes, strict=True):
            out += b'{"hash":"' + digest.encode("ascii") + b'","record":' + blob + b"}\n"
        return bytes(out)

    def write_jsonl(self, path: Path | str) -> None:
        """Write :meth:`to_jsonl` to ``path`` atomically (never a partial file)."""
        from labtrust_gym.outputs import atomic_write_bytes

        atomic_write_bytes(Path(path), self.to_jsonl())

    def sha256(self) -> str:
        """Digest of the whole JSONL export (stable across processes). This is the
        engine's audit export; ``episode_log_sha256`` in results is the digest of the
        episode log file (:mod:`labtrust_gym.evidence.episode_log`)."""
        return hashlib.sha256(self.to_jsonl()).hexdigest()

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "records": list(self._records),
            "hashes": list(self._hashes),
            "head_hash": self.head_hash,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._records = list(state["records"])
        self._hashes = list(state["hashes"])
        self.head_hash = state["head_hash"]
