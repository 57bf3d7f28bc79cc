"""The evidence types of the default safety case, each evaluated by running things now.

Every evaluator returns ``{"ok": True | False | None, "summary": str, "refs": [paths],
"findings": [str], ...}``: ``True`` the evidence holds, ``False`` it fails, ``None`` it
could not be evaluated (nothing to look at, or a component is missing), with the reason in
``summary``. :class:`EvidenceContext` runs the expensive things (the golden scenarios, the
security suite) once per safety case and shares them between claims.

Types (the ``type`` of an evidence item in the claims file):

* ``invariant_handlers``: every invariant of the registry resolves to a registered handler;
* ``golden_scenarios``: the golden scenarios (optionally those with one of ``tags``) are
  executed on a fresh engine and every step matches;
* ``golden_invariant_coverage``: every invariant (of ``severities``) was observed violated
  in a golden scenario that passed, unless waived (``waivers``: id -> why);
* ``golden_reason_code_coverage``: every reason code of ``families`` was observed as the
  refusal of a step of a golden scenario that passed;
* ``security_suite``: the security suite (optionally ``attacks`` / ``categories``) is run
  and every attack is blocked or detected; with ``require_categories`` every declared
  category that is not a slot has at least one attack;
* ``results_metric``: a check on a metric of every episode of the results files given
  (of ``tasks``);
* ``results_logs``: every episode log the given results files list replays on a fresh
  engine to the recorded chain (:func:`labtrust_gym.benchmarks.replay.replay_log`);
* ``evidence_bundle``: every evidence bundle given verifies
  (:func:`labtrust_gym.evidence.verify_bundle`, with ``replay`` re-running the engine).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError, LabTrustError

__all__ = ["EVIDENCE_TYPES", "EvidenceContext", "evaluate_evidence"]

_MAX_FINDINGS = 20


class EvidenceContext:
    """What a safety case is built from, with the shared, run-once pieces."""

    def __init__(
        self,
        policy_root: Path | str | None = None,
        *,
        results: Sequence[Mapping[str, Any]] = (),
        bundles: Sequence[Path | str] = (),
        trusted_key: str | None = None,
        bundle_replay: bool = False,
    ) -> None:
        from labtrust_gym.policy.loader import load_policy

        self.policy_root = policy_root
        self.policy = load_policy(policy_root)
        self.results = list(results)
        self.bundles = [Path(b) for b in bundles]
        self.trusted_key = trusted_key
        self.bundle_replay = bundle_replay
        self._golden: list[tuple[dict[str, Any], Any]] | None = None
        self._suites: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[str, Any]] = {}

    def golden_runs(self) -> list[tuple[dict[str, Any], Any]]:
        """``(scenario, GoldenRun)`` of every golden scenario, executed once."""
        if self._golden is None:
            from labtrust_gym.testing.golden import (
                load_golden_scenarios,
                run_golden_scenario_detailed,
            )

            self._golden = [
                (sc, run_golden_scenario_detailed(sc, self.policy))
                for sc in load_golden_scenarios(self.policy_root)
            ]
        return self._golden

    def security_report(
        self, attacks: Sequence[str] = (), categories: Sequence[str] = ()
    ) -> dict[str, Any]:
        key = (tuple(attacks), tuple(categories))
        if key not in self._suites:
            from labtrust_gym.benchmarks.security_runner import run_security_suite

            opts: dict[str, Any] = {}
            if attacks:
                opts["attack_ids"] = list(attacks)
            if categories:
                opts["categories"] = list(categories)
            self._suites[key] = run_security_suite(policy_root=self.policy_root, **opts)
        return self._suites[key]


def _out(
    ok: bool | None, summary: str, refs: Sequence[str], findings: Sequence[str] = (), **extra: Any
) -> dict[str, Any]:
    f = list(findings)
    more = len(f) - _MAX_FINDINGS
    return {
        "ok": ok,
        "summary": summary,
        "refs": list(refs),
        "findings": f[:_MAX_FINDINGS] + ([f"... and {more} more"] if more > 0 else []),
        **extra,
    }


# ------------------------------------------------------------------------ invariants ---
def _invariant_handlers(ctx: EvidenceContext, ev: Mapping[str, Any]) -> dict[str, Any]:
    from labtrust_gym.engine.invariants_runtime import HANDLERS

    handlers = {}
    missing = []
    for inv in ctx.policy["invariant_registry"]["invariants"]:
        lt = inv["logic_template"]
        key = f"{lt['type']}.{lt['parameters']['check']}"
        if key in HANDLERS:
            handlers[inv["invariant_id"]] = f"{key} ({HANDLERS.origins[key]})"
        else:
            missing.append(f"{inv['invariant_id']} -> {key}")
    n = len(handlers) + len(missing)
    return _out(
        not missing,
        f"{len(handlers)}/{n} invariants resolve to a registered handler",
        [ctx.policy.sources["invariant_registry"]],
        [f"no handler: {m}" for m in missing],
        invariants=n,
        handlers=handlers,
        missing=missing,
    )


# ------------------------------------------------------------------------ golden -------
def _golden_selected(ctx: EvidenceContext, ev: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    tags = set(ev.get("tags") or ())
    runs = ctx.golden_runs()
    if tags:
        runs = [(sc, r) for sc, r in runs if tags & set(sc.get("tags") or ())]
    return runs


def _golden_scenarios(ctx: EvidenceContext, ev: Mapping[str, Any]) -> dict[str, Any]:
    runs = _golden_selected(ctx, ev)
    refs = sorted({sc["_source"] for sc, _ in runs})
    if not runs:
        return _out(False, f"no golden scenario has a tag of {sorted(ev.get('tags') or ())}", refs)
    failed = {sc["id"]: r.mismatches[:3] for sc, r in runs if r.mismatches}
    findings = [m for sid in sorted(failed) for m in failed[sid]]
    return _out(
        not failed,
        f"{len(runs) - len(failed)}/{len(runs)} golden scenarios executed without a mismatch",
        refs,
        findings,
        scenarios=len(runs),
        failed=sorted(failed),
    )


def _observed(runs: list[tuple[Any, Any]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Invariants violated and reason codes refused, per scenario that passed."""
    viol: dict[str, list[str]] = {}
    codes: dict[str, list[str]] = {}
    for sc, r in runs:
        if r.mismatches:
            continue
        sid = sc["id"]
        for rec in r.steps:
            for v in rec.result.get("violations") or ():
                lst = viol.setdefault(v.get("invariant_id"), [])
                if sid not in lst:
                    lst.append(sid)
            code = rec.result.get("blocked_reason_code")
            if code is not None:
                lst = codes.setdefault(code, [])
                if sid not in lst:
                    lst.append(sid)
    return viol, codes


def _golden_invariant_coverage(ctx: EvidenceContext, ev: Mapping[str, Any]) -> dict[str, Any]:
    runs = ctx.golden_runs()
    regs = ctx.policy["invariant_registry"]["invariants"]
    sev = set(ev.get("severities") or ())
    invs = [i["invariant_id"] for i in regs if not sev or i["severity"] in sev]
    all_ids = {i["invariant_id"] for i in regs}
    viol, _ = _observed(runs)
    covered = {i: viol[i] for i in invs if i in viol}
    waivers = dict(ev.get("waivers") or {})
    problems = [f"waiver for unknown invariant {w}" for w in sorted(waivers) if w not in all_ids]
    problems += [
        f"waiver for {w}, which a golden scenario does exercise"
        for w in sorted(waivers)
        if w in covered
    ]
    missing = [i for i in invs if i not in covered and i not in waivers]
    return _out(
        not missing and not problems,
        f"{len(covered)}/{len(invs)} invariants observed firing in passing golden scenarios"
        + (f", {len([w for w in waivers if w in invs])} waived" if waivers else ""),
        sorted({sc["_source"] for sc, _ in runs}) + [ctx.policy.sources["invariant_registry"]],
        [f"never observed: {m}" for m in missing] + problems,
        covered=covered,
        waived={k: waivers[k] for k in sorted(waivers) if k in invs},
        missing=missing,
        problems=problems,
    )


def _golden_reason_code_coverage(ctx: EvidenceContext, ev: Mapping[str, Any]) -> dict[str, Any]:
    runs = ctx.golden_runs()
    fams = list(ev["families"])
    reg = ctx.policy["reason_code_registry"]["reason_codes"]
    known = {c["family"] for c in reg}
    problems = [f"unknown reason code family {f}" for f in fams if f not in known]
    codes = sorted(c["code"] for c in reg if c["family"] in fams)
    _, seen = _observed(runs)
    covered = {c: seen[c] for c in codes if c in seen}
    missing = [c for c in codes if c not in covered]
    return _out(
        not missing and not problems,
        f"{len(covered)}/{len(codes)} reason codes of {', '.join(fams)} observed as refusals "
        "in passing golden scenarios",
        [ctx.policy.sources["reason_code_registry"], *sorted({sc["_source"] for sc, _ in runs})],
        [f"never observed: {m}" for m in missing] + problems,
        codes=len(codes),
        covered=covered,
        missing=missing,
        problems=problems,
    )


# ------------------------------------------------------------------------ security -----
def _security_suite(ctx: EvidenceContext, ev: Mapping[str, Any]) -> dict[str, Any]:
    rep = ctx.security_report(ev.get("attacks") or (), ev.get("categories") or ())
    attacks = rep["attacks"]
    bad = [a for a in attacks if not a.get("passed")]
    findings = [f"{a['attack_id']} {a.get('outcome', 'failed')}: {a.get('title', '')}" for a in bad]
    if ev.get("require_categories"):
        cats = rep.get("categories") or {}
        have = {a.get("category") for a in attacks if a.get("passed")}
        for c, info in sorted(cats.items()):
            if not info.get("slot") and c not in have:
                findings.append(f"category {c} has no attack that was blocked or detected")
    ok = bool(attacks) and not findings
    return _out(
        ok,
        f"{len(attacks) - len(bad)}/{len(attacks)} attacks of suite {rep.get('suite_id')} "
        f"(provider {rep.get('provider_id')}) blocked or detected",
        [str(rep.get("source"))],
        findings,
        provider_id=rep.get("provider_id"),
        attacks=len(attacks),
        failed=[a["attack_id"] for a in bad],
    )


# ------------------------------------------------------------------------ results ------
def _results_metric(ctx: EvidenceContext, ev: Mapping[str, Any]) -> dict[str, Any]:
    from labtrust_gym.security.checks import evaluate_check

    tasks = set(ev.get("tasks") or ())
    used = [r for r in ctx.results if not tasks or r.get("task") in tasks]
    if not used:
        what = f" of task(s) {', '.join(sorted(tasks))}" if tasks else ""
        return _out(None, f"no results files{what} were given", [])
    per_file = []
    findings = []
    for r in used:
        checks = [evaluate_check(ev["check"], ep["metrics"]) for ep in r["episodes"]]
        passed = all(c["passed"] for c in checks)
        per_file.append(
            {
                "results": r["_source"],
                "task": r.get("task"),
                "episodes": len(checks),
                "observed": [c["observed"] for c in checks],
                "passed": passed,
            }
        )
        if not passed:
            findings.append(
                f"{r['_source']}: {ev['check']['metric']} observed "
                f"{[c['observed'] for c in checks]}"
            )
    c = ev["check"]
    return _out(
        all(p["passed"] for p in per_file),
        f"{c['metric']} {c['op']} {c['value']} in {sum(p['passed'] for p in per_file)}/"
        f"{len(per_file)} results files",
        [p["results"] for p in per_file],
        findings,
        check=dict(c),
        files=per_file,
    )


def _results_logs(ctx: EvidenceContext, ev: Mapping[str, Any]) -> dict[str, Any]:
    from labtrust_gym.benchmarks.replay import replay_log

    logs: list[str] = []
    for r in ctx.results:
        base = Path(r["_source"]).parent if r.get("_source") else Path(".")
        for lg in r.get("logs") or ():
            p = Path(lg)
            logs.append(str(p if p.is_absolute() or p.exists() else base / p))
    if not logs:
        return _out(None, "the results files given list no episode logs", [])
    findings = []
    for lg in logs:
        try:
            rep = replay_log(lg, ctx.policy)
        except (LabTrustError, OSError, ValueError) as exc:
            findings.append(f"{lg}: {exc}")
            continue
        if not rep.get("ok"):
            findings.append(f"{lg}: replay differs (first mismatch {rep.get('first_mismatch')})")
    return _out(
        not findings,
        f"{len(logs) - len(findings)}/{len(logs)} episode logs replay to their recorded chain",
        logs,
        findings,
    )


def _evidence_bundle(ctx: EvidenceContext, ev: Mapping[str, Any]) -> dict[str, Any]:
    try:
        from labtrust_gym.evidence import verify_bundle
    except ImportError:
        return _out(None, "labtrust_gym.evidence not available", [])
    if not ctx.bundles:
        return _out(None, "no evidence bundle was given (--bundle)", [])
    replay = bool(ev.get("replay", False)) or ctx.bundle_replay
    findings = []
    refs: list[str] = []
    checks = []
    for b in ctx.bundles:
        refs.append(str(b))
        refs += [str(p) for p in sorted(b.glob("manifest*")) if p.is_file()]
        rep = verify_bundle(b, trusted_key=ctx.trusted_key, replay=replay)
        for c in getattr(rep, "checks", ()):
            checks.append({"bundle": str(b), "name": c.name, "ok": c.ok, "detail": c.detail})
            if not c.ok:
                findings.append(f"{b}: {c.name}: {c.detail}")
        if not rep.ok and not findings:
            findings.append(f"{b}: does not verify")
    return _out(
        not findings,
        f"{len(ctx.bundles)} evidence bundle(s) verified"
        + (" with an engine replay" if replay else "")
        + (" against a trusted key" if ctx.trusted_key else ""),
        refs,
        findings,
        checks=checks,
    )


EVIDENCE_TYPES: dict[str, Callable[[EvidenceContext, Mapping[str, Any]], dict[str, Any]]] = {
    "invariant_handlers": _invariant_handlers,
    "golden_scenarios": _golden_scenarios,
    "golden_invariant_coverage": _golden_invariant_coverage,
    "golden_reason_code_coverage": _golden_reason_code_coverage,
    "security_suite": _security_suite,
    "results_metric": _results_metric,
    "results_logs": _results_logs,
    "evidence_bundle": _evidence_bundle,
}


def evaluate_evidence(ctx: EvidenceContext, ev: Mapping[str, Any]) -> dict[str, Any]:
    """Evaluate one evidence item: ``{"type", "ok", "summary", "refs", "findings", ...}``."""
    kind = ev["type"]
    fn = EVIDENCE_TYPES.get(kind)
    if fn is None:
        raise ConfigError(
            f"unknown evidence type {kind!r}; known: {', '.join(sorted(EVIDENCE_TYPES))}"
        )
    return {"type": kind, **fn(ctx, ev)}
