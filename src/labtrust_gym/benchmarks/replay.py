"""Replay an episode log on the engine and compare every field (``labtrust replay``).

The log's own hash chain is checked first (:func:`labtrust_gym.evidence.logcheck.parse_log`).
Then a fresh engine is reset to the header's initial state and seed, and the logged
events are fed to it step by step exactly as the env did: each step's events, then the
end-of-step clock tick. The replay writes its own log with the env's writer; the two logs
must be equal record for record, field for field (``seq``, ``prev`` and ``hash`` aside,
which the chain check covers; ``package_version`` is reported but not compared). Any
difference is listed with its line and field path.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from labtrust_gym.errors import ConfigError, LabTrustError, PolicyError
from labtrust_gym.evidence.log_format import LOG_FORMAT, unseal
from labtrust_gym.evidence.logcheck import ParsedLog, parse_log
from labtrust_gym.policy.loader import PolicyBundle, load_policy

__all__ = ["replay_log", "replay_bytes", "MAX_MISMATCHES", "MAX_REPLAY_STEPS"]

#: Field differences listed in a report (the count covers all).
MAX_MISMATCHES = 20
#: Longest episode replayed (a tampered footer must not make the replay run for ever).
MAX_REPLAY_STEPS = 10_000_000
_NOT_COMPARED = frozenset({"seq", "prev", "hash"})


def _refuse_non_logs(p: Path, data: bytes) -> None:
    """ConfigError for a file that is clearly not a v1 episode log."""
    first = data.split(b"\n", 1)[0]
    doc: Any = None
    try:
        head = json.loads(first)
    except (ValueError, RecursionError):
        head = None
    if head is None:
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            doc = None
        if isinstance(doc, dict) and str(doc.get("schema_version", "")).startswith(
            "labtrust.results"
        ):
            logs = doc.get("logs") or []
            hint = (
                f"; its episode logs: {', '.join(map(str, logs[:3]))}"
                if logs
                else " (run without --log-dir, so it has no episode logs)"
            )
            raise ConfigError(
                f"{p} is a results file ({doc['schema_version']}), not an episode log{hint}. "
                "Replay an episode log, or check a whole run with 'labtrust export-evidence' "
                "and 'labtrust verify-bundle'"
            )
        if isinstance(doc, dict) and str(doc.get("format", "")).startswith("labtrust.evidence"):
            raise ConfigError(f"{p} is an evidence bundle manifest; use labtrust verify-bundle")
    elif isinstance(head, dict) and head.get("type") == "header" and "format" not in head:
        raise ConfigError(
            f"{p}: an episode log from before the {LOG_FORMAT} format (no hash chain or "
            "footer of its own), which cannot be verified; re-run the benchmark with --log-dir"
        )
    if not any(unseal(line) for line in data.split(b"\n")):
        what = "not JSON and" if head is None and doc is None else "JSON, but"
        raise ConfigError(f"{p}: {what} not an episode log (no line has the {LOG_FORMAT} form)")
    # Otherwise a (possibly damaged) v1 log: the replay reports what is wrong, and where.


def replay_log(path: Path | str, policy: PolicyBundle | None = None) -> dict[str, Any]:
    """Check and replay the episode log at ``path`` (see the module docstring).

    Returns the report of :func:`replay_bytes`. Raises ConfigError for a file that cannot
    be read or is not an episode log (a results file says so), and PolicyError when the
    log was recorded under another policy than ``policy`` (default: the current one).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read episode log ({exc.strerror})") from None
    if not data:
        raise ConfigError(f"{p}: empty file, not an episode log")
    _refuse_non_logs(p, data)
    pol = policy if policy is not None else load_policy()
    parsed = parse_log(data)
    h = parsed.header
    if h is not None and h["policy_fingerprint"] != pol.fingerprint:
        raise PolicyError(
            f"{p}: recorded under policy {h['policy_fingerprint']}, the current policy is "
            f"{pol.fingerprint}; replay with the policy directory of the run "
            "(LABTRUST_POLICY_DIR, and its lab profile)"
        )
    return replay_bytes(data, policy=pol, source=str(p), parsed=parsed)


def _diff(a: Any, b: Any, path: str, out: list[tuple[str, Any, Any]]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if not path and k in _NOT_COMPARED:
                continue
            if k not in a or k not in b:
                out.append((f"{path}{k}", a.get(k, "<absent>"), b.get(k, "<absent>")))
            else:
                _diff(a[k], b[k], f"{path}{k}.", out)
    elif a != b or type(a) is not type(b):
        out.append((path.rstrip("."), a, b))


def replay_bytes(
    data: bytes,
    *,
    policy: PolicyBundle | None = None,
    source: str = "log",
    parsed: ParsedLog | None = None,
) -> dict[str, Any]:
    """Replay the log ``data``; never raises for a malformed or tampered log.

    Report keys: ``ok`` (chain intact and every field replayed equal), ``chain_verifies``
    and ``chain_problems``, ``records`` (event and tick records replayed), ``steps``,
    ``head_hash`` (the replay's audit head) and ``expected_head_hash`` (the footer's),
    ``mismatches`` (``{line, field, logged, replayed}``, at most :data:`MAX_MISMATCHES`),
    ``mismatch_count``, ``first_mismatch``, ``notes`` and a one-line ``summary``.
    """
    from labtrust_gym.engine.core_env import LabEngine
    from labtrust_gym.evidence.episode_log import EpisodeLog

    log = parsed if parsed is not None else parse_log(data)
    rep: dict[str, Any] = {
        "ok": False,
        "source": source,
        "chain_verifies": log.ok,
        "chain_problems": list(log.problems),
        "records": 0,
        "steps": 0,
        "head_hash": None,
        "expected_head_hash": log.footer["audit_head_hash"] if log.footer else None,
        "mismatches": [],
        "mismatch_count": 0,
        "first_mismatch": None,
        "notes": [],
        "summary": "",
    }
    h = log.header
    if h is None or h["initial_state"] is None:
        rep["summary"] = "cannot replay: " + (
            "no usable header; " + log.summary() if h is None else "the header has no initial state"
        )
        return rep
    pol = policy if policy is not None else load_policy()
    if h["policy_fingerprint"] != pol.fingerprint:
        rep["summary"] = (
            f"cannot replay: recorded under policy {h['policy_fingerprint'][:16]}…, given "
            f"{pol.fingerprint[:16]}…"
        )
        return rep
    task = SimpleNamespace(
        name=h["task"],
        max_steps=h["max_steps"],
        dt_s=h["dt_s"],
        policy=SimpleNamespace(fingerprint=pol.fingerprint),
    )
    records = log.records
    steps = log.footer["steps"] if log.footer else (records[-1][1]["step"] + 1 if records else 0)
    dt = float(h["dt_s"])
    if steps > MAX_REPLAY_STEPS:
        rep["summary"] = f"cannot replay: {steps} steps is more than {MAX_REPLAY_STEPS}"
        return rep
    # Event and tick records drive the engine; extension records (e.g. ``llm``) are
    # carried over where they stand.
    items = sorted(records + log.extras, key=lambda x: x[0])
    idx = 0

    def at(kind: str, k: int) -> bool:
        return idx < len(items) and items[idx][1]["type"] == kind and items[idx][1]["step"] == k

    def carry_extras() -> None:
        nonlocal idx
        while idx < len(items) and items[idx][1]["type"] not in ("event", "tick"):
            mine.extra([items[idx][1]])
            idx += 1

    try:
        eng = LabEngine(pol)
        eng.reset(h["initial_state"], seed=h["seed"])
        mine = EpisodeLog.start(task, eng, h["seed"])
        for k in range(steps):
            carry_extras()
            while at("event", k):
                rec = items[idx][1]
                event = rec["event"]
                code = rec.get("rejected")
                if code is not None:  # an action the env's codec rejected
                    mine.event(k, event, eng.reject(event, code), eng, rejected=code)
                else:
                    mine.event(k, event, eng.step(event), eng)
                idx += 1
                carry_extras()
            before = eng.audit.length
            res = eng.tick(k * dt + dt)
            if eng.audit.length != before:
                mine.tick(k, k * dt + dt, res)
            if at("tick", k):
                idx += 1  # the logged tick: the record comparison below checks it
            carry_extras()
        replayed = mine.to_bytes(eng, steps)
    except (LabTrustError, Exception) as exc:  # noqa: BLE001 - a tampered log must not crash
        line = items[idx][0] if idx < len(items) else log.lines
        rep["summary"] = f"the engine raised {type(exc).__name__} at line {line}: {exc}"
        return rep
    rep["records"] = len(mine)
    rep["steps"] = steps
    rep["head_hash"] = eng.audit.head_hash
    mismatches: list[dict[str, Any]] = []
    count = 0
    logged_lines = data.split(b"\n")
    replay_lines = replayed.split(b"\n")
    for i in range(max(len(logged_lines), len(replay_lines))):
        a = logged_lines[i] if i < len(logged_lines) else b""
        b = replay_lines[i] if i < len(replay_lines) else b""
        if a == b:
            continue
        diffs: list[tuple[str, Any, Any]] = []
        try:
            ra = json.loads(a) if a else None
        except (ValueError, RecursionError):
            ra = "<not JSON>"
        rb = json.loads(b) if b else None
        if isinstance(ra, dict) and isinstance(rb, dict):
            _diff(ra, rb, "", diffs)
            if i == 0:
                pv = [d for d in diffs if d[0] == "package_version"]
                if pv:
                    rep["notes"].append(
                        f"recorded by labtrust-gym {pv[0][1]}, replayed with {pv[0][2]}"
                    )
                diffs = [d for d in diffs if d[0] != "package_version"]
        elif ra != rb:
            diffs.append(
                (
                    "<record>",
                    ra if ra is not None else "<absent>",
                    rb if rb is not None else "<absent>",
                )
            )
        for fieldname, logged, got in diffs:
            count += 1
            if len(mismatches) < MAX_MISMATCHES:
                mismatches.append(
                    {"line": i + 1, "field": fieldname, "logged": logged, "replayed": got}
                )
    rep["mismatches"] = mismatches
    rep["mismatch_count"] = count
    rep["first_mismatch"] = mismatches[0] if mismatches else None
    rep["ok"] = log.ok and count == 0
    if count:
        m = mismatches[0]
        rep["summary"] = (
            f"{count} field(s) differ from the replay; first: line {m['line']} {m['field']}: "
            f"logged {json.dumps(m['logged'])[:80]}, replayed {json.dumps(m['replayed'])[:80]}"
        )
    elif not log.ok:
        rep["summary"] = "the replay matches, but the log's chain is broken: " + log.summary()
    else:
        rep["summary"] = (
            f"replayed {len(mine) - 1} records over {steps} steps: every field of every "
            "record equal"
        )
    return rep
