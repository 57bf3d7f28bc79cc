"""The hash-chained event log of an improvement run (``RUN/events.jsonl``).

One JSON object a line, keys sorted::

    {"schema": "labtrust.improve.event.v1", "seq": 0, "ts": "...Z", "run_id": "...",
     "cycle": 0, "stage": "run", "kind": "run_started", "payload": {...},
     "prev_hash": "000...0", "hash": "..."}

``hash`` is the SHA-256 of the canonical JSON of the line without ``hash`` and without
``ts``; ``prev_hash`` is the previous line's ``hash`` (64 zeros for ``seq`` 0). ``ts`` is
the wall clock, the only field allowed to differ between two runs of the same config;
leaving it out of the hash makes the chain head a fingerprint of the run's content
(equal for equal runs), at the price that ``ts`` itself is not protected.

:class:`EventBus` is the single writer: an exclusive ``flock`` on ``RUN/events.lock``
held while the bus is open (a second writer, in this process or another, is refused),
and a thread lock around each append. Lines are written with one ``write`` and flushed;
``fsync`` happens at stage boundaries (:meth:`EventBus.emit` with ``sync=True``,
:meth:`EventBus.sync`). On open, a torn last line (a kill during the write) is cut off
and the cut is itself recorded as an ``log_tail_repaired`` event, so nothing is lost
silently. :func:`verify_chain` checks a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.errors import ConfigError

__all__ = [
    "EVENT_SCHEMA",
    "EVENTS_FILE",
    "GENESIS",
    "Event",
    "EventBus",
    "event_hash",
    "read_events",
    "verify_chain",
]

EVENT_SCHEMA = "labtrust.improve.event.v1"
EVENTS_FILE = "events.jsonl"
LOCK_FILE = "events.lock"
GENESIS = "0" * 64


@dataclass(frozen=True)
class Event:
    """What happened: ``stage`` (run, propose, collect, train, eval, decide, apply,
    knowledge, final), ``kind`` (e.g. ``stage_done``, ``constitution_denied``) and a
    JSON ``payload`` (deterministic: no wall times, pids or absolute paths)."""

    run_id: str
    stage: str
    kind: str
    cycle: int = 0
    payload: dict[str, Any] = field(default_factory=dict)


def event_hash(line: dict[str, Any]) -> str:
    body = {k: v for k, v in line.items() if k not in ("hash", "ts")}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventBus:
    """The locked single writer of ``run_dir/events.jsonl`` (see the module docstring).
    Use as a context manager, or call :meth:`close`."""

    def __init__(self, run_dir: Path | str) -> None:
        import fcntl

        self.dir = Path(run_dir)
        self.path = self.dir / EVENTS_FILE
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise ConfigError(
                f"{self.path}: another process is writing this run (its events lock is "
                "held); wait for it to finish or stop it"
            ) from None
        self._mutex = threading.Lock()
        repaired = self._repair_tail()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.seq, self.head = self._tail()
        self.closed = False
        if repaired is not None:
            run_id, nbytes = repaired
            self.emit(
                Event(run_id, "run", "log_tail_repaired", payload={"dropped_bytes": nbytes}),
                sync=True,
            )

    def _repair_tail(self) -> tuple[str, int] | None:
        """Cut a torn last line; ``(run_id, bytes dropped)`` or None."""
        if not self.path.is_file():
            return None
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return None
        keep = data.rfind(b"\n") + 1
        run_id = ""
        if keep:
            prev = data[:keep].rstrip(b"\n").rsplit(b"\n", 1)[-1]
            run_id = str(json.loads(prev).get("run_id", ""))
        with open(self.path, "r+b") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        return run_id, len(data) - keep

    def _tail(self) -> tuple[int, str]:
        """(next seq, last hash) of the file as it is."""
        last = None
        if self.path.is_file():
            with open(self.path, "rb") as f:
                for raw in f:
                    if raw.strip():
                        last = raw
        if last is None:
            return 0, GENESIS
        doc = json.loads(last)
        return int(doc["seq"]) + 1, str(doc["hash"])

    def emit(self, ev: Event, *, sync: bool = False) -> dict[str, Any]:
        """Append ``ev``; the line written. ``sync``: fsync now (stage boundaries)."""
        with self._mutex:
            if self.closed:
                raise ConfigError(f"{self.path}: the event bus is closed")
            line: dict[str, Any] = {
                "schema": EVENT_SCHEMA,
                "seq": self.seq,
                "ts": _now(),
                "run_id": ev.run_id,
                "cycle": int(ev.cycle),
                "stage": ev.stage,
                "kind": ev.kind,
                "payload": ev.payload,
                "prev_hash": self.head,
            }
            line["hash"] = event_hash(line)
            data = (json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n").encode()
            os.write(self._fd, data)
            if sync:
                os.fsync(self._fd)
            self.seq += 1
            self.head = line["hash"]
            return line

    def sync(self) -> None:
        with self._mutex:
            if not self.closed:
                os.fsync(self._fd)

    def close(self) -> None:
        with self._mutex:
            if self.closed:
                return
            self.closed = True
            os.fsync(self._fd)
            os.close(self._fd)
            os.close(self._lock_fd)  # releases the flock

    def __enter__(self) -> EventBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_events(path: Path | str) -> list[dict[str, Any]]:
    """The events of a file (a run directory or its ``events.jsonl``)."""
    p = Path(path)
    if p.is_dir():
        p = p / EVENTS_FILE
    if not p.is_file():
        raise ConfigError(f"{p}: no event log here; give a run directory or its events.jsonl")
    out = []
    with open(p, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                out.append(json.loads(raw))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{p}: line {n} is not JSON ({exc.msg})") from None
    return out


_KEYS = ("schema", "seq", "ts", "run_id", "cycle", "stage", "kind", "payload", "prev_hash", "hash")


def verify_chain(path: Path | str) -> dict[str, Any]:
    """Check the chain: ``{ok, events, head, problems}``. A problem names the line
    (1-based) and what is wrong: a missing or extra key, a ``seq`` out of order, a
    ``prev_hash`` that is not the previous hash, a ``hash`` that does not match the
    line, a torn or non-JSON line."""
    p = Path(path)
    if p.is_dir():
        p = p / EVENTS_FILE
    if not p.is_file():
        raise ConfigError(f"{p}: no event log here; give a run directory or its events.jsonl")
    problems: list[str] = []
    prev = GENESIS
    n = 0
    data = p.read_bytes()
    if data and not data.endswith(b"\n"):
        problems.append("the last line is torn (no newline): the writer was killed mid-line")
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError:
            problems.append(f"line {lineno}: not JSON")
            prev = "?"
            continue
        if not isinstance(doc, dict) or set(doc) != set(_KEYS):
            problems.append(f"line {lineno}: keys {sorted(doc) if isinstance(doc, dict) else doc}")
            prev = "?"
            continue
        if doc["seq"] != n:
            problems.append(f"line {lineno}: seq {doc['seq']}, expected {n}")
        if doc["prev_hash"] != prev:
            problems.append(f"line {lineno}: prev_hash does not match the previous line's hash")
        if event_hash(doc) != doc["hash"]:
            problems.append(f"line {lineno}: hash does not match the line (edited?)")
        if doc["schema"] != EVENT_SCHEMA:
            problems.append(f"line {lineno}: schema {doc['schema']!r}, expected {EVENT_SCHEMA}")
        prev = str(doc["hash"])
        n += 1
    return {"ok": not problems, "events": n, "head": prev, "problems": problems}
