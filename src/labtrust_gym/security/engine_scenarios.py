"""Engine attacks: scripted event sequences played against a fresh LabEngine.

An engine attack (``scenario.kind: engine``) is turned into a golden scenario
(:func:`compose_engine_attack`): the fixture's setup steps, the attack's own setup steps,
then its attack steps, with ``expect_state`` as the final state. It is played by the
golden-scenario runner (:func:`labtrust_gym.testing.golden.run_golden_scenario_detailed`
with ``partial=True``), so signing, replays, audit tampering, the one-record-per-step
audit check, the "a BLOCKED step changes nothing but the clock" check and the state
queries are the golden suite's own. On top, this module checks ``emits_include``,
``emits_exclude`` and ``violations_include``.

Outcome: ``error`` when a setup step (or the reset) does not go as written (the attack
could not be staged), ``succeeded`` when an attack step or the final state differs from
its expectation, ``detected`` when every expectation holds and some attack step was
expected to be ACCEPTED (allowed but flagged), else ``blocked``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ComposedAttack", "compose_engine_attack", "run_engine_attack", "expected_text"]

#: The keys of a step expectation the golden runner checks itself.
_GOLDEN_EXPECT = (
    "status",
    "blocked_reason_code",
    "emits",
    "violations",
    "token_consumed",
    "state",
)


@dataclass(frozen=True)
class ComposedAttack:
    """A golden scenario plus, per step, its phase (``setup``/``attack``) and the full
    expectation as written (with the keys the golden runner does not know)."""

    scenario: dict[str, Any]
    phases: tuple[str, ...]
    expects: tuple[Mapping[str, Any] | None, ...]


def compose_engine_attack(attack: Mapping[str, Any], fixtures: Mapping[str, Any]) -> ComposedAttack:
    """The golden scenario of an engine attack (see the module docstring).

    Raises ValueError for a replay of an unknown or later step id, or a duplicate id.
    """
    sc = attack["scenario"]
    fx = fixtures[sc["fixture"]] if "fixture" in sc else None
    seed = fx["seed"] if fx is not None else sc["seed"]
    init = fx["initial_state"] if fx is not None else sc["initial_state"]
    chain = [("setup", s) for s in ((fx or {}).get("setup") or ())]
    chain += [("setup", s) for s in (sc.get("setup") or ())]
    chain += [("attack", s) for s in sc["attack"]]
    labels: dict[str, int] = {}
    steps: list[dict[str, Any]] = []
    phases: list[str] = []
    expects: list[Mapping[str, Any] | None] = []
    for i, (phase, st) in enumerate(chain):
        g: dict[str, Any] = {}
        for k in ("note", "event", "raw", "sign", "tamper_audit"):
            if k in st:
                g[k] = st[k]
        if "replay" in st:
            ref = st["replay"]["step"]
            if ref not in labels:
                raise ValueError(f"replay of {ref!r}, which is not the id of an earlier step")
            g["replay"] = {"step": labels[ref]}
        exp: Mapping[str, Any] | None = None
        if "tamper_audit" not in st:
            exp = dict(st.get("expect") or {"status": "ACCEPTED"})
            g["expect"] = {k: exp[k] for k in _GOLDEN_EXPECT if k in exp}
        if "id" in st:
            if st["id"] in labels:
                raise ValueError(f"step id {st['id']!r} is used twice")
            labels[st["id"]] = i
        steps.append(g)
        phases.append(phase)
        expects.append(exp)
    scenario = {
        "id": str(attack["attack_id"]),
        "title": str(attack.get("title", "")),
        "seed": int(seed),
        "initial_state": init,
        "steps": steps,
        "final_state": list(sc.get("expect_state") or ()),
    }
    return ComposedAttack(scenario, tuple(phases), tuple(expects))


def expected_text(attack: Mapping[str, Any]) -> str:
    """A one-line summary of what must happen to the attack steps (for reports)."""
    parts = []
    for st in attack["scenario"]["attack"]:
        if "tamper_audit" in st:
            parts.append("audit record rewritten")
            continue
        exp = st.get("expect") or {"status": "ACCEPTED"}
        if exp["status"] == "BLOCKED":
            parts.append(f"BLOCKED {exp.get('blocked_reason_code')}")
            continue
        flags = list(exp.get("emits_include") or ())
        flags += [e for e in exp.get("emits") or () if e not in flags]
        flags += list(exp.get("violations") or ()) + list(exp.get("violations_include") or ())
        parts.append("ACCEPTED" + (f" + {', '.join(flags)}" if flags else ""))
    if attack["scenario"].get("expect_state"):
        parts.append("state unchanged")
    return "; ".join(parts)


def _extra_findings(where: str, exp: Mapping[str, Any], result: Mapping[str, Any]) -> list[str]:
    emits = list(result.get("emits") or ())
    viol = [v.get("invariant_id") for v in result.get("violations") or ()]
    out = []
    missing = [e for e in exp.get("emits_include") or () if e not in emits]
    if missing:
        out.append(f"{where}: emits {emits!r} lack {missing!r}")
    present = [e for e in exp.get("emits_exclude") or () if e in emits]
    if present:
        out.append(f"{where}: emits {emits!r} include the forbidden {present!r}")
    vmiss = [v for v in exp.get("violations_include") or () if v not in viol]
    if vmiss:
        out.append(f"{where}: violations {viol!r} lack {vmiss!r}")
    return out


def run_engine_attack(
    attack: Mapping[str, Any], fixtures: Mapping[str, Any], policy: Any = None
) -> dict[str, Any]:
    """Play an engine attack; return ``{outcome, passed, expected, observed, findings}``."""
    from labtrust_gym.testing.golden import run_golden_scenario_detailed

    composed = compose_engine_attack(attack, fixtures)
    sid = composed.scenario["id"]
    run = run_golden_scenario_detailed(composed.scenario, policy, partial=True)
    setup_bad: list[str] = []
    attack_bad: list[str] = []
    pat = re.compile(rf"^{re.escape(sid)} step (\d+) ")
    for msg in run.mismatches:
        m = pat.match(msg)
        if m is not None:
            phase = composed.phases[int(m.group(1))]
        else:
            phase = "setup" if msg.startswith(f"{sid} reset") else "attack"
        (setup_bad if phase == "setup" else attack_bad).append(msg)
    observed = []
    for rec in run.steps:
        exp = composed.expects[rec.index]
        phase = composed.phases[rec.index]
        where = f"{sid} step {rec.index}"
        if exp is not None:
            extra = _extra_findings(where, exp, rec.result)
            (setup_bad if phase == "setup" else attack_bad).extend(extra)
        if phase == "attack":
            ev = rec.event if isinstance(rec.event, dict) else {}
            observed.append(
                {
                    "step": rec.index,
                    "action_type": ev.get("action_type"),
                    "agent_id": ev.get("agent_id"),
                    "status": rec.result.get("status"),
                    "blocked_reason_code": rec.result.get("blocked_reason_code"),
                    "emits": list(rec.result.get("emits") or ()),
                    "violations": [
                        v.get("invariant_id") for v in rec.result.get("violations") or ()
                    ],
                }
            )
    if setup_bad:
        outcome = "error"
    elif attack_bad:
        outcome = "succeeded"
    elif any(
        e is not None and e.get("status") == "ACCEPTED" and p == "attack"
        for e, p in zip(composed.expects, composed.phases, strict=True)
    ):
        outcome = "detected"
    else:
        outcome = "blocked"
    return {
        "outcome": outcome,
        "passed": outcome in ("blocked", "detected"),
        "expected": expected_text(attack),
        "observed": observed,
        "findings": setup_bad + attack_bad,
    }
