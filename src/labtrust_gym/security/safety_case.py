"""Safety cases: the provider registry and the default provider.

A safety case provider has two methods:

* ``load_claims(policy_root) -> dict``: the claims document;
* ``build_safety_case(policy_root, **options) -> dict``: every claim with its evidence
  and a status.

Register one with :func:`register_safety_case_provider` (or the entry-point group
``labtrust_gym.safety_case_providers``); :func:`run_safety_case` uses the active lab
profile's ``safety_case_provider_id``, else ``default``.

The ``default`` provider reads ``safety_case/safety_claims.v0.1.yaml`` (a lab profile's
``safety_claims_path`` replaces it): each claim has a statement, the argument why its
evidence supports it, and evidence items that are evaluated by running things now (the
golden scenarios executed, the security suite run, results files and their episode logs
replayed, evidence bundles verified; see :mod:`labtrust_gym.security.safety_evidence`).
A claim is ``supported`` when all its evidence holds, ``not_supported`` when some evidence
fails, and ``not_evaluated`` when some evidence could not be evaluated (no results files,
no bundle, a missing component) and none failed. :func:`case_passed` says whether a case
passes (``require_all``: "not evaluated" fails too).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError, RegistryError
from labtrust_gym.registry import BUILTIN_ORIGIN, Registry, require_signature

__all__ = [
    "SAFETY_CLAIMS_FILE",
    "SAFETY_CASE_PROVIDERS",
    "CLAIM_STATUSES",
    "DefaultSafetyCaseProvider",
    "register_safety_case_provider",
    "get_safety_case_provider",
    "list_safety_case_providers",
    "run_safety_case",
    "case_passed",
    "load_results_files",
]

#: The default claims, relative to the policy directory.
SAFETY_CLAIMS_FILE = "safety_case/safety_claims.v0.1.yaml"
CLAIM_STATUSES = ("supported", "not_supported", "not_evaluated")


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


def _status(oks: Sequence[bool | None]) -> str:
    if any(o is False for o in oks):
        return "not_supported"
    if any(o is None for o in oks):
        return "not_evaluated"
    return "supported"


def case_passed(case: Mapping[str, Any], require_all: bool = False) -> bool:
    """No claim is not supported (and, with ``require_all``, none is not evaluated)."""
    s = case.get("summary") or {}
    return not s.get("not_supported") and not (require_all and s.get("not_evaluated"))


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

    def build_safety_case(
        self,
        policy_root: Path | str | None = None,
        *,
        results: Sequence[Path | str | Mapping[str, Any]] = (),
        bundles: Sequence[Path | str] = (),
        trusted_key: str | None = None,
        bundle_replay: bool = False,
        claim_ids: Sequence[str] | None = None,
        claims: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Evaluate every claim (or those ``claim_ids``) from fresh evidence."""
        from labtrust_gym.security.safety_evidence import EvidenceContext, evaluate_evidence

        doc = claims if claims is not None else self.load_claims(policy_root)
        selected = list(doc["claims"])
        if claim_ids:
            known = {c["claim_id"] for c in selected}
            unknown = [c for c in claim_ids if c not in known]
            if unknown:
                raise ConfigError(
                    f"unknown claim id(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
                )
            selected = [c for c in selected if c["claim_id"] in set(claim_ids)]
        res_docs = load_results_files(results)
        missing = [str(b) for b in bundles if not Path(b).is_dir()]
        if missing:
            raise ConfigError(f"evidence bundle(s) not found (not a directory): {missing}")
        ctx = EvidenceContext(
            policy_root,
            results=res_docs,
            bundles=bundles,
            trusted_key=trusted_key,
            bundle_replay=bundle_replay,
        )
        out_claims = []
        for c in selected:
            evidence = [evaluate_evidence(ctx, ev) for ev in c["evidence"]]
            out_claims.append(
                {
                    "claim_id": c["claim_id"],
                    "statement": c["statement"],
                    "argument": c.get("argument", ""),
                    "status": _status([e["ok"] for e in evidence]),
                    "evidence": evidence,
                }
            )
        summary = {s: sum(1 for c in out_claims if c["status"] == s) for s in CLAIM_STATUSES}
        return {
            "case_id": doc.get("case_id"),
            "source": doc.get("source"),
            "policy_fingerprint": ctx.policy.fingerprint,
            "partner_id": ctx.policy.partner_id,
            "results": [r["_source"] for r in res_docs],
            "bundles": [str(b) for b in bundles],
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


_OPTION_NAMES = {
    "results": "results files",
    "bundles": "evidence bundles",
    "trusted_key": "a trusted key",
    "bundle_replay": "bundle replay",
    "claim_ids": "a claim selection",
}


def run_safety_case(
    provider_id: str | None = None,
    *,
    policy_root: Path | str | None = None,
    results: Sequence[Path | str | Mapping[str, Any]] = (),
    **options: Any,
) -> dict[str, Any]:
    """Build the safety case of a provider (default: the active lab profile's
    ``safety_case_provider_id``, else ``default``). ``results`` and the other options
    (``bundles``, ``trusted_key``, ``bundle_replay``, ``claim_ids``) are passed to
    providers that accept them; giving one to a provider that does not is a ConfigError."""
    from labtrust_gym.profiles import profile_provider_id

    pid = provider_id or profile_provider_id("safety_case_provider_id")
    provider = get_safety_case_provider(pid)
    build = provider.build_safety_case
    params = inspect.signature(build).parameters
    any_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    given = {"results": results, **options}
    kw = {}
    for name, value in given.items():
        if not value:
            continue
        if not any_kw and name not in params:
            what = _OPTION_NAMES.get(name, name)
            raise ConfigError(f"safety case provider {pid!r} does not take {what}")
        kw[name] = value
    case = build(policy_root, **kw)
    from labtrust_gym.plugins import loaded_plugins, plugin_overrides

    return {
        "provider_id": pid,
        **case,
        "plugins": loaded_plugins(),
        "plugin_overrides": plugin_overrides(),
    }
