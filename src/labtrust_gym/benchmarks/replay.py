"""Replay an episode log and confirm the hash chain (``labtrust replay``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from labtrust_gym.engine.core_env import LabEngine
from labtrust_gym.errors import ConfigError, PolicyError
from labtrust_gym.policy.loader import PolicyBundle, load_policy

__all__ = ["replay_log"]


def replay_log(path: Path | str, policy: PolicyBundle | None = None) -> dict[str, Any]:
    """Re-run every event and clock tick of a JSONL episode log on a fresh engine.

    Returns ``{"ok", "records", "head_hash", "expected_head_hash", "first_mismatch"}``;
    ``first_mismatch`` names the line whose recomputed head hash differs.
    """
    p = Path(path)
    try:
        lines = p.read_bytes().splitlines()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read episode log ({exc.strerror})") from None
    if not lines:
        raise ConfigError(f"{p}: empty episode log")
    try:
        header = orjson.loads(lines[0])
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{p}:1: not JSON ({exc})") from None
    if header.get("type") != "header":
        raise ConfigError(f"{p}:1: the first line must be the header record")
    pol = policy if policy is not None else load_policy()
    if header.get("policy_fingerprint") != pol.fingerprint:
        raise PolicyError(
            f"{p}: recorded under policy {header.get('policy_fingerprint')}, current policy is "
            f"{pol.fingerprint}; replay with the policy directory of the run "
            "(LABTRUST_POLICY_DIR)"
        )
    eng = LabEngine(pol)
    eng.reset(header["initial_state"], seed=int(header["seed"]))
    first_bad: dict[str, Any] | None = None
    expected = None
    n = 0
    for lineno, raw in enumerate(lines[1:], start=2):
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{p}:{lineno}: not JSON ({exc})") from None
        kind = rec.get("type")
        if kind == "event":
            res = eng.step(rec["event"])
        elif kind == "reject":  # an action the env's codec rejected (LabEngine.reject)
            res = eng.reject(rec["event"], rec["code"])
        elif kind == "tick":
            res = eng.tick(rec["t_s"])
        elif kind == "footer":
            expected = rec.get("head_hash")
            continue
        elif kind == "llm":
            continue  # LLM I/O hashes (labtrust_gym.llm): audited records, not engine input
        else:
            raise ConfigError(f"{p}:{lineno}: unknown record type {kind!r}")
        n += 1
        want = rec["result"]["head_hash"]
        got = res["hashchain"]["head_hash"]
        if first_bad is None and (got != want or res["status"] != rec["result"]["status"]):
            first_bad = {
                "line": lineno,
                "expected_head_hash": want,
                "head_hash": got,
                "expected_status": rec["result"]["status"],
                "status": res["status"],
            }
    ok = first_bad is None and (expected is None or expected == eng.audit.head_hash)
    return {
        "ok": ok,
        "records": n,
        "head_hash": eng.audit.head_hash,
        "expected_head_hash": expected,
        "first_mismatch": first_bad,
        "chain_verifies": eng.audit.verify()[0],
    }
