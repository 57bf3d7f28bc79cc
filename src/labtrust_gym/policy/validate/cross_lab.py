"""Cross-checks of the lab's work: catalogue, critical thresholds, stability,
acceptance rules, reagents."""

from __future__ import annotations

from labtrust_gym.policy.validate._common import (
    _entries,
    _known,
    _members,
    _num,
    _s,
    _strings,
)
from labtrust_gym.policy.validate.cross_base import CheckerBase

__all__ = ["LabChecks"]


class LabChecks(CheckerBase):
    """Catalogue, thresholds, stability, acceptance, reagents."""

    # -- catalogue -------------------------------------------------------------------------

    def _catalogue(self) -> None:
        doc = self.doc("test_catalogue")
        if doc is None:
            return
        n = "test_catalogue"
        types = self.device_types
        kinds = {v.get("kind") for v in (types or {}).values()}
        device_type_counts: dict[str, int] = {}
        for d in (self.devices or {}).values():
            dt = _s(d.get("device_type"))
            if dt is not None:
                device_type_counts[dt] = device_type_counts.get(dt, 0) + 1
        eq_rel = self.rel("equipment_registry")
        for pid, p in _members(doc, "panels"):
            tube = _s(p.get("tube_type"))
            if tube is not None and self.tube_types is not None and tube not in self.tube_types:
                self.add(
                    n,
                    ["panels", pid, "tube_type"],
                    f"panel {pid} uses tube type {tube!r} which is not in tube_types "
                    f"(known: {_known(self.tube_types)}); add it or fix the name",
                )
            at = _s(p.get("analyzer_type"))
            if at is not None and types is not None:
                if at not in types:
                    self.add(
                        n,
                        ["panels", pid, "analyzer_type"],
                        f"panel {pid} runs on device type {at!r} which is not in {eq_rel} "
                        f"device_types (known analyzers: {_known(self._analyzer_types())}); "
                        "add it or fix the type",
                    )
                elif types[at].get("kind") != "analyzer":
                    self.add(
                        n,
                        ["panels", pid, "analyzer_type"],
                        f"panel {pid} runs on {at}, a device type of kind "
                        f"{types[at].get('kind')!r}; name an analyzer type "
                        f"({_known(self._analyzer_types())})",
                    )
                elif self.devices is not None and not device_type_counts.get(at):
                    self.add(
                        n,
                        ["panels", pid, "analyzer_type"],
                        f"no device of type {at} is registered in {eq_rel}, so panel {pid} "
                        "can never run; add a device or change the analyzer_type",
                    )
            if types is not None:
                for flag, kind in (
                    ("needs_centrifuge", "centrifuge"),
                    ("needs_aliquot", "aliquoter"),
                ):
                    if p.get(flag) is True and kind not in kinds:
                        self.add(
                            n,
                            ["panels", pid, flag],
                            f"panel {pid} needs a {kind} but {eq_rel} has no device type of "
                            f"kind {kind}; add one or set {flag}: false",
                        )
            rid = _s(p.get("reagent_id"))
            if rid is not None and self.reagents is not None:
                reagent = self.reagents.get(rid)
                if reagent is None:
                    self.add(
                        n,
                        ["panels", pid, "reagent_id"],
                        f"panel {pid} uses reagent {rid!r} which is not in "
                        f"{self.rel('reagent_policy')} (known: {_known(self.reagents)}); "
                        "add it or fix the id",
                    )
                elif (
                    at is not None
                    and (types is None or at in self._analyzer_types())
                    and reagent.get("analyzer_type") != at
                ):
                    self.add(
                        n,
                        ["panels", pid, "reagent_id"],
                        f"reagent {rid} is for analyzer type {reagent.get('analyzer_type')} "
                        f"but panel {pid} runs on {at}; use a reagent of {at} or fix the "
                        "reagent's analyzer_type",
                    )
            if self.thresholds is None:
                continue
            ct_rel = self.rel("critical_thresholds")
            for aid, a in _members(p, "analytes"):
                pc = _num(a.get("p_critical"))
                if pc is None or pc <= 0:
                    continue
                thr = self.thresholds.get(aid)
                if thr is None:
                    self.add(
                        n,
                        ["panels", pid, "analytes", aid],
                        f"analyte {aid} has p_critical {a.get('p_critical')} but {ct_rel} has "
                        f"no threshold for it; add thresholds.{aid} with low and/or high, "
                        "or set p_critical: 0",
                    )
                    continue
                cv = _num(a.get("critical_value"))
                lo, hi = _num(thr.get("low")), _num(thr.get("high"))
                if cv is None or (lo is None and hi is None):
                    continue
                if not ((lo is not None and cv < lo) or (hi is not None and cv > hi)):
                    self.add(
                        n,
                        ["panels", pid, "analytes", aid, "critical_value"],
                        f"critical_value {a.get('critical_value')} of {aid} is not critical "
                        f"by {ct_rel} (low {lo}, high {hi}); it must lie below low or above "
                        "high",
                    )

    def _critical_thresholds(self) -> None:
        doc = self.doc("critical_thresholds")
        if doc is None:
            return
        n = "critical_thresholds"
        analytes: set[str] | None = None
        if self.panels is not None:
            analytes = {aid for p in self.panels.values() for aid, _ in _members(p, "analytes")}
        for aid, t in _members(doc, "thresholds"):
            if analytes is not None and aid not in analytes:
                self.add(
                    n,
                    ["thresholds", aid],
                    f"threshold for analyte {aid} which no panel in "
                    f"{self.rel('test_catalogue')} measures (known analytes: "
                    f"{_known(analytes)}); remove it or fix the name",
                )
            lo, hi = _num(t.get("low")), _num(t.get("high"))
            if lo is not None and hi is not None and lo >= hi:
                self.add(
                    n,
                    ["thresholds", aid],
                    f"low {t.get('low')} is not below high {t.get('high')}; swap or fix them",
                )

    # -- stability -------------------------------------------------------------------------

    def _stability(self) -> None:
        doc = self.doc("stability_policy")
        if doc is None:
            return
        n = "stability_policy"
        for bid, b in _members(doc, "temperature_bands"):
            lo, hi = _num(b.get("min_c")), _num(b.get("max_c"))
            if lo is not None and hi is not None and lo >= hi:
                self.add(
                    n,
                    ["temperature_bands", bid],
                    f"min_c {b.get('min_c')} is not below max_c {b.get('max_c')}; fix the band",
                )
        seen: dict[str, int] = {}
        for i, e in _entries(doc, "stability"):
            tube = _s(e.get("tube_type"))
            if tube is not None:
                if self.tube_types is not None and tube not in self.tube_types:
                    self.add(
                        n,
                        ["stability", i, "tube_type"],
                        f"tube type {tube!r} is not in {self.rel('test_catalogue')} "
                        f"tube_types (known: {_known(self.tube_types)}); fix the name",
                    )
                if tube in seen:
                    self.add(
                        n,
                        ["stability", i, "tube_type"],
                        f"tube type {tube} has two stability entries (also stability"
                        f"[{seen[tube]}]); keep one",
                    )
                else:
                    seen[tube] = i
            band = _s(e.get("temp_band"))
            if band is not None and self.bands is not None and band not in self.bands:
                self.add(
                    n,
                    ["stability", i, "temp_band"],
                    f"temperature band {band!r} is not in temperature_bands "
                    f"(known: {_known(self.bands)}); add it or fix the name",
                )
        if self.tube_types is not None:
            for tube in self.tube_types:
                if tube not in seen:
                    self.add(
                        n,
                        ["stability"],
                        f"tube type {tube} (from {self.rel('test_catalogue')}) has no "
                        f"stability entry; add {{tube_type: {tube}, max_age_s: ..., "
                        "temp_band: ...}",
                    )

    # -- acceptance ------------------------------------------------------------------------
    def _acceptance(self) -> None:
        doc = self.doc("acceptance_rules")
        if doc is None:
            return
        n = "acceptance_rules"
        seen: dict[str, int] = {}
        for i, r in _entries(doc, "rules"):
            rid = _s(r.get("rule_id"))
            if rid is not None:
                if rid in seen:
                    self.add(
                        n,
                        ["rules", i, "rule_id"],
                        f"rule {rid} is declared twice (also rules[{seen[rid]}]); "
                        "give every rule a unique id",
                    )
                else:
                    seen[rid] = i
            self._check_reason_code(
                n, ["rules", i, "reason_code"], r.get("reason_code"), f"rule {rid}"
            )
            if self.tube_types is None:
                continue
            for k, tube in _strings(r.get("tube_types")):
                if tube not in self.tube_types:
                    self.add(
                        n,
                        ["rules", i, "tube_types", k],
                        f"rule {rid} is limited to tube type {tube!r} which is not in "
                        f"{self.rel('test_catalogue')} tube_types "
                        f"(known: {_known(self.tube_types)}); fix the name",
                    )

    # -- reagents --------------------------------------------------------------------------

    def _reagents(self) -> None:
        doc = self.doc("reagent_policy")
        if doc is None:
            return
        n = "reagent_policy"
        if self.device_types is not None:
            analyzers = self._analyzer_types()
            for rid, r in _members(doc, "reagents"):
                at = _s(r.get("analyzer_type"))
                if at is not None and at not in analyzers:
                    what = (
                        f"is a device type of kind {self.device_types[at].get('kind')!r}"
                        if at in self.device_types
                        else f"is not in {self.rel('equipment_registry')} device_types"
                    )
                    self.add(
                        n,
                        ["reagents", rid, "analyzer_type"],
                        f"reagent {rid} names analyzer_type {at!r} which {what}; use an "
                        f"analyzer type ({_known(analyzers)})",
                    )
        inventory = doc.get("stores_inventory")
        if not isinstance(inventory, dict):
            return
        for sid, stock in inventory.items():
            if self.sites is not None and sid not in self.sites:
                self.add(
                    n,
                    ["stores_inventory", str(sid)],
                    f"stores inventory for site {sid!r} which is not in "
                    f"{self.rel('sites_policy')} (known: {_known(self.sites)}); fix the id",
                )
            if not isinstance(stock, dict) or self.reagents is None:
                continue
            for rid in stock:
                if rid not in self.reagents:
                    self.add(
                        n,
                        ["stores_inventory", str(sid), str(rid)],
                        f"stock of reagent {rid!r} which is not under reagents "
                        f"(known: {_known(self.reagents)}); fix the id",
                    )
