"""The cross-reference checker's plumbing: documents, id indexes, problem sink."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labtrust_gym.policy.files import POLICY_FILES
from labtrust_gym.policy.validate._common import (
    Problem,
    _entries,
    _known,
    _members,
    _s,
    format_path,
)
from labtrust_gym.policy.vocabulary import ACTION_TYPES, CLOCK_TRIGGER

__all__ = ["CheckerBase"]


class CheckerBase:
    """Checks that run over several documents; each doc may be absent or schema-invalid."""

    def __init__(self, docs: Mapping[str, Any], sources: Mapping[str, str]) -> None:
        self.docs = docs
        self.sources = sources
        self.problems: list[Problem] = []
        self.actions: frozenset[str] = frozenset(ACTION_TYPES)
        self.clock = CLOCK_TRIGGER

    # -- plumbing ------------------------------------------------------------------------

    def add(self, name: str, path: Sequence[str | int], msg: str) -> None:
        source = self.sources.get(name, POLICY_FILES.get(name, name))
        self.problems.append((source, format_path(path), msg))

    def doc(self, name: str) -> dict[str, Any] | None:
        d = self.docs.get(name)
        return d if isinstance(d, dict) else None

    def rel(self, name: str) -> str:
        return POLICY_FILES.get(name, name)

    def _index(self) -> None:
        """Id -> entry maps; ``None`` when the defining document is absent."""
        zl = self.doc("zone_layout")
        self.placed: dict[str, int] | None = None  # device id -> placement index (zone check)
        self.zones: dict[str, dict[str, Any]] | None = None
        if zl is not None:
            self.zones = {}
            for _, z in _entries(zl, "zones"):
                zid = _s(z.get("zone_id"))
                if zid is not None:
                    self.zones.setdefault(zid, z)
        sp = self.doc("sites_policy")
        self.sites: dict[str, dict[str, Any]] | None = None
        if sp is not None:
            self.sites = {}
            for _, s in _entries(sp, "sites"):
                sid = _s(s.get("site_id"))
                if sid is not None:
                    self.sites.setdefault(sid, s)
        eq = self.doc("equipment_registry")
        self.device_types: dict[str, dict[str, Any]] | None = None
        self.devices: dict[str, dict[str, Any]] | None = None
        if eq is not None:
            self.device_types = dict(_members(eq, "device_types"))
            self.devices = {}
            for _, d in _entries(eq, "devices"):
                did = _s(d.get("device_id"))
                if did is not None:
                    self.devices.setdefault(did, d)
        cat = self.doc("test_catalogue")
        self.panels = dict(_members(cat, "panels")) if cat is not None else None
        self.tube_types = dict(_members(cat, "tube_types")) if cat is not None else None
        rg = self.doc("reagent_policy")
        self.reagents = dict(_members(rg, "reagents")) if rg is not None else None
        st = self.doc("stability_policy")
        self.bands = dict(_members(st, "temperature_bands")) if st is not None else None
        rb = self.doc("rbac_policy")
        self.roles = dict(_members(rb, "roles")) if rb is not None else None
        tk = self.doc("token_registry")
        self.token_types = dict(_members(tk, "token_types")) if tk is not None else None
        rc = self.doc("reason_code_registry")
        self.reason_codes: set[str] | None = None
        if rc is not None:
            self.reason_codes = {
                c for _, e in _entries(rc, "reason_codes") if (c := _s(e.get("code")))
            }
        ct = self.doc("critical_thresholds")
        self.thresholds = dict(_members(ct, "thresholds")) if ct is not None else None

    def _zone_site(self, zone_id: str) -> str | None:
        z = (self.zones or {}).get(zone_id)
        return _s(z.get("site_id")) if z else None

    def _analyzer_types(self) -> set[str]:
        return {k for k, v in (self.device_types or {}).items() if v.get("kind") == "analyzer"}

    # -- zones -----------------------------------------------------------------------------

    def _check_reason_code(self, name: str, path: list[str | int], code: Any, who: str) -> None:
        code = _s(code)
        if code is None or self.reason_codes is None or code in self.reason_codes:
            return
        self.add(
            name,
            path,
            f"{who} uses reason code {code!r} which is not in "
            f"{self.rel('reason_code_registry')}; register it there or fix the code",
        )

    def _not_action(self, name: str, path: list[str | int], value: str, who: str) -> None:
        self.add(
            name,
            path,
            f"{who} lists {value!r} which is not an engine action type "
            f"(known: {_known(self.actions, limit=40)}); fix the name",
        )
