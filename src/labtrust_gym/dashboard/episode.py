"""The episode view's data, from one episode log (``labtrust.episode_log.v1``).

:func:`episode_view` reads the log alone (its chain checked by
:func:`labtrust_gym.evidence.logcheck.parse_log`): every action per agent with its status
and reason code, each specimen's journey from arrival to release, the critical-result
escalations, and the zones, doors and devices of the lab map.

:func:`episode_states` adds what the log does not spell out — device states and queue
lengths, agent positions and door states at each step — by re-running the logged events
through the engine exactly as ``labtrust replay`` does, and sampling the engine state at
the end of every step. The re-run is checked: its audit head must equal the footer's
(``verified``), otherwise the states are returned with ``verified: false`` and the
reason. A log recorded under another policy than the installed one gets no states (the
reason says which fingerprints differ).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError

__all__ = ["episode_view", "episode_states", "lab_map", "MAX_STATE_SAMPLES"]

#: Agents x steps (and devices x steps) beyond which states are not sampled per step.
MAX_STATE_SAMPLES = 4_000_000
_RESULT_ID = re.compile(r"^R-(?P<spec>.+)-(?P<panel>[^-]+)-(?P<n>\d+)$")
_ALIQUOT = re.compile(r"^(?P<root>.+)-A\d+$")
_CRITICAL_EMITS = frozenset(
    {
        "RESULT_CRITICAL",
        "CRITICAL_NOTIFIED",
        "CRITICAL_ACKNOWLEDGED",
        "CRITICAL_ESCALATED",
        "CRITICAL_LADDER_EXHAUSTED",
    }
)
_RELEASE_EMITS = frozenset({"RESULT_RELEASED", "RESULT_RELEASED_WITH_DISCLAIMER"})


def _root_specimen(sid: str) -> str:
    m = _ALIQUOT.match(sid)
    return m.group("root") if m else sid


def _specimens_of(args: dict[str, Any], consignments: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    sid = args.get("specimen_id")
    if isinstance(sid, str):
        out.append(_root_specimen(sid))
    for k in ("specimen_ids",):
        v = args.get(k)
        if isinstance(v, list):
            out += [_root_specimen(s) for s in v if isinstance(s, str)]
    rid = args.get("result_id")
    if isinstance(rid, str):
        m = _RESULT_ID.match(rid)
        if m:
            out.append(_root_specimen(m.group("spec")))
    cid = args.get("consignment_id")
    if isinstance(cid, str) and cid in consignments:
        out += consignments[cid]
    return list(dict.fromkeys(out))


def _arg_summary(args: dict[str, Any]) -> str:
    parts = []
    for k in sorted(args):
        v = args[k]
        if isinstance(v, (str, int, float, bool)) and len(str(v)) <= 40:
            parts.append(f"{k}={v}")
    return " ".join(parts)[:160]


def _read(path: Path) -> Any:
    from labtrust_gym.evidence.logcheck import parse_log

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot read the episode log ({exc})") from None
    return parse_log(data)


def episode_view(path: Path) -> dict[str, Any]:
    """Timeline, specimen journeys, escalations and blocked actions of the log at ``path``."""
    log = _read(path)
    h = log.header
    if h is None:
        raise ConfigError(f"{path.name}: not a readable episode log ({log.summary()})")
    init = h.get("initial_state") or {}
    agents = [
        {"agent_id": a.get("agent_id"), "role": a.get("role"), "zone": a.get("zone")}
        for a in init.get("agents") or []
        if isinstance(a, dict)
    ]
    agent_idx = {a["agent_id"]: i for i, a in enumerate(agents)}
    specimens: dict[str, dict[str, Any]] = {}
    for arr in init.get("arrival_schedule") or []:
        s = (arr or {}).get("specimen") or {}
        sid = s.get("specimen_id")
        if isinstance(sid, str):
            specimens[sid] = {
                "specimen_id": sid,
                "arrival_t": arr.get("t_s"),
                "priority": s.get("priority"),
                "panels": s.get("panels"),
                "site_id": s.get("site_id"),
                "released": [],
                "journey": [],
            }
    actions: list[list[Any]] = []
    blocked_by_code: dict[str, int] = {}
    criticals: list[dict[str, Any]] = []
    consignments: dict[str, list[str]] = {}
    emits_by_step: dict[int, list[str]] = {}
    dt = float(h.get("dt_s") or 1.0)
    for _line, rec in log.records:
        step = rec.get("step")
        res = rec.get("result") or {}
        emits = [e for e in res.get("emits") or [] if isinstance(e, str)]
        if rec.get("type") == "tick":
            t = rec.get("t_s")
            if emits:
                emits_by_step.setdefault(step, []).extend(emits)
            crit = [e for e in emits if e in _CRITICAL_EMITS]
            if crit:
                criticals.append(
                    {
                        "step": step,
                        "t_s": t,
                        "agent_id": None,
                        "action": "(clock)",
                        "emits": crit,
                        "result_id": None,
                        "status": None,
                    }
                )
            continue
        ev = rec.get("event") or {}
        aid = ev.get("agent_id")
        if aid not in agent_idx:
            agent_idx[aid] = len(agents)
            agents.append({"agent_id": aid, "role": None, "zone": None})
        raw_args = ev.get("args")
        args: dict[str, Any] = raw_args if isinstance(raw_args, dict) else {}
        status = res.get("status")
        code = res.get("blocked_reason_code")
        if status == "BLOCKED":
            blocked_by_code[str(code)] = blocked_by_code.get(str(code), 0) + 1
        atype = ev.get("action_type") or ("(rejected)" if rec.get("rejected") else "?")
        if atype == "DISPATCH_TRANSPORT" and status == "ACCEPTED":
            cid = args.get("consignment_id")
            sids = args.get("specimen_ids")
            if isinstance(cid, str) and isinstance(sids, list):
                consignments[cid] = [_root_specimen(s) for s in sids if isinstance(s, str)]
        t = res.get("now_s", ev.get("t_s"))
        actions.append(
            [
                step,
                agent_idx[aid],
                atype,
                status,
                code,
                rec.get("seq"),
                _arg_summary(args),
                emits,
                res.get("violations") or [],
            ]
        )
        crit = [e for e in emits if e in _CRITICAL_EMITS]
        if crit or atype in ("NOTIFY_CRITICAL", "ACK_CRITICAL", "ESCALATE_CRITICAL"):
            criticals.append(
                {
                    "step": step,
                    "t_s": t,
                    "agent_id": aid,
                    "action": atype,
                    "emits": crit,
                    "result_id": args.get("result_id"),
                    "status": status,
                }
            )
        for sid in _specimens_of(args, consignments):
            sp = specimens.get(sid)
            if sp is None:
                continue
            sp["journey"].append(
                {
                    "step": step,
                    "t_s": t,
                    "agent_id": aid,
                    "action": atype,
                    "status": status,
                    "reason_code": code,
                    "emits": emits,
                    "args": _arg_summary(args),
                }
            )
            if status == "ACCEPTED" and _RELEASE_EMITS & set(emits):
                sp["released"].append({"t_s": t, "result_id": args.get("result_id")})
    footer = log.footer or {}
    steps = footer.get("steps") or (max((a[0] for a in actions), default=-1) + 1)
    for sp in specimens.values():
        sp["arrived"] = sp["arrival_t"] is not None and sp["arrival_t"] <= steps * dt
        sp["released_t"] = max(
            (r["t_s"] for r in sp["released"] if r["t_s"] is not None), default=None
        )
    return {
        "header": {
            k: h.get(k)
            for k in (
                "task",
                "seed",
                "max_steps",
                "dt_s",
                "domain",
                "policy_fingerprint",
                "timing_mode",
                "package_version",
            )
        },
        "footer": footer,
        "chain_ok": log.ok,
        "chain_summary": log.summary(),
        "steps": steps,
        "agents": agents,
        "action_columns": [
            "step",
            "agent",
            "action",
            "status",
            "reason_code",
            "seq",
            "args",
            "emits",
            "violations",
        ],
        "actions": actions,
        "blocked_by_reason_code": dict(sorted(blocked_by_code.items())),
        "criticals": criticals,
        "specimens": sorted(
            (s for s in specimens.values() if s["arrived"]),
            key=lambda s: (s["arrival_t"], s["specimen_id"]),
        ),
        "clock_emits": {str(k): v for k, v in sorted(emits_by_step.items())},
    }


def lab_map(policy: Any | None = None) -> dict[str, Any]:
    """Zones, edges, doors and device placement of the installed policy's lab."""
    if policy is None:
        from labtrust_gym.policy.loader import load_policy

        policy = load_policy()
    doc = policy["zone_layout"]
    return {
        "policy_fingerprint": policy.fingerprint,
        "zones": [dict(z) for z in doc.get("zones") or []],
        "edges": [dict(e) for e in doc.get("edges") or []],
        "doors": [{**dict(d), "zones": list(d.get("zones") or [])} for d in doc.get("doors") or []],
        "devices": [dict(d) for d in doc.get("device_placement") or []],
    }


def episode_states(path: Path) -> dict[str, Any]:
    """Device states and queues, agent positions and doors after every step, from a
    re-run of the log's events through the engine (see the module docstring)."""
    from labtrust_gym.engine.core_env import LabEngine
    from labtrust_gym.policy.loader import load_policy

    log = _read(path)
    h = log.header
    if h is None or not h.get("initial_state"):
        raise ConfigError(f"{path.name}: no usable header ({log.summary()})")
    pol = load_policy()
    out: dict[str, Any] = {
        "verified": False,
        "reason": None,
        "steps": 0,
        "devices": {},
        "agents": {},
        "doors": {},
        "lab_map": lab_map(pol),
    }
    if h.get("policy_fingerprint") != pol.fingerprint:
        out["reason"] = (
            f"recorded under policy {str(h.get('policy_fingerprint'))[:16]}…, the installed "
            f"policy is {pol.fingerprint[:16]}…: states are not reconstructed"
        )
        return out
    footer = log.footer or {}
    records = log.records
    steps = int(footer.get("steps") or (records[-1][1]["step"] + 1 if records else 0))
    dt = float(h["dt_s"])
    eng = LabEngine(pol)
    eng.reset(h["initial_state"], seed=h["seed"])
    dev_ids = sorted(eng.devices)
    agent_ids = list(eng.agents)
    sample_agents = len(agent_ids) * steps <= MAX_STATE_SAMPLES
    sample_devices = len(dev_ids) * steps <= MAX_STATE_SAMPLES
    dev_state: dict[str, list[str]] = {d: [] for d in dev_ids} if sample_devices else {}
    dev_queue: dict[str, list[int]] = {d: [] for d in dev_ids} if sample_devices else {}
    ag_pos: dict[str, list[str]] = {a: [] for a in agent_ids} if sample_agents else {}
    door_open: dict[str, list[int]] = {d: [] for d in sorted(eng.doors)}
    idx = 0
    try:
        for k in range(steps):
            while (
                idx < len(records)
                and records[idx][1].get("type") == "event"
                and records[idx][1].get("step") == k
            ):
                rec = records[idx][1]
                code = rec.get("rejected")
                if code is not None:
                    eng.reject(rec["event"], code)
                else:
                    eng.step(rec["event"])
                idx += 1
            eng.tick(k * dt + dt)
            if (
                idx < len(records)
                and records[idx][1].get("type") == "tick"
                and records[idx][1].get("step") == k
            ):
                idx += 1
            for d in dev_state:
                dev = eng.devices[d]
                dev_state[d].append(dev.state)
                dev_queue[d].append(len(dev.queue))
            for a in ag_pos:
                ag = eng.agents[a]
                ag_pos[a].append(
                    ag.zone if ag.zone is not None else f"{ag.from_zone}>{ag.transit_to}"
                )
            for d, arr in door_open.items():
                arr.append(1 if eng.doors[d].open else 0)
    except Exception as exc:  # noqa: BLE001 - a damaged log must give a reason, not a 500
        out["reason"] = f"the engine raised {type(exc).__name__} at step {k}: {exc}"
        return out
    expected = footer.get("audit_head_hash")
    out["verified"] = expected is not None and eng.audit.head_hash == expected and log.ok
    if not out["verified"]:
        out["reason"] = (
            "the re-run's audit head differs from the log's footer: the states may not be "
            "those of the logged episode"
            if log.ok
            else f"the log's chain does not verify: {log.summary()}"
        )
    out["steps"] = steps
    out["dt_s"] = dt
    out["devices"] = {
        d: {
            "zone": eng.devices[d].zone,
            "kind": eng.devices[d].kind,
            "state": dev_state[d],
            "queue": dev_queue[d],
        }
        for d in dev_state
    }
    out["agents"] = ag_pos
    out["agents_sampled"] = sample_agents
    out["doors"] = door_open
    return out
