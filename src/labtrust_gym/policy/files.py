"""The policy tree's layout and the pure helpers on parsed documents.

:data:`POLICY_FILES` are the documents the engine loads (one bundle, one fingerprint);
:data:`COORDINATION_FILES` are read on demand by the coordination layer. The schema of
``<dir>/<name>.vX.yaml`` is ``schemas/<name>.vX.schema.json``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "POLICY_FILES",
    "COORDINATION_FILES",
    "schema_path_for",
    "merge_overlay",
    "freeze",
    "thaw",
]

#: Logical name -> path of the file under ``policy/``.
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
#: :func:`~labtrust_gym.policy.loader.load_policy_document`, validated against their
#: schemas like every policy file, and are not part of the engine's bundle (nor of its
#: fingerprint).
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


def merge_overlay(base: Any, overlay: Any) -> Any:
    """Deep-merge ``overlay`` over ``base``: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for k, v in overlay.items():
            out[k] = merge_overlay(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(overlay)


def freeze(obj: Any) -> Any:
    """A read-only copy: mappings become mapping proxies, lists tuples."""
    if isinstance(obj, dict):
        return MappingProxyType({k: freeze(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(freeze(v) for v in obj)
    return obj


def thaw(obj: Any) -> Any:
    """Return a plain, mutable deep copy (dicts and lists) of a frozen policy document."""
    if isinstance(obj, Mapping):
        return {k: thaw(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [thaw(v) for v in obj]
    return obj
