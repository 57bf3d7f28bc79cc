"""The reference loop that plays a team against the engine and counts what happened."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labtrust_gym.engine.signatures import sign_event

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["run_scripted"]

_RELEASE_EMITS = ("RESULT_RELEASED", "RESULT_RELEASED_WITH_DISCLAIMER")


def run_scripted(
    engine: Any,
    team: Any,
    steps: int,
    dt_s: float = 10.0,
    signer: dict[str, tuple[str, Ed25519PrivateKey]] | None = None,
    t0: float = 0.0,
    *,
    record_events: bool = False,
) -> dict[str, Any]:
    """Run ``steps`` steps of ``dt_s`` seconds starting at ``t0``.

    Each step: ``team.propose(engine, t)``; the proposed actions are applied in sorted
    agent order (events ``"{k}:{agent_id}"``, signed right before stepping when ``signer``
    holds the agent's ``(key_id, private_key)``); then the clock ticks to ``t + dt_s``.

    Returns counts: ``steps, events, accepted, blocked, blocked_by_reason, released,
    on_time, violations_by_invariant`` (``{id: {severity, count}}``),
    ``turnaround_s_by_priority`` (released_t - arrival_t of every released result),
    ``actions_by_type`` and ``emits`` (accepted actions and emits per type), and with
    ``record_events`` the list ``events_log`` of ``(t_s, agent_id, action_type, args,
    status, blocked_reason_code)``.
    """
    signer = signer or {}
    fp = engine.world.fingerprint
    out: dict[str, Any] = {
        "steps": 0,
        "events": 0,
        "accepted": 0,
        "blocked": 0,
        "blocked_by_reason": {},
        "released": 0,
        "on_time": 0,
        "violations_by_invariant": {},
        "turnaround_s_by_priority": {p: [] for p in engine.world.priorities},
        "actions_by_type": {},
        "emits": {},
    }
    log: list[tuple[Any, ...]] = []
    if engine.now < t0:
        _account(out, engine.tick(t0), engine)
    for k in range(int(steps)):
        t = t0 + k * dt_s
        actions = team.propose(engine, t)
        for aid in sorted(actions):
            a = actions[aid]
            event: dict[str, Any] = {
                "event_id": f"{k}:{aid}",
                "t_s": t,
                "agent_id": aid,
                "action_type": a["action_type"],
                "args": a.get("args") or {},
                "token_refs": list(a.get("token_refs") or []),
            }
            if aid in signer:
                key_id, priv = signer[aid]
                event["key_id"] = key_id
                event["signature"] = sign_event(priv, event, fp, engine.audit.head_hash)
            res = engine.step(event)
            out["events"] += 1
            if res["status"] == "BLOCKED":
                out["blocked"] += 1
                code = res["blocked_reason_code"]
                out["blocked_by_reason"][code] = out["blocked_by_reason"].get(code, 0) + 1
            else:
                out["accepted"] += 1
                at = event["action_type"]
                out["actions_by_type"][at] = out["actions_by_type"].get(at, 0) + 1
                if any(x in _RELEASE_EMITS for x in res["emits"]):
                    r = engine.results[event["args"]["result_id"]]
                    tat = r.released_t - r.arrival_t
                    out["released"] += 1
                    out["turnaround_s_by_priority"].setdefault(r.priority, []).append(tat)
                    if tat <= float(engine.world.priorities[r.priority]["target_tat_s"]):
                        out["on_time"] += 1
            _account(out, res, engine)
            if record_events:
                log.append(
                    (
                        t,
                        aid,
                        event["action_type"],
                        event["args"],
                        res["status"],
                        res["blocked_reason_code"],
                    )
                )
        _account(out, engine.tick(t + dt_s), engine)
        out["steps"] += 1
    if record_events:
        out["events_log"] = log
    return out


def _account(out: dict[str, Any], res: dict[str, Any], engine: Any) -> None:
    for e in res["emits"]:
        out["emits"][e] = out["emits"].get(e, 0) + 1
    for v in res["violations"]:
        entry = out["violations_by_invariant"].setdefault(
            v["invariant_id"], {"severity": v["severity"], "count": 0}
        )
        entry["count"] += 1
