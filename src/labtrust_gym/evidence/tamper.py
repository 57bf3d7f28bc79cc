"""The tamper corpus: systematically damaged copies of an episode log.

:func:`tamper_corpus` turns one log into labelled tampered variants, by kind:

* ``byte_flip``: one byte XORed with a random non-zero value;
* ``line_delete``, ``line_duplicate``, ``line_swap`` (two adjacent lines);
* ``truncate_bytes`` (cut at a random byte), ``truncate_lines`` (cut at a line
  boundary: the footer and maybe more are gone);
* ``value_edit``: one field of one record changed so that the line is still valid JSON
  (emits, violations, blocked_reason_code, status, token_consumed, the engine head hash,
  audit length, time, signature flag, event arguments, header fields, footer fields,
  seq, prev); the line's hash is left as it was;
* ``forged_append``: lines added after the footer (a copy of a record, a second footer,
  a forged event chained from the footer) or a forged event inserted before it;
* ``rewrite``: an edit (a value, a deleted or inserted event, a clean truncation) after
  which the whole hash chain and footer are recomputed, as an attacker who knows the
  format would; half of them (``deep``) also recompute the engine's audit heads so that
  the audit-chain check passes too. Only a signature by a key the attacker lacks
  (``--trusted-key``) can expose every rewrite.

Edits are applied to v1 logs (:mod:`.log_format`) keeping each line's structure (the
record re-encoded canonically, the old hash re-attached); to older logs (no chain) as
plain canonical JSON lines. The draws come from ``derive_seed(seed, "tamper")``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from labtrust_gym.evidence.canonical import canonical_bytes
from labtrust_gym.evidence.log_format import GENESIS, chain_hash, seal, unseal
from labtrust_gym.evidence.logcheck import audit_blob

__all__ = ["Tampered", "KINDS", "tamper_corpus", "rechain"]

KINDS = (
    "byte_flip",
    "line_delete",
    "line_duplicate",
    "line_swap",
    "truncate_bytes",
    "truncate_lines",
    "value_edit",
    "forged_append",
    "rewrite",
)


@dataclass(frozen=True)
class Tampered:
    """One tampered log: its kind, what was done, and the bytes."""

    kind: str
    detail: str
    data: bytes


# ----------------------------------------------------------------- lines and records ---
def _split(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def _join(lines: Iterable[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def _decode(line: bytes) -> tuple[dict[str, Any], str | None]:
    """The record of a line and its v1 hash (None for an old, unchained line)."""
    sealed = unseal(line)
    if sealed is not None:
        rec = json.loads(sealed[0])
        return rec, sealed[1]
    return json.loads(line), None


def _encode(rec: dict[str, Any], old_hash: str | None) -> bytes:
    """A line with the same structure as the original, the old hash (if any) re-attached."""
    body = canonical_bytes({k: v for k, v in rec.items() if k != "hash"})
    if old_hash is None:
        return body
    return body[:-1] + b',"hash":"' + old_hash.encode() + b'"}'


def rechain(records: list[dict[str, Any]], *, deep: bool = False) -> bytes:
    """A v1 log with ``records`` (header first, footer last) and a freshly computed chain
    (``seq``, ``prev``, ``hash``, the footer's record count, the initial-state digest);
    with ``deep``, the engine's
    audit heads and lengths recomputed too. What an attacker who knows the format writes."""
    out = []
    prev = GENESIS
    audit_prev, audit_len = GENESIS, 0
    n = len(records)
    for i, rec in enumerate(records):
        rec = {k: v for k, v in rec.items() if k != "hash"}
        rec["seq"] = i
        rec["prev"] = prev
        if rec.get("type") == "header" and isinstance(rec.get("initial_state"), dict):
            rec["initial_state_sha256"] = hashlib.sha256(
                canonical_bytes(rec["initial_state"])
            ).hexdigest()
        if deep and rec.get("type") in ("event", "tick") and isinstance(rec.get("result"), dict):
            res = dict(rec["result"])
            audit_len += 1
            res["audit_length"] = audit_len
            rec["result"] = res
            with contextlib.suppress(ValueError, KeyError, TypeError):  # junk stays junk
                audit_prev = chain_hash(audit_prev, audit_blob(rec))
            res["head_hash"] = audit_prev
        if rec.get("type") == "footer" and i == n - 1:
            rec["records"] = n - 1
            if deep:
                rec["audit_head_hash"] = audit_prev
                rec["audit_length"] = audit_len
        line, prev = seal(canonical_bytes(rec), prev)
        out.append(line)
    return _join(out)


# ------------------------------------------------------------------ value edits ---------
_Edit = Callable[[dict[str, Any]], str | None]


def _res(rec: dict[str, Any]) -> dict[str, Any] | None:
    r = rec.get("result")
    return r if isinstance(r, dict) else None


def _e_emit_add(rec: dict[str, Any]) -> str | None:
    r = _res(rec)
    if r is None or not isinstance(r.get("emits"), list):
        return None
    r["emits"] = [*r["emits"], "RESULT_RELEASED"]
    return "result.emits: RESULT_RELEASED added"


def _e_emit_drop(rec: dict[str, Any]) -> str | None:
    r = _res(rec)
    if r is None or not r.get("emits"):
        return None
    r["emits"] = r["emits"][1:]
    return "result.emits: first emit removed"


def _e_violation_add(rec: dict[str, Any]) -> str | None:
    r = _res(rec)
    if r is None or not isinstance(r.get("violations"), list):
        return None
    r["violations"] = [*r["violations"], "INV-ZONE-001"]
    return "result.violations: one added"


def _e_violation_drop(rec: dict[str, Any]) -> str | None:
    r = _res(rec)
    if r is None or not r.get("violations"):
        return None
    r["violations"] = r["violations"][1:]
    return "result.violations: one removed"


def _e_blocked_code(rec: dict[str, Any]) -> str | None:
    r = _res(rec)
    if r is None or "blocked_reason_code" not in r:
        return None
    if r["blocked_reason_code"] is None:
        r["status"] = "BLOCKED"
        r["blocked_reason_code"] = "RBAC_ACTION_DENIED"
        return "an accepted event made BLOCKED RBAC_ACTION_DENIED"
    r["blocked_reason_code"] = (
        "SIG_INVALID" if r["blocked_reason_code"] != "SIG_INVALID" else "ARGS_INVALID"
    )
    return "result.blocked_reason_code changed"


def _e_status(rec: dict[str, Any]) -> str | None:
    r = _res(rec)
    if r is None or r.get("status") != "BLOCKED":
        return None
    r["status"] = "ACCEPTED"
    r["blocked_reason_code"] = None
    return "a BLOCKED event made ACCEPTED"


def _e_tokens(rec: dict[str, Any]) -> str | None:
    r = _res(rec)
    if r is None or not isinstance(r.get("token_consumed"), list):
        return None
    r["token_consumed"] = [*r["token_consumed"], "TOK-FORGED"]
    return "result.token_consumed: a token added"


def _flip_hex(v: Any) -> Any:
    if not isinstance(v, str) or not v:
        return None
    return ("1" if v[0] != "1" else "2") + v[1:]


def _e_head(rec: dict[str, Any]) -> str | None:
    r = _res(rec)
    if r is None or _flip_hex(r.get("head_hash")) is None:
        return None
    r["head_hash"] = _flip_hex(r["head_hash"])
    return "result.head_hash changed"


def _e_numbers(rec: dict[str, Any]) -> str | None:
    r = _res(rec)
    if r is not None and isinstance(r.get("audit_length"), int):
        r["audit_length"] += 1
        return "result.audit_length + 1"
    if r is not None and isinstance(r.get("now_s"), (int, float)):
        r["now_s"] = float(r["now_s"]) + 10.0
        return "result.now_s + 10"
    return None


def _e_sigflag(rec: dict[str, Any]) -> str | None:
    r = _res(rec)
    if r is None or not isinstance(r.get("signature_verified"), bool):
        return None
    r["signature_verified"] = not r["signature_verified"]
    return "result.signature_verified flipped"


def _e_event(rec: dict[str, Any]) -> str | None:
    ev = rec.get("event")
    if not isinstance(ev, dict):
        return None
    args = ev.get("args")
    if isinstance(args, dict) and args:
        k = sorted(args)[0]
        args[k] = "X_FORGED" if args[k] != "X_FORGED" else "Y_FORGED"
        return f"event.args.{k} changed"
    if isinstance(ev.get("agent_id"), str):
        ev["agent_id"] = "A_SUPERVISOR_01" if ev["agent_id"] != "A_SUPERVISOR_01" else "A_QC_01"
        return "event.agent_id changed"
    return None


def _e_time(rec: dict[str, Any]) -> str | None:
    if isinstance(rec.get("t_s"), (int, float)):
        rec["t_s"] = float(rec["t_s"]) + 1.0
        return "t_s + 1"
    ev = rec.get("event")
    if isinstance(ev, dict) and isinstance(ev.get("t_s"), (int, float)):
        ev["t_s"] = float(ev["t_s"]) + 1.0
        return "event.t_s + 1"
    return None


def _e_header(rec: dict[str, Any]) -> str | None:
    if rec.get("type") != "header":
        return None
    if isinstance(rec.get("seed"), int):
        rec["seed"] += 1
        return "header.seed + 1"
    return None


def _e_header_state(rec: dict[str, Any]) -> str | None:
    init = rec.get("initial_state") if rec.get("type") == "header" else None
    if not isinstance(init, dict) or not init.get("arrival_schedule"):
        return None
    init["arrival_schedule"] = init["arrival_schedule"][1:]
    return "header.initial_state: first scheduled arrival removed"


def _e_header_meta(rec: dict[str, Any]) -> str | None:
    if rec.get("type") != "header":
        return None
    for k in ("max_steps", "dt_s"):
        if isinstance(rec.get(k), (int, float)):
            rec[k] = rec[k] * 2
            return f"header.{k} doubled"
    rec["task"] = "forged_task"
    return "header.task renamed"


def _e_footer(rec: dict[str, Any]) -> str | None:
    if rec.get("type") != "footer":
        return None
    for k in ("records", "steps", "length", "audit_length"):
        if isinstance(rec.get(k), int):
            rec[k] += 1
            return f"footer.{k} + 1"
    return None


def _e_footer_head(rec: dict[str, Any]) -> str | None:
    if rec.get("type") != "footer":
        return None
    for k in ("audit_head_hash", "head_hash"):
        if _flip_hex(rec.get(k)) is not None:
            rec[k] = _flip_hex(rec[k])
            return f"footer.{k} changed"
    return None


def _e_chain_fields(rec: dict[str, Any]) -> str | None:
    if isinstance(rec.get("seq"), int):
        rec["seq"] += 1
        return "seq + 1"
    return None


def _e_prev(rec: dict[str, Any]) -> str | None:
    if _flip_hex(rec.get("prev")) is None:
        return None
    rec["prev"] = _flip_hex(rec["prev"])
    return "prev changed"


EDITS: tuple[_Edit, ...] = (
    _e_emit_add,
    _e_emit_drop,
    _e_violation_add,
    _e_violation_drop,
    _e_blocked_code,
    _e_status,
    _e_tokens,
    _e_head,
    _e_numbers,
    _e_sigflag,
    _e_event,
    _e_time,
    _e_header,
    _e_header_state,
    _e_header_meta,
    _e_footer,
    _e_footer_head,
    _e_chain_fields,
    _e_prev,
)


# ------------------------------------------------------------------ the corpus ----------
class _Gen:
    def __init__(self, data: bytes, seed: int) -> None:
        import numpy as np

        from labtrust_gym.rng import derive_seed

        self.data = data
        self.lines = _split(data)
        self.rng = np.random.default_rng(derive_seed(seed, "tamper"))
        self.v1 = bool(self.lines) and unseal(self.lines[0]) is not None

    def randint(self, lo: int, hi: int) -> int:
        """An int in [lo, hi)."""
        return int(self.rng.integers(lo, hi))

    def edited(self, n: int, *, rewrite: bool) -> list[tuple[str, list[bytes] | bytes]]:
        """Value edits: ``n`` (detail, lines) pairs; with ``rewrite`` the chain is
        recomputed (returns bytes)."""
        out: list[tuple[str, list[bytes] | bytes]] = []
        decoded = []
        for line in self.lines:
            try:
                decoded.append(_decode(line))
            except ValueError:
                decoded.append(({}, None))
        dead: set[int] = set()  # edits that apply to no line of this log
        k = -1
        while len(out) < n and len(dead) < len(EDITS):
            k = (k + 1) % len(EDITS)
            if k in dead:
                continue
            for _ in range(4 * len(self.lines) + 50):
                i = self.randint(0, len(self.lines))
                rec = json.loads(json.dumps(decoded[i][0]))  # a private copy
                what = EDITS[k](rec)
                if what is not None:
                    break
            else:
                dead.add(k)
                continue
            h = decoded[i][1]
            if rewrite:
                recs = [json.loads(json.dumps(r)) for r, _ in decoded]
                recs[i] = rec
                deep = len(out) % 2 == 1
                tag = "deep rewrite" if deep else "rewrite"
                out.append((f"{tag}: line {i + 1}: {what}", rechain(recs, deep=deep)))
            else:
                lines = list(self.lines)
                lines[i] = _encode(rec, h)
                out.append((f"line {i + 1}: {what}", lines))
        return out

    def structural_rewrites(self, n: int) -> list[tuple[str, bytes]]:
        """Rewrites that delete, insert or cut records, with the chain recomputed."""
        recs = []
        for line in self.lines:
            try:
                recs.append(_decode(line)[0])
            except ValueError:
                return []
        mids = [i for i, r in enumerate(recs) if r.get("type") in ("event", "tick")]
        out: list[tuple[str, bytes]] = []
        for j in range(n):
            if not mids:
                break
            i = mids[self.randint(0, len(mids))]
            deep = j % 2 == 1
            tag = "deep rewrite" if deep else "rewrite"
            variant = j % 3
            if variant == 0:
                new = recs[:i] + recs[i + 1 :]
                what = f"line {i + 1} deleted"
            elif variant == 1:
                new = recs[: i + 1] + [json.loads(json.dumps(recs[i]))] + recs[i + 1 :]
                what = f"line {i + 1} duplicated"
            else:
                new = recs[:i] + [recs[-1]]
                what = f"cut after line {i}, footer kept"
            out.append((f"{tag}: {what}", rechain(new, deep=deep)))
        return out


def tamper_corpus(
    data: bytes, *, seed: int = 0, per_kind: int = 40, kinds: Iterable[str] = KINDS
) -> list[Tampered]:
    """Tampered variants of the log ``data``: up to ``per_kind`` of each kind in
    :data:`KINDS` (see the module docstring), every one different from ``data``."""
    g = _Gen(data, seed)
    lines = g.lines
    n = len(lines)
    out: list[Tampered] = []
    wanted = set(kinds)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(f"unknown tamper kinds {sorted(unknown)}; known: {', '.join(KINDS)}")

    def add(kind: str, detail: str, new: bytes) -> None:
        if new != data:
            out.append(Tampered(kind, detail, new))

    def pick_lines(count: int, lo: int = 0, hi: int | None = None) -> list[int]:
        hi = n if hi is None else hi
        if hi <= lo:
            return []
        picks = {lo, hi - 1}  # the first and last lines are always covered
        while len(picks) < min(count, hi - lo):
            picks.add(g.randint(lo, hi))
        return sorted(picks)

    if "byte_flip" in wanted:
        for _ in range(per_kind):
            pos = g.randint(0, len(data))
            x = g.randint(1, 256)
            b = bytearray(data)
            b[pos] ^= x
            add("byte_flip", f"byte {pos} ^= {x:#04x}", bytes(b))
    if "line_delete" in wanted:
        for i in pick_lines(per_kind):
            add("line_delete", f"line {i + 1} deleted", _join(lines[:i] + lines[i + 1 :]))
    if "line_duplicate" in wanted:
        for i in pick_lines(per_kind):
            add("line_duplicate", f"line {i + 1} duplicated", _join(lines[: i + 1] + lines[i:]))
    if "line_swap" in wanted:
        for i in pick_lines(per_kind, 0, n - 1):
            sw = list(lines)
            sw[i], sw[i + 1] = sw[i + 1], sw[i]
            add("line_swap", f"lines {i + 1} and {i + 2} swapped", _join(sw))
    if "truncate_bytes" in wanted:
        for _ in range(per_kind):
            cut = g.randint(0, len(data))
            add("truncate_bytes", f"cut at byte {cut} of {len(data)}", data[:cut])
    if "truncate_lines" in wanted:
        for i in pick_lines(per_kind, 0, n):
            add("truncate_lines", f"only the first {i} lines kept", _join(lines[:i]))
    if "value_edit" in wanted:
        for detail, new_lines in g.edited(per_kind, rewrite=False):
            assert isinstance(new_lines, list)
            add("value_edit", detail, _join(new_lines))
    if "forged_append" in wanted:
        for j in range(per_kind):
            variant = j % 4
            if variant == 0:
                i = g.randint(1, max(n - 1, 2))
                add(
                    "forged_append",
                    f"copy of line {i + 1} after the footer",
                    _join([*lines, lines[min(i, n - 1)]]),
                )
            elif variant == 1:
                add("forged_append", "a second footer", _join([*lines, lines[-1]]))
            else:
                forged = _forged_event(g, lines, j)
                if forged is None:
                    continue
                rec, h = forged
                if variant == 2:  # chained from the footer, as a continuation
                    line, _ = seal(canonical_bytes(rec), h) if g.v1 else (canonical_bytes(rec), "")
                    add(
                        "forged_append",
                        "a forged event chained after the footer",
                        _join([*lines, line]),
                    )
                else:  # chained from the last record, inserted before the footer
                    prev = _decode(lines[-2])[1] if g.v1 and n >= 2 else None
                    rec["seq"] = n - 1
                    rec["prev"] = prev
                    line = seal(canonical_bytes(rec), prev)[0] if prev else canonical_bytes(rec)
                    add(
                        "forged_append",
                        "a forged event chained in before the footer",
                        _join([*lines[:-1], line, lines[-1]]),
                    )
    if "rewrite" in wanted:
        value = g.edited(per_kind - per_kind // 3, rewrite=True)
        for detail, new in value:
            assert isinstance(new, bytes)
            add("rewrite", detail, new)
        for detail, new in g.structural_rewrites(per_kind // 3):
            add("rewrite", detail, new)
    return out


def _forged_event(g: _Gen, lines: list[bytes], j: int) -> tuple[dict[str, Any], str] | None:
    """A copy of a random event record made to look like a new accepted release."""
    events = []
    for line in lines:
        try:
            rec, h = _decode(line)
        except ValueError:
            continue
        if rec.get("type") == "event":
            events.append((rec, h))
    if not events:
        return None
    rec, _ = events[g.randint(0, len(events))]
    rec = json.loads(json.dumps(rec))
    r = _res(rec)
    if r is not None:
        r["status"] = "ACCEPTED"
        r["blocked_reason_code"] = None
        r["emits"] = ["RESULT_RELEASED"]
    last = _decode(lines[-1])
    rec["seq"] = len(lines)
    rec["prev"] = last[1]
    return rec, last[1] or hashlib.sha256(lines[-1]).hexdigest()
