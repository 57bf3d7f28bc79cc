"""Inter-site transport: consignments with chain of custody and temperature control."""

from __future__ import annotations

import math
from typing import Any

from labtrust_gym.engine.base import Blocked, EngineBase, arg_str, arg_str_list
from labtrust_gym.engine.state import Consignment

__all__ = ["TransportActions"]


class TransportActions(EngineBase):
    def _act_dispatch_transport(
        self, agent: Any, args: dict[str, Any], event: dict[str, Any]
    ) -> None:
        cid = arg_str(args, "consignment_id")
        rid = arg_str(args, "route_id")
        sids = arg_str_list(args, "specimen_ids")
        if cid in self.consignments:
            raise Blocked("TRANSPORT_DUPLICATE_ID")
        route = self.world.routes.get(rid)
        if route is None:
            raise Blocked("TRANSPORT_UNKNOWN_ROUTE")
        if agent.zone != self.world.sites[route["from_site"]]["dispatch_zone"]:
            raise Blocked("TRANSPORT_NOT_AT_ORIGIN")
        if not sids:
            raise Blocked("TRANSPORT_EMPTY")
        if len(set(sids)) != len(sids):
            raise Blocked("ARGS_INVALID")
        specs = []
        for sid in sids:
            s = self.specimens.get(sid)
            if s is None:
                raise Blocked("SPEC_UNKNOWN")
            self._reachable(agent, s)
            if s.status not in ("ARRIVED", "ACCEPTED"):
                raise Blocked("SPEC_NOT_READY")
            specs.append(s)
        # -- commit --
        rng = self.rng["transport"]
        transit = float(route["transit_s"])
        if self.timing_mode == "simulated":
            j = float(route.get("transit_jitter_s", 0.0))
            transit = max(1.0, transit + float(rng.uniform(-j, j)))
        n = max(1, math.ceil(transit / 60.0))
        temp = float(route["start_temp_c"])
        tmin = tmax = temp
        for step in rng.normal(0.0, float(route["drift_sd_c"]), n):
            temp += float(step)
            tmin = min(tmin, temp)
            tmax = max(tmax, temp)
        c = Consignment(
            cid,
            rid,
            list(sids),
            self.now,
            self.now + transit,
            "IN_TRANSIT",
            round(tmin, 3),
            round(tmax, 3),
        )
        for s in specs:
            self._take_from_agent_or_zone(agent, s)
            c.prior_status[s.specimen_id] = s.status
            s.status = "IN_TRANSPORT"
            s.loc_kind = "consignment"
            s.loc_id = cid
            self._touch("specimens", s.specimen_id)
        c.custody.append(
            {
                "step": "DISPATCH",
                "agent_id": agent.agent_id,
                "key_id": event.get("key_id"),
                "t_s": self.now,
            }
        )
        self.consignments[cid] = c
        self._schedule(c.eta, "TRANSPORT_ARRIVE", (cid,))
        self._emit("TRANSPORT_DISPATCHED")

    def _on_transport_arrive(self, cid: str) -> None:
        c = self.consignments[cid]
        if c.status == "IN_TRANSIT":
            c.status = "ARRIVED"
            self._emit("TRANSPORT_ARRIVED")

    def _on_temp_shock(self, item: dict[str, Any]) -> None:
        delta = float(item.get("delta_c", 0.0))
        for c in self.consignments.values():
            if c.status == "IN_TRANSIT" and c.route_id == item.get("route_id"):
                if delta >= 0:
                    c.temp_max = round(c.temp_max + delta, 3)
                else:
                    c.temp_min = round(c.temp_min + delta, 3)

    def _act_receive_transport(
        self, agent: Any, args: dict[str, Any], event: dict[str, Any]
    ) -> None:
        cid = arg_str(args, "consignment_id")
        c = self.consignments.get(cid)
        if c is None:
            raise Blocked("TRANSPORT_UNKNOWN")
        if c.status == "RECEIVED":
            raise Blocked("TRANSPORT_ALREADY_RECEIVED")
        if c.status != "ARRIVED":
            raise Blocked("TRANSPORT_NOT_ARRIVED")
        route = self.world.routes[c.route_id]
        if agent.zone != self.world.sites[route["to_site"]]["dispatch_zone"]:
            raise Blocked("TRANSPORT_NOT_AT_DESTINATION")
        band = self.world.temp_bands[route["temp_band"]]
        excursion = c.temp_min < band["min_c"] or c.temp_max > band["max_c"]
        for sid in c.specimen_ids:
            s = self.specimens[sid]
            s.loc_kind = "zone"
            s.loc_id = agent.zone
            s.site_id = route["to_site"]
            if excursion:
                s.status = "REJECTED"
                s.reject_reason = "SPEC_TEMP_EXCURSION"
            else:
                s.status = c.prior_status[sid]
            self._touch("specimens", sid)
        c.status = "RECEIVED"
        c.received_t = self.now
        c.custody.append(
            {
                "step": "RECEIVE",
                "agent_id": agent.agent_id,
                "key_id": event.get("key_id"),
                "t_s": self.now,
            }
        )
        self.step_ctx["received"] = cid
        self._emit("TRANSPORT_RECEIVED")
        if excursion:
            self._emit("TEMP_EXCURSION_DETECTED")
            self._emit("SPECIMEN_REJECTED")
