"""Cross-checks of the lab's layout: zones and doors, sites and routes, equipment."""

from __future__ import annotations

from collections import deque
from typing import Any

from labtrust_gym.policy.validate._common import (
    _entries,
    _fmt_num,
    _known,
    _num,
    _s,
    _strings,
)
from labtrust_gym.policy.validate.cross_base import CheckerBase

__all__ = ["LayoutChecks"]


class LayoutChecks(CheckerBase):
    """Zones, sites, equipment."""

    # -- zones -----------------------------------------------------------------------------

    def _zone_layout(self) -> None:
        doc = self.doc("zone_layout")
        if doc is None:
            return
        n = "zone_layout"
        sites_rel = self.rel("sites_policy")
        first: dict[str, int] = {}
        for i, z in _entries(doc, "zones"):
            zid = _s(z.get("zone_id"))
            if zid is not None:
                if zid in first:
                    self.add(
                        n,
                        ["zones", i, "zone_id"],
                        f"zone {zid} is declared twice (also zones[{first[zid]}]); "
                        "give every zone a unique id",
                    )
                else:
                    first[zid] = i
            sid = _s(z.get("site_id"))
            if sid is not None and self.sites is not None and sid not in self.sites:
                self.add(
                    n,
                    ["zones", i, "site_id"],
                    f"zone {zid} names site {sid!r} which is not in {sites_rel} "
                    f"(known: {_known(self.sites)}); add the site or fix the site_id",
                )
        zones = self.zones or {}
        known_zones = _known(zones)

        # edges
        seen_edges: dict[frozenset[str], int] = {}
        adjacency: dict[str, list[str]] = {}
        doors_by_id: dict[str, tuple[int, dict[str, Any]]] = {}
        for j, d in _entries(doc, "doors"):
            did = _s(d.get("door_id"))
            if did is None:
                continue
            if did in doors_by_id:
                self.add(
                    n,
                    ["doors", j, "door_id"],
                    f"door {did} is declared twice (also doors[{doors_by_id[did][0]}]); "
                    "give every door a unique id",
                )
            else:
                doors_by_id[did] = (j, d)
        used_doors: set[str] = set()
        for i, e in _entries(doc, "edges"):
            a, b = _s(e.get("a")), _s(e.get("b"))
            for end, zid in (("a", a), ("b", b)):
                if zid is not None and zid not in zones:
                    self.add(
                        n,
                        ["edges", i, end],
                        f"edge endpoint {zid!r} is not a zone (known: {known_zones}); "
                        "declare the zone under zones or fix the id",
                    )
            if a is None or b is None:
                continue
            if a == b:
                self.add(
                    n,
                    ["edges", i, "b"],
                    f"edge joins zone {a} to itself; an edge must join two different zones",
                )
                continue
            key = frozenset((a, b))
            if key in seen_edges:
                self.add(
                    n,
                    ["edges", i],
                    f"duplicate edge {a} - {b} (also edges[{seen_edges[key]}]; edges are "
                    "undirected); remove one",
                )
            else:
                seen_edges[key] = i
            if a in zones and b in zones:
                adjacency.setdefault(a, []).append(b)
                adjacency.setdefault(b, []).append(a)
                sa, sb = self._zone_site(a), self._zone_site(b)
                if sa is not None and sb is not None and sa != sb:
                    self.add(
                        n,
                        ["edges", i],
                        f"edge joins {a} ({sa}) and {b} ({sb}); zones of different sites "
                        f"are linked only by transport routes in {sites_rel}",
                    )
            did = _s(e.get("door_id"))
            if did is None:
                continue
            used_doors.add(did)
            if did not in doors_by_id:
                self.add(
                    n,
                    ["edges", i, "door_id"],
                    f"edge {a} - {b} uses door {did!r} which is not declared under doors "
                    f"(known: {_known(doors_by_id)}); declare it or fix the id",
                )
                continue
            door_zones = doors_by_id[did][1].get("zones")
            if isinstance(door_zones, list) and set(map(str, door_zones)) != {a, b}:
                self.add(
                    n,
                    ["edges", i, "door_id"],
                    f"door {did} connects {_known(door_zones)} but this edge joins {a} and "
                    f"{b}; make the door's zones match the edge",
                )

        # doors
        for j, d in _entries(doc, "doors"):
            did = _s(d.get("door_id"))
            dz = d.get("zones")
            for k, zid in _strings(dz):
                if zid not in zones:
                    self.add(
                        n,
                        ["doors", j, "zones", k],
                        f"door {did} names zone {zid!r} which is not declared "
                        f"(known: {known_zones}); fix the id",
                    )
            if isinstance(dz, list) and len(dz) == 2 and dz[0] == dz[1]:
                self.add(
                    n,
                    ["doors", j, "zones"],
                    f"door {did} lists zone {dz[0]} twice; a door joins two different zones",
                )
            if did is not None and did not in used_doors and doors_by_id.get(did, (j,))[0] == j:
                self.add(
                    n,
                    ["doors", j],
                    f"door {did} is declared but no edge uses it; set door_id: {did} on the "
                    "edge between its zones, or remove the door",
                )
            tt = _s(d.get("token_type"))
            kind = d.get("kind")
            if kind == "restricted" and tt is not None and self.token_types is not None:
                if tt not in self.token_types:
                    self.add(
                        n,
                        ["doors", j, "token_type"],
                        f"restricted door {did} needs token type {tt!r} which is not in "
                        f"{self.rel('token_registry')} (known: {_known(self.token_types)}); "
                        "add the token type or fix the name",
                    )
            elif kind == "standard" and tt is not None:
                self.add(
                    n,
                    ["doors", j, "token_type"],
                    f"standard door {did} names token_type {tt}; only restricted doors take "
                    "a token: set kind: restricted or remove token_type",
                )

        # device placement
        placed: dict[str, int] = {}
        for i, p in _entries(doc, "device_placement"):
            dev = _s(p.get("device_id"))
            zid = _s(p.get("zone_id"))
            if dev is not None:
                if self.devices is not None and dev not in self.devices:
                    self.add(
                        n,
                        ["device_placement", i, "device_id"],
                        f"device {dev!r} is not in {self.rel('equipment_registry')} devices "
                        f"(known: {_known(self.devices)}); register it or fix the id",
                    )
                if dev in placed:
                    self.add(
                        n,
                        ["device_placement", i, "device_id"],
                        f"device {dev} is placed twice (also device_placement[{placed[dev]}]); "
                        "a device stands in exactly one zone",
                    )
                else:
                    placed[dev] = i
            if zid is not None and zid not in zones:
                self.add(
                    n,
                    ["device_placement", i, "zone_id"],
                    f"device {dev} is placed in zone {zid!r} which is not declared "
                    f"(known: {known_zones}); fix the zone id",
                )
        self.placed = placed

        # connectivity: every zone reachable from its site's reception zone
        if self.sites is not None:
            reached: set[str] = set()
            for sid, site in self.sites.items():
                start = _s(site.get("reception_zone"))
                if start is None or start not in zones or self._zone_site(start) != sid:
                    continue
                queue = deque([start])
                reached.add(start)
                while queue:
                    cur = queue.popleft()
                    for nxt in adjacency.get(cur, ()):
                        if nxt not in reached and self._zone_site(nxt) == sid:
                            reached.add(nxt)
                            queue.append(nxt)
            checked_sites = {
                sid
                for sid, site in self.sites.items()
                if (r := _s(site.get("reception_zone"))) in zones and self._zone_site(r) == sid
            }
            for i, z in _entries(doc, "zones"):
                zid = _s(z.get("zone_id"))
                sid = _s(z.get("site_id"))
                if zid is not None and sid in checked_sites and zid not in reached:
                    self.add(
                        n,
                        ["zones", i],
                        f"zone {zid} cannot be reached from the reception zone of {sid} "
                        "over edges; add an edge joining it to the rest of the site",
                    )

    # -- sites -----------------------------------------------------------------------------

    def _sites(self) -> None:
        doc = self.doc("sites_policy")
        if doc is None:
            return
        n = "sites_policy"
        zl_rel = self.rel("zone_layout")
        first: dict[str, int] = {}
        for i, s in _entries(doc, "sites"):
            sid = _s(s.get("site_id"))
            if sid is not None:
                if sid in first:
                    self.add(
                        n,
                        ["sites", i, "site_id"],
                        f"site {sid} is declared twice (also sites[{first[sid]}]); "
                        "give every site a unique id",
                    )
                else:
                    first[sid] = i
            if self.zones is None:
                continue
            for field, kind in (("reception_zone", "reception"), ("dispatch_zone", "dispatch")):
                zid = _s(s.get(field))
                if zid is None:
                    continue
                zone = self.zones.get(zid)
                if zone is None:
                    self.add(
                        n,
                        ["sites", i, field],
                        f"{field} {zid!r} of {sid} is not a zone in {zl_rel} "
                        f"(known: {_known(self.zones)}); declare it or fix the id",
                    )
                    continue
                zsite = _s(zone.get("site_id"))
                if zsite != sid:
                    self.add(
                        n,
                        ["sites", i, field],
                        f"{field} {zid} belongs to site {zsite}, not {sid}; name a zone of "
                        f"{sid} or fix the zone's site_id in {zl_rel}",
                    )
                if zone.get("kind") != kind:
                    self.add(
                        n,
                        ["sites", i, field],
                        f"{field} {zid} has kind {zone.get('kind')!r}; it must be a zone of "
                        f"kind {kind}",
                    )
        route_ids: dict[str, int] = {}
        for i, r in _entries(doc, "routes"):
            rid = _s(r.get("route_id"))
            if rid is not None:
                if rid in route_ids:
                    self.add(
                        n,
                        ["routes", i, "route_id"],
                        f"route {rid} is declared twice (also routes[{route_ids[rid]}]); "
                        "give every route a unique id",
                    )
                else:
                    route_ids[rid] = i
            frm, to = _s(r.get("from_site")), _s(r.get("to_site"))
            for field, sid in (("from_site", frm), ("to_site", to)):
                if sid is not None and sid not in first:
                    self.add(
                        n,
                        ["routes", i, field],
                        f"route {rid} names site {sid!r} which is not declared under sites "
                        f"(known: {_known(first)}); fix the id",
                    )
            if frm is not None and frm == to:
                self.add(
                    n,
                    ["routes", i, "to_site"],
                    f"route {rid} goes from {frm} to itself; from_site and to_site must differ",
                )
            band = _s(r.get("temp_band"))
            if band is not None and self.bands is not None:
                if band not in self.bands:
                    self.add(
                        n,
                        ["routes", i, "temp_band"],
                        f"route {rid} uses temperature band {band!r} which is not in "
                        f"{self.rel('stability_policy')} temperature_bands "
                        f"(known: {_known(self.bands)}); add it or fix the name",
                    )
                else:
                    lo = _num(self.bands[band].get("min_c"))
                    hi = _num(self.bands[band].get("max_c"))
                    t0 = _num(r.get("start_temp_c"))
                    if lo is not None and hi is not None and t0 is not None and not lo <= t0 <= hi:
                        self.add(
                            n,
                            ["routes", i, "start_temp_c"],
                            f"route {rid} starts at {t0} C, outside its band {band} "
                            f"[{lo}, {hi}] C; every consignment would be an excursion",
                        )
            ts, mx = _num(r.get("transit_s")), _num(r.get("max_transit_s"))
            if ts is not None and mx is not None and mx < ts:
                self.add(
                    n,
                    ["routes", i, "max_transit_s"],
                    f"route {rid} has max_transit_s {_fmt_num(mx)} below its nominal "
                    f"transit_s {_fmt_num(ts)}; every delivery would be late",
                )

    # -- equipment -------------------------------------------------------------------------

    def _equipment(self) -> None:
        doc = self.doc("equipment_registry")
        if doc is None:
            return
        n = "equipment_registry"
        types = self.device_types or {}
        first: dict[str, int] = {}
        placed = self.placed
        for i, d in _entries(doc, "devices"):
            did = _s(d.get("device_id"))
            if did is not None:
                if did in first:
                    self.add(
                        n,
                        ["devices", i, "device_id"],
                        f"device {did} is declared twice (also devices[{first[did]}]); "
                        "give every device a unique id",
                    )
                    continue
                first[did] = i
            dt = _s(d.get("device_type"))
            if dt is not None and dt not in types:
                self.add(
                    n,
                    ["devices", i, "device_type"],
                    f"device {did} uses device_type {dt!r} which is not in device_types "
                    f"(known: {_known(types)}); add it or fix the type",
                )
            if did is not None and placed is not None and did not in placed:
                self.add(
                    n,
                    ["devices", i],
                    f"device {did} is not placed in any zone; add {{device_id: {did}, "
                    f"zone_id: ...}} to device_placement in {self.rel('zone_layout')}",
                )
        for i, w in _entries(doc, "maintenance_windows"):
            did = _s(w.get("device_id"))
            if did is not None and did not in first:
                self.add(
                    n,
                    ["maintenance_windows", i, "device_id"],
                    f"maintenance window names device {did!r} which is not under devices "
                    f"(known: {_known(first)}); fix the id",
                )
        if self.panels is None:
            return
        for tname, t in types.items():
            service = t.get("service_s")
            if not isinstance(service, dict):
                continue
            for key in service:
                if key == "default" or not isinstance(key, str):
                    continue
                panel = self.panels.get(key)
                if panel is None:
                    self.add(
                        n,
                        ["device_types", tname, "service_s", key],
                        f"service time for {key!r}, which is not a panel in "
                        f"{self.rel('test_catalogue')} (known: {_known(self.panels)}); "
                        "use a panel id or `default`",
                    )
                elif (
                    panel.get("analyzer_type") != tname
                    and panel.get("analyzer_type") in self._analyzer_types()
                ):
                    self.add(
                        n,
                        ["device_types", tname, "service_s", key],
                        f"panel {key} runs on {panel.get('analyzer_type')}, not {tname}; "
                        f"move this service time to device type {panel.get('analyzer_type')}",
                    )
