"""Safety cases: the provider registry and the default provider.

A safety case provider has two methods:

* ``load_claims(policy_root) -> dict``: the claims document;
* ``build_safety_case(policy_root, **options) -> dict``: every claim with its evidence
  and a status.

Register one with :func:`register_safety_case_provider` (or the entry-point group
``labtrust_gym.safety_case_providers``); :func:`run_safety_case` uses the active lab
profile's ``safety_case_provider_id``, else ``default``.

The ``default`` provider reads ``safety_case/safety_claims.v0.1.yaml`` (a lab profile's
``safety_claims_path`` replaces it) and checks each piece of evidence against real
artifacts: the invariant registry and the registered handlers, the golden scenario files
(which invariants and reason codes they exercise), and benchmark results files given as
``results``. A claim is ``supported`` when all its evidence holds, ``not_supported`` when
some evidence fails, and ``not_evaluated`` when some evidence had nothing to look at (no
results files) and none failed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError, RegistryError
from labtrust_gym.registry import BUILTIN_ORIGIN, Registry, require_signature

__all__ = [
    "SAFETY_CLAIMS_FILE",
    "SAFETY_CASE_PROVIDERS",
    "DefaultSafetyCaseProvider",
    "register_safety_case_provider",
    "get_safety_case_provider",
    "list_safety_case_providers",
    "run_safety_case",
    "load_results_files",
]

#: The default claims, relative to the policy directory.
SAFETY_CLAIMS_FILE = "safety_case/safety_claims.v0.1.yaml"


def load_results_files(results: Sequence[Path | str | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Results documents (``labtrust.results.v0.1``) from paths or already-parsed dicts;
    each gets ``_source``. A file that is not a results document is a ConfigError."""
    out = []
    for item in results:
        if isinstance(item, Mapping):
            doc = dict(item)
            doc.setdefault("_source", "<results>")
        else:
            path = Path(item)
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{path}: cannot read results ({exc})") from None
            if not isinstance(doc, dict):
                raise ConfigError(f"{path}: not a results document")
            doc["_source"] = str(path)
        if doc.get("schema_version") != "labtrust.results.v0.1":
            raise ConfigError(
                f"{doc['_source']}: not a labtrust.results.v0.1 results document "
                f"(schema_version {doc.get('schema_version')!r})"
            )
        out.append(doc)
    return out


def _golden_steps(policy_root: Path | str | None) -> list[tuple[str, str, dict[str, Any]]]:
    """``(file, scenario id, expect)`` of every golden step."""
    from labtrust_gym.policy.loader import load_yaml
    from labtrust_gym.testing.golden import golden_files

    out = []
    for path in golden_files(policy_root):
        doc = load_yaml(path)
        for sc in (doc or {}).get("scenarios") or []:
            for st in sc.get("steps") or []:
                out.append((str(path), str(sc.get("id")), dict(st.get("expect") or {})))
    return out


class DefaultSafetyCaseProvider:
    """The default provider (see the module docstring)."""

    provider_id = "default"

    def claims_path(self, policy_root: Path | str | None = None) -> Path:
        from labtrust_gym.config import policy_path
        from labtrust_gym.profiles import profile_path_override

        return profile_path_override("safety_claims_path") or policy_path(
            policy_root, *SAFETY_CLAIMS_FILE.split("/")
        )

    def load_claims(self, policy_root: Path | str | None = None) -> dict[str, Any]:
        from labtrust_gym.config import get_policy_dir
        from labtrust_gym.policy.loader import load_yaml
        from labtrust_gym.policy.validate import raise_for_problems, validate_document

        path = self.claims_path(policy_root)
        doc = load_yaml(path)
        raise_for_problems(
            validate_document(get_policy_dir(policy_root), SAFETY_CLAIMS_FILE, doc, str(path))
        )
        ids = [c["claim_id"] for c in doc["claims"]]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ConfigError(f"{path}: claim id(s) listed twice: {', '.join(dup)}")
        doc["source"] = str(path)
        return dict(doc)

    # ------------------------------------------------------------------ evidence -----
    def _invariant_handlers(self, policy: Any, ev: Mapping[str, Any]) -> dict[str, Any]:
        from labtrust_gym.engine.invariants_runtime import HANDLERS

        handlers = {}
        missing = []
        for inv in policy["invariant_registry"]["invariants"]:
            lt = inv["logic_template"]
            key = f"{lt['type']}.{lt['parameters']['check']}"
            if key in HANDLERS:
                handlers[inv["invariant_id"]] = f"{key} ({HANDLERS.origins[key]})"
            else:
                missing.append(f"{inv['invariant_id']} -> {key}")
        return {
            "ok": not missing,
            "refs": [policy.sources["invariant_registry"]],
            "invariants": len(handlers) + len(missing),
            "handlers": handlers,
            "missing": missing,
        }

    def _golden_invariants(
        self, policy: Any, ev: Mapping[str, Any], steps: list[tuple[str, str, dict[str, Any]]]
    ) -> dict[str, Any]:
        sev = set(ev.get("severities") or ())
        invs = {
            i["invariant_id"]: i["severity"]
            for i in policy["invariant_registry"]["invariants"]
            if not sev or i["severity"] in sev
        }
        all_ids = {i["invariant_id"] for i in policy["invariant_registry"]["invariants"]}
        covered: dict[str, list[str]] = {}
        for _, sid, exp in steps:
            for v in exp.get("violations") or ():
                if v in invs and sid not in covered.setdefault(v, []):
                    covered[v].append(sid)
        waivers = dict(ev.get("waivers") or {})
        problems = [
            f"waiver for unknown invariant {w}" for w in sorted(waivers) if w not in all_ids
        ]
        problems += [
            f"waiver for {w}, which a golden scenario does exercise"
            for w in sorted(waivers)
            if w in covered
        ]
        missing = sorted(i for i in invs if i not in covered and i not in waivers)
        return {
            "ok": not missing and not problems,
            "refs": sorted({f for f, _, _ in steps}),
            "covered": {k: covered[k] for k in sorted(covered)},
            "waived": {k: waivers[k] for k in sorted(waivers) if k in invs},
            "missing": missing,
            "problems": problems,
        }

    def _golden_codes(
        self, policy: Any, ev: Mapping[str, Any], steps: list[tuple[str, str, dict[str, Any]]]
    ) -> dict[str, Any]:
        fams = list(ev["families"])
        reg = policy["reason_code_registry"]["reason_codes"]
        known_fams = {c["family"] for c in reg}
        problems = [f"unknown reason code family {f}" for f in fams if f not in known_fams]
        codes = sorted(c["code"] for c in reg if c["family"] in fams)
        covered: dict[str, list[str]] = {}
        for _, sid, exp in steps:
            code = str(exp.get("blocked_reason_code"))
            if code in codes and sid not in covered.setdefault(code, []):
                covered[code].append(sid)
        missing = [c for c in codes if c not in covered]
        return {
            "ok": not missing and not problems,
            "refs": [policy.sources["reason_code_registry"], *sorted({f for f, _, _ in steps})],
            "codes": len(codes),
            "covered": {k: covered[k] for k in sorted(covered)},
            "missing": missing,
            "problems": problems,
        }

    def _results_metric(
        self, ev: Mapping[str, Any], results: list[dict[str, Any]]
    ) -> dict[str, Any]:
        from labtrust_gym.benchmarks.security_runner import evaluate_check

        tasks = set(ev.get("tasks") or ())
        used = [r for r in results if not tasks or r.get("task") in tasks]
        if not used:
            return {
                "ok": None,
                "refs": [],
                "note": "no results files"
                + (f" of task(s) {', '.join(sorted(tasks))}" if tasks else "")
                + " were given",
            }
        per_file = []
        for r in used:
            checks = [evaluate_check(ev["check"], ep["metrics"]) for ep in r["episodes"]]
            per_file.append(
                {
                    "results": r["_source"],
                    "task": r.get("task"),
                    "episodes": len(checks),
                    "observed": [c["observed"] for c in checks],
                    "passed": all(c["passed"] for c in checks),
                }
            )
        return {
            "ok": all(p["passed"] for p in per_file),
            "refs": [p["results"] for p in per_file],
            "check": dict(ev["check"]),
            "files": per_file,
        }

    def build_safety_case(
        self,
        policy_root: Path | str | None = None,
        *,
        results: Sequence[Path | str | Mapping[str, Any]] = (),
        claims: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        from labtrust_gym.policy.loader import load_policy

        doc = claims if claims is not None else self.load_claims(policy_root)
        policy = load_policy(policy_root)
        res_docs = load_results_files(results)
        steps = _golden_steps(policy_root)
        out_claims = []
        for c in doc["claims"]:
            evidence = []
            for ev in c["evidence"]:
                kind = ev["type"]
                if kind == "invariant_handlers":
                    got = self._invariant_handlers(policy, ev)
                elif kind == "golden_invariant_coverage":
                    got = self._golden_invariants(policy, ev, steps)
                elif kind == "golden_reason_code_coverage":
                    got = self._golden_codes(policy, ev, steps)
                elif kind == "results_metric":
                    got = self._results_metric(ev, res_docs)
                else:
                    raise ConfigError(f"{doc.get('source')}: unknown evidence type {kind!r}")
                evidence.append({"type": kind, **got})
            oks = [e["ok"] for e in evidence]
            status = (
                "not_supported"
                if any(o is False for o in oks)
                else "not_evaluated"
                if any(o is None for o in oks)
                else "supported"
            )
            out_claims.append(
                {
                    "claim_id": c["claim_id"],
                    "statement": c["statement"],
                    "status": status,
                    "evidence": evidence,
                }
            )
        summary = {
            s: sum(1 for c in out_claims if c["status"] == s)
            for s in ("supported", "not_supported", "not_evaluated")
        }
        return {
            "case_id": doc.get("case_id"),
            "source": doc.get("source"),
            "policy_fingerprint": policy.fingerprint,
            "partner_id": policy.partner_id,
            "results": [r["_source"] for r in res_docs],
            "claims": out_claims,
            "summary": summary,
        }


# ------------------------------------------------------------------------ registry ---
def _check(provider_id: str, provider: Any) -> None:
    for method, shape in (("load_claims", "(policy_root)"), ("build_safety_case", "(policy_root)")):
        fn = getattr(provider, method, None)
        if fn is None:
            raise RegistryError(
                f"safety case provider {provider_id!r}: {provider!r} has no method {method}"
            )
        require_signature("safety case provider", f"{provider_id}.{method}", fn, (None,), shape)


def _builtins() -> None:
    SAFETY_CASE_PROVIDERS.register("default", DefaultSafetyCaseProvider(), origin=BUILTIN_ORIGIN)


SAFETY_CASE_PROVIDERS: Registry[Any] = Registry(
    "safety case provider", check=_check, load_builtins=_builtins, plugins=True
)


def register_safety_case_provider(
    provider_id: str, provider: Any, *, override: bool = False, origin: str = "runtime"
) -> None:
    """Register a provider (an object with ``load_claims`` and ``build_safety_case``)."""
    SAFETY_CASE_PROVIDERS.register(provider_id, provider, override=override, origin=origin)


def get_safety_case_provider(provider_id: str) -> Any:
    return SAFETY_CASE_PROVIDERS.get(provider_id)


def list_safety_case_providers() -> list[str]:
    return SAFETY_CASE_PROVIDERS.ids()


def run_safety_case(
    provider_id: str | None = None,
    *,
    policy_root: Path | str | None = None,
    results: Sequence[Path | str | Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Build the safety case of a provider (default: the active lab profile's
    ``safety_case_provider_id``, else ``default``); ``results`` are passed to providers
    that accept them."""
    import inspect

    from labtrust_gym.profiles import profile_provider_id

    pid = provider_id or profile_provider_id("safety_case_provider_id")
    provider = get_safety_case_provider(pid)
    build = provider.build_safety_case
    params = inspect.signature(build).parameters
    takes = "results" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    if results and not takes:
        raise ConfigError(f"safety case provider {pid!r} does not take results files")
    case = build(policy_root, results=results) if takes else build(policy_root)
    from labtrust_gym.plugins import loaded_plugins, plugin_overrides

    return {
        "provider_id": pid,
        **case,
        "plugins": loaded_plugins(),
        "plugin_overrides": plugin_overrides(),
    }
