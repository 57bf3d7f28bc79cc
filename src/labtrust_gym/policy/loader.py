"""The one loader of policy files.

Every policy file is versioned YAML with a JSON Schema under ``policy/schemas/``. The loader
reads them once per policy directory (cached on the files' modification times), validates
them, and returns an immutable :class:`PolicyBundle`. Nothing on the engine's hot path ever
touches a file.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
import yaml

from labtrust_gym.config import get_policy_dir
from labtrust_gym.errors import PolicyError

__all__ = [
    "POLICY_FILES",
    "COORDINATION_FILES",
    "PolicyBundle",
    "load_policy",
    "load_policy_document",
    "load_yaml",
    "merge_overlay",
    "partner_overlay_dir",
]

#: Logical name -> path of the file under ``policy/``. The schema of ``<dir>/<name>.vX.yaml``
#: is ``schemas/<name>.vX.schema.json``.
POLICY_FILES: Mapping[str, str] = MappingProxyType(
    {
        "zone_layout": "zones/zone_layout.v0.1.yaml",
        "sites_policy": "sites/sites_policy.v0.1.yaml",
        "equipment_registry": "equipment/equipment_registry.v0.1.yaml",
        "test_catalogue": "catalogue/test_catalogue.v0.1.yaml",
        "stability_policy": "stability/stability_policy.v0.1.yaml",
        "acceptance_rules": "acceptance/acceptance_rules.v0.1.yaml",
        "reagent_policy": "reagents/reagent_policy.v0.1.yaml",
        "rbac_policy": "rbac/rbac_policy.v0.1.yaml",
        "token_registry": "tokens/token_registry.v0.1.yaml",
        "critical_thresholds": "critical/critical_thresholds.v0.1.yaml",
        "escalation_ladder": "critical/escalation_ladder.v0.1.yaml",
        "invariant_registry": "invariants/invariant_registry.v0.1.yaml",
        "reason_code_registry": "reason_codes/reason_code_registry.v0.1.yaml",
        "emits_vocab": "emits/emits_vocab.v0.1.yaml",
        "sla_targets": "sla/sla_targets.v0.1.yaml",
    }
)

#: Coordination documents (network model, message bus, risk injections): logical name ->
#: path under ``policy/``. They are read on demand by the coordination layer through
#: :func:`load_policy_document`, validated against their schemas like every policy file,
#: and are not part of the engine's bundle (nor of its fingerprint).
COORDINATION_FILES: Mapping[str, str] = MappingProxyType(
    {
        "network_policy": "coordination/network_policy.v0.1.yaml",
        "injections": "coordination/injections.v0.1.yaml",
    }
)


def schema_path_for(rel_path: str) -> str:
    """``zones/zone_layout.v0.1.yaml`` -> ``schemas/zone_layout.v0.1.schema.json``."""
    name = Path(rel_path).name
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name
    return f"schemas/{stem}.schema.json"


def load_yaml(path: Path) -> Any:
    """Read one YAML file; errors name the file, line and problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{path}: file not found") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{path}:{where}: malformed YAML: {problem}") from None


def merge_overlay(base: Any, overlay: Any) -> Any:
    """Deep-merge ``overlay`` over ``base``: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for k, v in overlay.items():
            out[k] = merge_overlay(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(overlay)


def _freeze(obj: Any) -> Any:
    if isinstance(obj, dict):
        return MappingProxyType({k: _freeze(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(_freeze(v) for v in obj)
    return obj


def thaw(obj: Any) -> Any:
    """Return a plain, mutable deep copy (dicts and lists) of a frozen policy document."""
    if isinstance(obj, Mapping):
        return {k: thaw(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [thaw(v) for v in obj]
    return obj


@dataclass(frozen=True)
class PolicyBundle:
    """All policy documents of one policy directory (optionally with a partner overlay).

    ``docs`` maps each logical name of :data:`POLICY_FILES` to its parsed, read-only
    document. ``fingerprint`` is the SHA-256 of their canonical JSON: signatures bind it,
    so a changed policy invalidates old signatures.
    """

    policy_dir: Path
    docs: Mapping[str, Any]
    fingerprint: str
    partner_id: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        try:
            return self.docs[name]
        except KeyError:
            known = ", ".join(sorted(self.docs))
            raise PolicyError(f"no policy document {name!r}; known: {known}") from None

    def doc(self, name: str) -> dict[str, Any]:
        """A mutable deep copy of one document."""
        out: dict[str, Any] = thaw(self[name])
        return out


def fingerprint_docs(docs: Mapping[str, Any]) -> str:
    blob = orjson.dumps(thaw(docs), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()


_CACHE: dict[tuple[str, str | None, tuple[float, ...]], PolicyBundle] = {}


def partner_overlay_dir(pdir: Path, partner_id: str | None) -> Path | None:
    """The overlay directory ``partners/<partner_id>/`` in the artifact roots (None
    without a partner); PolicyError listing the known partners if there is none."""
    if not partner_id:
        return None
    from labtrust_gym.artifacts import discover_artifacts, resolve_artifact

    overlay = resolve_artifact("partners", partner_id, pdir, required=False)
    if overlay is None:
        known = sorted(discover_artifacts("partners", pdir))
        raise PolicyError(
            f"partner overlay {partner_id!r} not found (looked for partners/{partner_id}/ in "
            f"the artifact roots); known partners: {', '.join(known) or '(none)'}"
        )
    return Path(overlay)


def load_policy(
    policy_root: Path | str | None = None,
    *,
    partner_id: str | None = None,
    validate: bool = True,
) -> PolicyBundle:
    """Load, validate and freeze every policy document.

    ``policy_root`` is a repository root or a ``policy/`` directory (default: see
    :func:`labtrust_gym.config.get_policy_dir`). With ``partner_id`` the files under
    ``partners/<partner_id>/`` (same relative paths) are deep-merged over the base; the
    overlay is looked up in the artifact roots (:mod:`labtrust_gym.artifacts`). Without
    ``partner_id`` the active lab profile's ``partner_id`` applies, if any.
    """
    pdir = get_policy_dir(policy_root)
    paths = [pdir / rel for rel in POLICY_FILES.values()]
    if partner_id is None:
        from labtrust_gym.profiles import active_lab_profile

        prof = active_lab_profile()
        partner_id = prof.partner_id if prof is not None else None
    overlay_dir = partner_overlay_dir(pdir, partner_id)
    overlay_paths = [overlay_dir / rel for rel in POLICY_FILES.values()] if overlay_dir else []
    stamp = tuple(p.stat().st_mtime if p.exists() else -1.0 for p in paths + overlay_paths)
    key = (str(pdir), str(overlay_dir) if overlay_dir else None, stamp)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    docs: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, rel in POLICY_FILES.items():
        docs[name] = load_yaml(pdir / rel)
        sources[name] = str(pdir / rel)
        if overlay_dir is not None and (overlay_dir / rel).is_file():
            docs[name] = merge_overlay(docs[name], load_yaml(overlay_dir / rel))
            sources[name] += f" + {overlay_dir / rel}"
    if validate:
        from labtrust_gym.policy.validate import raise_for_problems, validate_documents

        raise_for_problems(validate_documents(pdir, docs, sources))
    bundle = PolicyBundle(
        policy_dir=pdir,
        docs=MappingProxyType({k: _freeze(v) for k, v in docs.items()}),
        fingerprint=fingerprint_docs(docs),
        partner_id=partner_id,
        sources=MappingProxyType(sources),
    )
    _CACHE[key] = bundle
    return bundle


_DOC_CACHE: dict[tuple[str, float], Any] = {}


def load_policy_document(
    name: str, policy_root: Path | str | None = None, *, validate: bool = True
) -> Any:
    """One document of :data:`COORDINATION_FILES`, schema-validated and frozen (read-only
    mappings and tuples; :func:`thaw` gives a mutable copy). Read once per file version.
    """
    rel = COORDINATION_FILES.get(name)
    if rel is None:
        raise PolicyError(
            f"no coordination policy document {name!r}; known: "
            f"{', '.join(sorted(COORDINATION_FILES))}"
        )
    pdir = get_policy_dir(policy_root)
    path = pdir / rel
    try:
        stamp = path.stat().st_mtime
    except OSError:
        raise PolicyError(
            f"{path}: file not found; the coordination document {name!r} must live at {rel} "
            "under the policy directory"
        ) from None
    key = (str(path), stamp)
    hit = _DOC_CACHE.get(key)
    if hit is not None:
        return hit
    doc = load_yaml(path)
    if validate:
        from labtrust_gym.policy.validate import raise_for_problems, validate_document

        raise_for_problems(validate_document(pdir, rel, doc, str(path)))
    frozen = _freeze(doc)
    _DOC_CACHE[key] = frozen
    return frozen
