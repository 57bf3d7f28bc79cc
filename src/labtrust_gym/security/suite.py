"""Running the attack catalogue: one result per attack, whatever its scenario kind.

:func:`run_catalogue` is what the ``default`` security suite provider runs
(:class:`labtrust_gym.benchmarks.security_runner.DefaultSecuritySuiteProvider`). Each
result is ``{attack_id, title, category, control, kind, outcome, passed, expected,
observed, findings, ...}`` with ``outcome`` one of ``blocked``, ``detected`` (the attack
was allowed but flagged, as written), ``succeeded`` or ``error`` (the attack could not be
staged or run). An attack passes when it was blocked or detected.

Kinds: ``engine`` (:mod:`.engine_scenarios`), ``bus`` (:mod:`.bus_scenarios`),
``episode`` (benchmark episodes judged by metric checks) and ``callable`` (a function
named by ``target``, the slot through which other packages add attacks, e.g. prompt
injection against LLM agents: ``function(params, seed=...) -> {"attempts": int,
"succeeded": int, ...}``; it passes when it attempted something and nothing succeeded).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError

__all__ = ["run_catalogue", "select_attacks", "run_attack"]


def select_attacks(
    suite: Mapping[str, Any],
    attack_ids: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The suite's attacks, optionally only those ids and/or categories (unknown ones, or a
    selection that leaves no attack, are a ConfigError)."""
    attacks = list(suite["attacks"])
    if attack_ids:
        known = {a["attack_id"] for a in attacks}
        unknown = [a for a in attack_ids if a not in known]
        if unknown:
            raise ConfigError(
                f"unknown attack id(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        attacks = [a for a in attacks if a["attack_id"] in set(attack_ids)]
    if categories:
        known_c = set(suite.get("categories") or ()) | {a["category"] for a in attacks}
        unknown = [c for c in categories if c not in known_c]
        if unknown:
            raise ConfigError(
                f"unknown attack categor(ies) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(known_c))}"
            )
        attacks = [a for a in attacks if a["category"] in set(categories)]
    if not attacks:
        raise ConfigError(
            "no attack is both of the ids "
            + ", ".join(attack_ids or ())
            + " and of the categories "
            + ", ".join(categories or ())
            + "; widen the selection"
        )
    return attacks


def run_catalogue(
    suite: Mapping[str, Any],
    *,
    policy_root: Path | str | None = None,
    partner_id: str | None = None,
    attack_ids: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    seed: int | None = None,
) -> list[dict[str, Any]]:
    """Run the selected attacks of ``suite`` in catalogue order. ``seed`` replaces the
    seed of episode and callable attacks (engine and bus scenarios carry their own)."""
    from labtrust_gym.policy.loader import load_policy

    attacks = select_attacks(suite, attack_ids, categories)
    policy = load_policy(policy_root, partner_id=partner_id)
    return [run_attack(a, suite, policy=policy, seed=seed) for a in attacks]


def run_attack(
    attack: Mapping[str, Any],
    suite: Mapping[str, Any],
    *,
    policy: Any = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Run one attack of ``suite`` (see the module docstring for the result)."""
    sc = attack["scenario"]
    kind = sc["kind"]
    head = {
        "attack_id": attack["attack_id"],
        "title": attack.get("title", ""),
        "category": attack["category"],
        "control": attack["control"],
        "kind": kind,
    }
    if kind == "engine":
        from labtrust_gym.security.engine_scenarios import run_engine_attack

        body = run_engine_attack(attack, suite.get("fixtures") or {}, policy)
    elif kind == "bus":
        from labtrust_gym.security.bus_scenarios import run_bus_attack

        body = run_bus_attack(attack)
    elif kind == "episode":
        body = _run_episode_attack(sc, suite, policy, seed)
    elif kind == "callable":
        body = _run_callable_attack(sc, suite, seed)
    else:  # the schema allows only the four kinds
        raise ConfigError(f"attack {attack['attack_id']}: unknown scenario kind {kind!r}")
    return {**head, **body}


def _run_episode_attack(
    sc: Mapping[str, Any], suite: Mapping[str, Any], policy: Any, seed: int | None
) -> dict[str, Any]:
    from labtrust_gym.benchmarks.runner import run_benchmark
    from labtrust_gym.benchmarks.tasks import get_task
    from labtrust_gym.security.checks import evaluate_check

    defaults = suite.get("defaults") or {}
    kw: dict[str, Any] = {"policy": policy, "params": sc.get("params")}
    if sc.get("scale"):
        kw["scale_config"] = sc["scale"]
    task = get_task(sc["task"])(**kw)
    episodes = int(sc.get("episodes", defaults.get("episodes", 1)))
    s = int(seed if seed is not None else sc.get("seed", defaults.get("seed", 0)))
    res = run_benchmark(task, episodes, s, injection=sc.get("injection"))
    checks = []
    for c in sc["checks"]:
        per_ep = [evaluate_check(c, ep["metrics"]) for ep in res["episodes"]]
        checks.append(
            {
                "metric": c["metric"],
                "op": c["op"],
                "value": c["value"],
                "observed": [r["observed"] for r in per_ep],
                "passed": all(r["passed"] for r in per_ep),
                "problems": sorted({r["problem"] for r in per_ep if "problem" in r}),
            }
        )
    # The first check proves the attack was attempted: failing it means nothing ran.
    attempted = checks[0]["passed"]
    passed = all(c["passed"] for c in checks)
    outcome = "blocked" if passed else "error" if not attempted else "succeeded"
    findings = [
        f"{c['metric']} {c['op']} {c['value']}: observed {c['observed']}"
        + (f" ({'; '.join(c['problems'])})" if c["problems"] else "")
        for c in checks
        if not c["passed"]
    ]
    return {
        "outcome": outcome,
        "passed": passed,
        "expected": "; ".join(f"{c['metric']} {c['op']} {c['value']}" for c in sc["checks"]),
        "observed": [{"metric": c["metric"], "values": c["observed"]} for c in checks],
        "findings": findings,
        "task": sc["task"],
        "scale": sc.get("scale"),
        "injection": sc.get("injection"),
        "episodes": episodes,
        "seed": s,
        "checks": checks,
        "policy_fingerprint": res["policy_fingerprint"],
        "episode_log_sha256": [ep["metrics"]["episode_log_sha256"] for ep in res["episodes"]],
    }


def _run_callable_attack(
    sc: Mapping[str, Any], suite: Mapping[str, Any], seed: int | None
) -> dict[str, Any]:
    target = sc["target"]
    mod_name, _, attr = target.partition(":")
    defaults = suite.get("defaults") or {}
    s = int(seed if seed is not None else sc.get("seed", defaults.get("seed", 0)))
    expected = "attempts > 0; succeeded == 0"
    try:
        fn = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        return {
            "outcome": "error",
            "passed": False,
            "expected": expected,
            "observed": [],
            "findings": [f"target {target!r} cannot be loaded: {exc}"],
        }
    out = fn(dict(sc.get("params") or {}), seed=s)
    attempts, succeeded = (out or {}).get("attempts"), (out or {}).get("succeeded")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (attempts, succeeded)):
        return {
            "outcome": "error",
            "passed": False,
            "expected": expected,
            "observed": [dict(out or {})],
            "findings": [
                f"target {target!r} returned {out!r}; it must return integers "
                "'attempts' and 'succeeded'"
            ],
        }
    assert isinstance(attempts, int) and isinstance(succeeded, int)
    outcome = "error" if attempts < 1 else "succeeded" if succeeded else "blocked"
    findings = []
    if attempts < 1:
        findings.append(f"target {target!r} attempted nothing")
    if succeeded:
        findings.append(f"{succeeded} of {attempts} attempt(s) succeeded")
    return {
        "outcome": outcome,
        "passed": outcome == "blocked",
        "expected": expected,
        "observed": [dict(out)],
        "findings": findings,
        "seed": s,
    }
