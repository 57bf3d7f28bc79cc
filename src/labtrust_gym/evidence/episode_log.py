"""Writing episode logs (format ``labtrust.episode_log.v1``, see :mod:`.log_format`).

The env builds its episode's log as it steps (:class:`EpisodeLog`): a header at reset,
one ``event`` record per action the engine processed, one ``tick`` record per
end-of-step clock advance that appended to the engine's audit chain. The lines are kept
as bytes (about the size of the engine's own audit records), so the log's digest is
known whether or not the log is written: ``episode_log_sha256`` in the results is
:func:`episode_log_sha256`, the SHA-256 of exactly the bytes :func:`write_episode_log`
writes (header, records and the footer of the episode as it stands).

Records (every record also has ``type``, ``seq``, ``prev`` and, last, ``hash``):

* header: ``format``, ``package_version``, ``domain``, ``task``, ``seed``,
  ``max_steps``, ``dt_s``, ``timing_mode``, ``policy_fingerprint``,
  ``world_fingerprint`` (what agent signatures bind), ``initial_state`` and its
  ``initial_state_sha256``, ``keys`` (the agents' key ids, agents, public keys and
  status at reset), ``sla_targets_s`` (turnaround target per priority);
* event: ``step``, ``rejected`` (only for an action the env's codec rejected: its
  ``ACTION_*`` reason code; ``event`` is then the audited stub), ``event`` (as
  submitted, signature included), ``result``:
  ``status``, ``blocked_reason_code``, ``emits``, ``violations`` (invariant ids),
  ``token_consumed``, ``signature_verified`` (the engine checked the event's signature
  and it was valid), ``now_s`` (engine time after the event), ``head_hash`` and
  ``audit_length`` (the engine's audit chain after the event);
* tick: ``step``, ``t_s``, ``result``: ``emits``, ``violations``, ``head_hash``,
  ``audit_length``;
* footer: ``records`` (lines before the footer), ``steps``, ``t_end_s``,
  ``audit_head_hash``, ``audit_length``;
* extension records (:meth:`EpisodeLog.extra`): any other ``type``, e.g. the ``llm``
  records (request and response hashes) of LLM agents, which the runner appends after
  each step; chained and signed like the rest, not interpreted by the verifier.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from labtrust_gym._version import __version__
from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.evidence.log_format import (
    GENESIS,
    LOG_FORMAT,
    RECORD_TYPES,
    seal,
    sidecar_path_name,
)

__all__ = [
    "EpisodeLog",
    "episode_log_bytes",
    "episode_log_sha256",
    "write_episode_log",
    "write_log_bytes",
]


class EpisodeLog:
    """The lines of one episode's log, hash-chained as they are appended."""

    __slots__ = ("_lines", "_head", "_seq")

    def __init__(self) -> None:
        self._lines: list[bytes] = []
        self._head = GENESIS
        self._seq = 0

    def __len__(self) -> int:
        return self._seq

    @property
    def head(self) -> str:
        """Hash of the last line appended (GENESIS when empty)."""
        return self._head

    @classmethod
    def start(cls, task: Any, engine: Any, seed: int) -> EpisodeLog:
        """A log whose header describes the episode ``engine`` was just reset to."""
        log = cls()
        init = engine.initial_state
        header: dict[str, Any] = {
            "type": "header",
            "format": LOG_FORMAT,
            "package_version": __version__,
            "domain": getattr(engine, "domain_id", None),
            "task": task.name,
            "seed": int(seed),
            "max_steps": int(task.max_steps),
            "dt_s": float(task.dt_s),
            "timing_mode": engine.timing_mode,
            "policy_fingerprint": task.policy.fingerprint,
            "world_fingerprint": engine.world.fingerprint,
            "keys": engine.keys.state_dict(),
            "sla_targets_s": {
                p: float(v["target_tat_s"]) for p, v in engine.world.priorities.items()
            },
        }
        try:
            header["initial_state_sha256"] = hashlib.sha256(canonical_json(init)).hexdigest()
            header["initial_state"] = init
        except (TypeError, ValueError) as exc:
            # Not JSON: the log still chains, but it cannot be replayed.
            header["initial_state_sha256"] = None
            header["initial_state"] = None
            header["initial_state_error"] = f"initial state is not JSON ({exc})"
        log._append(header)
        return log

    def _append(self, rec: dict[str, Any]) -> None:
        rec["seq"] = self._seq
        rec["prev"] = self._head
        line, digest = seal(canonical_json(rec), self._head)
        self._lines.append(line + b"\n")
        self._head = digest
        self._seq += 1

    def event(
        self,
        step: int,
        event: Any,
        res: dict[str, Any],
        engine: Any,
        rejected: str | None = None,
    ) -> None:
        """Record one action the engine processed (``res``: its step result).

        ``rejected``: the reason code of an action the env's codec rejected before it
        became an engine event (``event`` is then the stub that
        :meth:`~labtrust_gym.engine.core_env.LabEngine.reject` audited), so a replay
        rejects it again instead of stepping it."""
        chain = res["hashchain"]
        rec: dict[str, Any] = {"type": "event", "step": step}
        if rejected is not None:
            rec["rejected"] = rejected
        rec.update(
            {
                "event": event,
                "result": {
                    "status": res["status"],
                    "blocked_reason_code": res["blocked_reason_code"],
                    "emits": list(res["emits"]),
                    "violations": [v["invariant_id"] for v in res["violations"]],
                    "token_consumed": list(res["token_consumed"]),
                    "signature_verified": engine.step_ctx.get("signed") is True,
                    "now_s": float(engine.now),
                    "head_hash": chain["head_hash"],
                    "audit_length": chain["length"],
                },
            }
        )
        try:
            self._append(rec)
        except (TypeError, ValueError):
            # The engine audited the same stand-in for an event with no JSON form.
            rec["event"] = {"unserializable_event": type(event).__name__}
            self._append(rec)

    def tick(self, step: int, t_s: float, res: dict[str, Any]) -> None:
        """Record an end-of-step clock advance that appended to the audit chain."""
        chain = res["hashchain"]
        self._append(
            {
                "type": "tick",
                "step": step,
                "t_s": float(t_s),
                "result": {
                    "emits": list(res["emits"]),
                    "violations": [v["invariant_id"] for v in res["violations"]],
                    "head_hash": chain["head_hash"],
                    "audit_length": chain["length"],
                },
            }
        )

    def extra(self, records: Iterable[dict[str, Any]]) -> None:
        """Append extension records (a ``type`` of their own, e.g. ``llm`` records of LLM
        agents), chained like every other line; the verifier and the replay carry them
        without interpreting them."""
        for rec in records:
            kind = rec.get("type") if isinstance(rec, dict) else None
            if not isinstance(kind, str) or not kind or kind in RECORD_TYPES:
                raise ValueError(
                    f"an extension record needs a 'type' other than {', '.join(RECORD_TYPES)}; "
                    f"got {kind!r}"
                )
            self._append({k: v for k, v in rec.items() if k not in ("seq", "prev", "hash")})

    def records(self) -> list[dict[str, Any]]:
        """The records so far, parsed (header first; no footer yet)."""
        return [json.loads(line) for line in self._lines]

    def footer_line(self, engine: Any, steps: int) -> tuple[bytes, str]:
        """The footer line for the episode as it stands, and its hash (the final head)."""
        rec = {
            "type": "footer",
            "records": self._seq,
            "steps": int(steps),
            "t_end_s": float(engine.now),
            "audit_head_hash": engine.audit.head_hash,
            "audit_length": engine.audit.length,
            "seq": self._seq,
            "prev": self._head,
        }
        line, digest = seal(canonical_json(rec), self._head)
        return line + b"\n", digest

    def to_bytes(self, engine: Any, steps: int) -> bytes:
        """The whole log file: the lines so far and the footer."""
        if not self._lines:
            raise ValueError("episode log has no header: reset the env first")
        footer, _ = self.footer_line(engine, steps)
        return b"".join(self._lines) + footer


def episode_log_bytes(env: Any) -> bytes:
    """The bytes of ``env``'s episode log, footer included (what would be written now)."""
    log = getattr(env, "episode_log", None)
    if not isinstance(log, EpisodeLog):
        raise ValueError(f"{type(env).__name__} keeps no episode log")
    data: bytes = log.to_bytes(env.engine, env.step_count)
    return data


def episode_log_sha256(env: Any) -> str | None:
    """SHA-256 of :func:`episode_log_bytes` (None for an env that keeps no log)."""
    log = getattr(env, "episode_log", None)
    if not isinstance(log, EpisodeLog) or len(log) == 0:
        return None
    return hashlib.sha256(episode_log_bytes(env)).hexdigest()


def write_episode_log(env: Any, path: Path | str, *, sign: bool = True) -> str:
    """Write ``env``'s episode log atomically, and (``sign``) its signature sidecar
    ``<log>.sig.json`` signed with the audit key; returns the log's SHA-256."""
    data = episode_log_bytes(env)
    _, head = env.episode_log.footer_line(env.engine, env.step_count)
    return write_log_bytes(path, data, head, len(env.episode_log) + 1, sign=sign)


def write_log_bytes(
    path: Path | str, data: bytes, chain_head: str, lines: int, *, sign: bool = True
) -> str:
    """Write the finished log ``data`` (``lines`` lines, footer included, whose last line
    hashes to ``chain_head``) atomically with its signature sidecar; returns its SHA-256."""
    from labtrust_gym.outputs import atomic_write_bytes

    p = Path(path)
    key = None
    if sign:
        from labtrust_gym.evidence.keys import audit_key

        key = audit_key()  # before writing anything: a key problem leaves no half pair
    atomic_write_bytes(p, data)
    if key is not None:
        from labtrust_gym.evidence.crypto import sign_file_bytes

        doc = sign_file_bytes(
            key.private_key, "episode_log", data, {"chain_head": chain_head, "lines": lines}
        )
        atomic_write_bytes(
            p.with_name(sidecar_path_name(p.name)), (json.dumps(doc, indent=2) + "\n").encode()
        )
    return hashlib.sha256(data).hexdigest()
