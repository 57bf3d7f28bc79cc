"""Checking one episode log without the engine (standard library and ``cryptography``).

* :func:`parse_log` reads the bytes of a ``labtrust.episode_log.v1`` log and recomputes
  its hash chain line by line: every line must carry its hash, chain from the line
  before, have the right ``seq``, and the file must be header, records, footer (with the
  record count), each line ending in a newline. It never raises; problems name the line.
* :func:`check_audit_chain` recomputes the engine's own audit chain from the events and
  outcomes in the log, so the recorded ``head_hash`` values bind every outcome field.
* :func:`check_agent_signatures` checks every signed event against the agents' public
  keys in the header: a signature the engine accepted must verify, one it rejected as
  invalid must not.

The byte forms the engine hashes and agents sign are rebuilt with
:func:`~labtrust_gym.evidence.canonical.canonical_bytes`; docs/evidence.md states them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from labtrust_gym.evidence.canonical import canonical_bytes
from labtrust_gym.evidence.crypto import ed25519_verify
from labtrust_gym.evidence.log_format import (
    GENESIS,
    LOG_FORMAT,
    RECORD_TYPES,
    chain_hash,
    unseal,
)

__all__ = [
    "ParsedLog",
    "parse_log",
    "check_audit_chain",
    "check_agent_signatures",
    "audit_blob",
    "SIGNED_FIELDS",
    "MAX_PROBLEMS",
]

#: Event fields an agent signature covers (with the world fingerprint and the audit head
#: before the event); the engine's ``labtrust_gym.engine.signatures.signing_payload``.
SIGNED_FIELDS = ("event_id", "t_s", "agent_id", "action_type", "args", "token_refs", "key_id")
#: Problems reported per check before the rest are only counted.
MAX_PROBLEMS = 8

_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")


@dataclass
class ParsedLog:
    """What :func:`parse_log` found. ``records`` holds ``(line number, record)`` of the
    event and tick records, ``extras`` those of extension records (another ``type``, such
    as ``llm``: chained, not interpreted); ``problems`` is empty when the chain and
    structure hold."""

    header: dict[str, Any] | None = None
    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    extras: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    footer: dict[str, Any] | None = None
    final_head: str | None = None
    lines: int = 0
    problems: list[str] = field(default_factory=list)
    more_problems: int = 0

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.more_problems += 1

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def usable(self) -> bool:
        """Header and footer were found with well-formed fields (other checks can run)."""
        return self.header is not None and self.footer is not None

    def summary(self) -> str:
        if self.ok:
            return f"{self.lines} lines, chain and footer intact, head {self.final_head}"
        more = f" (+{self.more_problems} more)" if self.more_problems else ""
        return "; ".join(self.problems) + more


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_hex(v: Any) -> bool:
    return isinstance(v, str) and bool(_HEX64.match(v))


def _field_problems(rec: dict[str, Any], spec: dict[str, Any], where: str) -> list[str]:
    out = []
    for name, check in spec.items():
        if name not in rec:
            out.append(f"{where}: missing field {name!r}")
        elif not check(rec[name]):
            out.append(f"{where}: field {name!r} has a malformed value {rec[name]!r:.60}")
    return out


_HEADER_SPEC: dict[str, Any] = {
    "format": lambda v: v == LOG_FORMAT,
    "task": lambda v: isinstance(v, str),
    "seed": _is_int,
    "max_steps": lambda v: _is_int(v) and v >= 0,
    "dt_s": lambda v: _is_num(v) and v > 0,
    "policy_fingerprint": lambda v: isinstance(v, str),
    "world_fingerprint": lambda v: isinstance(v, str),
    "keys": lambda v: (
        isinstance(v, dict)
        and all(
            isinstance(e, dict)
            and isinstance(e.get("agent_id"), str)
            and _is_hex(e.get("public_key"))
            and isinstance(e.get("status"), str)
            for e in v.values()
        )
    ),
    "sla_targets_s": lambda v: isinstance(v, dict) and all(_is_num(x) for x in v.values()),
    "initial_state": lambda v: v is None or isinstance(v, dict),
    "initial_state_sha256": lambda v: v is None or _is_hex(v),
}
_EVENT_RESULT_SPEC: dict[str, Any] = {
    "status": lambda v: v in ("ACCEPTED", "BLOCKED"),
    "blocked_reason_code": lambda v: v is None or isinstance(v, str),
    "emits": _is_str_list,
    "violations": _is_str_list,
    "token_consumed": _is_str_list,
    "signature_verified": lambda v: isinstance(v, bool),
    "now_s": _is_num,
    "head_hash": _is_hex,
    "audit_length": lambda v: _is_int(v) and v >= 1,
}
_TICK_RESULT_SPEC: dict[str, Any] = {
    "emits": _is_str_list,
    "violations": _is_str_list,
    "head_hash": _is_hex,
    "audit_length": lambda v: _is_int(v) and v >= 1,
}
_FOOTER_SPEC: dict[str, Any] = {
    "records": _is_int,
    "steps": lambda v: _is_int(v) and v >= 0,
    "t_end_s": _is_num,
    "audit_head_hash": _is_hex,
    "audit_length": lambda v: _is_int(v) and v >= 0,
}


def _check_record(rec: dict[str, Any], kind: str, where: str) -> list[str]:
    if kind == "header":
        return _field_problems(rec, _HEADER_SPEC, where)
    if kind == "footer":
        return _field_problems(rec, _FOOTER_SPEC, where)
    out = _field_problems(rec, {"step": lambda v: _is_int(v) and v >= 0}, where)
    res = rec.get("result")
    if not isinstance(res, dict):
        return out + [f"{where}: field 'result' is not an object"]
    if kind == "event":
        if "event" not in rec:
            out.append(f"{where}: missing field 'event'")
        out += _field_problems(res, _EVENT_RESULT_SPEC, f"{where} result")
        if not out and (res["status"] == "BLOCKED") != (res["blocked_reason_code"] is not None):
            out.append(
                f"{where}: status {res['status']} with blocked_reason_code "
                f"{res['blocked_reason_code']!r}"
            )
    else:
        out += _field_problems(rec, {"t_s": _is_num}, where)
        out += _field_problems(res, _TICK_RESULT_SPEC, f"{where} result")
    return out


def parse_log(data: bytes) -> ParsedLog:
    """Parse and chain-check an episode log (see the module docstring). Never raises."""
    out = ParsedLog()
    if not data:
        out.problem("empty file")
        return out
    if not data.endswith(b"\n"):
        out.problem("the last line has no newline (the file was cut short or appended to)")
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out.lines = len(lines)
    prev = GENESIS
    last = len(lines) - 1
    for i, line in enumerate(lines):
        where = f"line {i + 1}"
        sealed = unseal(line)
        if sealed is None:
            out.problem(f"{where}: no trailing hash member (not a {LOG_FORMAT} line, or cut)")
            prev = ""
            continue
        body, claimed = sealed
        try:
            rec = json.loads(body)
        except (ValueError, RecursionError):
            out.problem(f"{where}: the record is not valid JSON")
            prev = claimed
            continue
        if not isinstance(rec, dict):
            out.problem(f"{where}: the record is not a JSON object")
            prev = claimed
            continue
        if prev:  # (unknown after an unreadable line, which is reported already)
            if chain_hash(prev, body) != claimed:
                if rec.get("prev") == prev:
                    out.problem(f"{where}: hash mismatch (the record was changed after writing)")
                else:
                    out.problem(
                        f"{where}: does not chain from the line before (a line was removed, "
                        "inserted, duplicated or moved)"
                    )
            elif rec.get("prev") != prev:
                out.problem(f"{where}: its prev field does not name the line before")
        if rec.get("seq") != i:
            out.problem(f"{where}: seq {rec.get('seq')!r}, expected {i}")
        kind = rec.get("type")
        if i == 0:
            if kind != "header":
                out.problem(f"{where}: the first record must be the header, found {kind!r}")
            elif rec.get("format") != LOG_FORMAT:
                out.problem(
                    f"{where}: header format {rec.get('format')!r}, expected {LOG_FORMAT!r}"
                )
        elif i == last:
            if kind != "footer":
                out.problem(
                    f"{where}: the last record must be the footer, found {kind!r} (the log "
                    "is truncated, or lines follow the footer)"
                )
        elif kind in ("header", "footer") or not isinstance(kind, str) or not kind:
            out.problem(f"{where}: a {kind!r} record in the middle of the log")
        probs = (
            _check_record(rec, str(kind), where)
            if kind in ("header", "event", "tick", "footer")
            else []
        )
        for p in probs:
            out.problem(p)
        if not probs:
            if i == 0 and kind == "header":
                out.header = rec
            elif i == last and kind == "footer":
                out.footer = rec
            elif kind in ("event", "tick") and 0 < i < last:
                out.records.append((i + 1, rec))
            elif isinstance(kind, str) and kind and kind not in RECORD_TYPES and 0 < i < last:
                out.extras.append((i + 1, rec))
        prev = claimed
    out.final_head = prev or None
    if out.footer is not None and out.footer["records"] != out.lines - 1:
        out.problem(
            f"footer counts {out.footer['records']} records, the log has {out.lines - 1} "
            "before the footer"
        )
    if out.header is not None:
        _check_header_digest(out)
        _check_steps(out)
    return out


def _check_header_digest(out: ParsedLog) -> None:
    h = out.header
    assert h is not None
    init, digest = h["initial_state"], h["initial_state_sha256"]
    if (init is None) != (digest is None):
        out.problem("line 1: initial_state and initial_state_sha256 must both be present")
        return
    if init is None:
        return
    try:
        got = hashlib.sha256(canonical_bytes(init)).hexdigest()
    except ValueError as exc:
        out.problem(f"line 1: initial_state has no canonical form ({exc})")
        return
    if got != digest:
        out.problem("line 1: initial_state does not match initial_state_sha256")


def _check_steps(out: ParsedLog) -> None:
    """Records come in step order, a step's tick after its events, at the step's end."""
    h = out.header
    assert h is not None
    dt = float(h["dt_s"])
    last_step, ticked = -1, False
    for lineno, rec in out.records:
        step = rec["step"]
        if step < last_step:
            out.problem(f"line {lineno}: step {step} after step {last_step}")
        if step != last_step:
            last_step, ticked = step, False
        elif ticked:
            out.problem(f"line {lineno}: a record after the tick of step {step}")
        if rec["type"] == "tick":
            ticked = True
            if rec["t_s"] != step * dt + dt:
                out.problem(
                    f"line {lineno}: tick at t_s {rec['t_s']}, step {step} ends at {step * dt + dt}"
                )
    f = out.footer
    if f is not None:
        if f["steps"] > h["max_steps"]:
            out.problem(f"footer: {f['steps']} steps, more than max_steps {h['max_steps']}")
        if last_step >= f["steps"]:
            out.problem(f"footer: {f['steps']} steps, but a record is from step {last_step}")


# ------------------------------------------------------------------ engine audit chain --
def audit_blob(rec: dict[str, Any]) -> bytes:
    """The bytes the engine appended to its audit chain for a (well-formed) record."""
    res = rec["result"]
    if rec["type"] == "event":
        outcome = {
            "status": res["status"],
            "blocked_reason_code": res["blocked_reason_code"],
            "emits": res["emits"],
            "violations": res["violations"],
            "token_consumed": res["token_consumed"],
        }
        return (
            b'{"event":'
            + canonical_bytes(rec["event"])
            + b',"outcome":'
            + canonical_bytes(outcome)
            + b',"seq":'
            + str(res["audit_length"]).encode()
            + b',"t_s":'
            + canonical_bytes(float(res["now_s"]))
            + b"}"
        )
    outcome = {"emits": res["emits"], "violations": res["violations"]}
    return (
        b'{"clock":'
        + canonical_bytes(float(rec["t_s"]))
        + b',"outcome":'
        + canonical_bytes(outcome)
        + b',"seq":'
        + str(res["audit_length"]).encode()
        + b"}"
    )


def check_audit_chain(log: ParsedLog) -> tuple[bool, str]:
    """Recompute the engine's audit chain from the logged events and outcomes."""
    if not log.usable:
        return False, "no usable header and footer"
    problems: list[str] = []
    prev, length = GENESIS, 0
    for lineno, rec in log.records:
        res = rec["result"]
        if res["audit_length"] != length + 1:
            problems.append(
                f"line {lineno}: audit length {res['audit_length']} after {length} "
                "(an audited step is missing from the log)"
            )
        try:
            blob = audit_blob(rec)
        except ValueError as exc:
            problems.append(f"line {lineno}: the event has no canonical form ({exc})")
            blob = b""
        if blob and chain_hash(prev, blob) != res["head_hash"]:
            problems.append(
                f"line {lineno}: the engine's audit head does not match this record's event "
                "and outcome"
            )
        prev, length = res["head_hash"], res["audit_length"]
        if len(problems) >= MAX_PROBLEMS:
            break
    f = log.footer
    assert f is not None
    if not problems and (f["audit_head_hash"] != prev or f["audit_length"] != length):
        problems.append("footer: audit head or length differs from the last record's")
    if problems:
        return False, "; ".join(problems)
    return True, f"{length} audit records recomputed, head {prev}"


# ------------------------------------------------------------------ agent signatures ----
def check_agent_signatures(log: ParsedLog) -> tuple[bool, str]:
    """Check every signed event against the header's agent keys (see module docstring)."""
    if not log.usable:
        return False, "no usable header and footer"
    h = log.header
    assert h is not None
    keys: dict[str, Any] = h["keys"]
    revoked = {k for k, e in keys.items() if e["status"] != "ACTIVE"}
    wf = h["world_fingerprint"]
    problems: list[str] = []
    prev = GENESIS
    verified = rejected = 0
    for lineno, rec in log.records:
        res = rec["result"]
        if rec["type"] == "event":
            ev = rec["event"]
            signed = isinstance(ev, dict) and (
                ev.get("signature") is not None or ev.get("key_id") is not None
            )
            code = res["blocked_reason_code"]
            if not signed:
                if res["signature_verified"]:
                    problems.append(f"line {lineno}: signature_verified, but no signature")
            else:
                assert isinstance(ev, dict)
                kid = ev.get("key_id")
                entry = keys.get(kid) if isinstance(kid, str) else None
                valid = False
                if entry is not None:
                    try:
                        body = {k: ev.get(k) for k in SIGNED_FIELDS}
                        payload = canonical_bytes(
                            {"event": body, "policy_fingerprint": wf, "prev_hash": prev}
                        )
                        valid = ed25519_verify(entry["public_key"], ev.get("signature"), payload)
                    except ValueError:
                        valid = False
                own = entry is not None and entry["agent_id"] == ev.get("agent_id")
                if res["signature_verified"]:
                    if not (valid and own):
                        problems.append(
                            f"line {lineno}: the engine accepted a signature that does not "
                            f"verify against key {kid!r}"
                        )
                    elif kid in revoked:
                        problems.append(f"line {lineno}: accepted a signature by revoked {kid}")
                    else:
                        verified += 1
                elif code == "SIG_INVALID":
                    if valid and own and kid not in revoked:
                        problems.append(f"line {lineno}: SIG_INVALID, but the signature verifies")
                    else:
                        rejected += 1
                elif code == "SIG_KEY_UNKNOWN" and entry is not None:
                    problems.append(f"line {lineno}: SIG_KEY_UNKNOWN, but {kid} is a known key")
                elif code == "SIG_KEY_AGENT_MISMATCH" and own:
                    problems.append(
                        f"line {lineno}: SIG_KEY_AGENT_MISMATCH, but {kid} is the agent's own key"
                    )
            if (
                isinstance(ev, dict)
                and res["status"] == "ACCEPTED"
                and ev.get("action_type") == "REVOKE_KEY"
                and isinstance(ev.get("args"), dict)
            ):
                revoked.add(str(ev["args"].get("key_id")))
        prev = res["head_hash"]
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        return False, "; ".join(problems)
    return True, f"{verified} accepted signatures verified, {rejected} rejected ones invalid"
