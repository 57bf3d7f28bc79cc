"""Movement, corridor capacity, doors, the door alarm and the kill switch.

An edge of the zone layout may carry a ``capacity``: the most agents in transit along it
at once, both directions together. ``edge_load`` (keyed by the sorted zone pair) counts the
agents in transit on each edge: +1 when a MOVE starts, -1 on AGENT_ARRIVE; an edge with
nobody on it has no entry. A MOVE onto a full edge is BLOCKED with ``EDGE_CONGESTED``
(checked after RBAC, frozen zones and doors).
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.engine.base import Blocked, EngineBase, arg_str
from labtrust_gym.engine.world import edge_key
from labtrust_gym.errors import UnknownIdError

__all__ = ["ZoneActions"]


class ZoneActions(EngineBase):
    def _act_move(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        to = arg_str(args, "to_zone")
        w = self.world
        if to not in w.zones:
            raise Blocked("ZONE_UNKNOWN")
        if to == agent.zone:
            raise Blocked("ZONE_SAME")
        travel = w.adjacency[agent.zone].get(to)
        if travel is None:
            raise Blocked("ZONE_NOT_ADJACENT")
        if not self._zone_allowed(agent, to):
            raise Blocked("RBAC_ZONE_DENIED")
        if to in self.frozen_zones:
            raise Blocked("ZONE_FROZEN")
        door_id = w.edge_door.get((agent.zone, to))
        if door_id is not None:
            door = self.doors[door_id]
            if door.kind == "restricted" and not door.open:
                raise Blocked("DOOR_CLOSED")
        here = agent.zone
        key = (here, to) if here <= to else (to, here)
        load = self.edge_load
        n = load.get(key, 0)
        cap = w.edge_capacity.get(key)
        if cap is not None and n >= cap:
            raise Blocked("EDGE_CONGESTED")
        load[key] = n + 1
        agent.from_zone = here
        agent.zone = None
        agent.transit_to = to
        agent.arrive_t = self.now + travel
        self._schedule(agent.arrive_t, "AGENT_ARRIVE", (agent.agent_id, to))
        self._emit("AGENT_MOVE_STARTED")

    def _on_agent_arrive(self, agent_id: str, zone: str) -> None:
        agent = self.agents[agent_id]
        if agent.transit_to != zone:
            return
        agent.zone = zone
        agent.transit_to = None
        src = agent.from_zone
        key = (src, zone) if src <= zone else (zone, src)
        load = self.edge_load
        n = load.get(key, 0) - 1
        if n > 0:
            load[key] = n
        else:
            load.pop(key, None)
        self._emit("AGENT_ARRIVED")

    def edge_free(self, a: str, b: str) -> int | None:
        """Agents that may still enter the edge ``a - b`` now (None: unlimited). Read-only.

        Raises UnknownIdError if ``a`` and ``b`` are not adjacent zones.
        """
        w = self.world
        if b not in w.adjacency.get(a, ()):
            raise UnknownIdError(f"no edge {a!r} - {b!r} in the zone layout")
        key = edge_key(a, b)
        cap = w.edge_capacity.get(key)
        if cap is None:
            return None
        return max(0, cap - self.edge_load.get(key, 0))

    def _door_for(self, agent: Any, args: dict[str, Any]) -> Any:
        did = arg_str(args, "door_id")
        door = self.doors.get(did)
        if door is None:
            raise Blocked("DOOR_UNKNOWN")
        if agent.zone not in door.zones:
            raise Blocked("DOOR_NOT_COLOCATED")
        return door

    def _act_open_door(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        door = self._door_for(agent, args)
        if door.open:
            raise Blocked("DOOR_ALREADY_OPEN")
        other = door.zones[1] if agent.zone == door.zones[0] else door.zones[0]
        if other in self.frozen_zones or agent.zone in self.frozen_zones:
            raise Blocked("ZONE_FROZEN")
        if door.kind == "restricted":
            self._require_token(agent, "OPEN_DOOR", door.token_type, door.door_id, other)
        door.open = True
        door.opened_t = self.now
        self._schedule(self.now + door.max_open_s, "DOOR_CHECK", (door.door_id, self.now))
        self._emit("DOOR_OPENED")

    def _act_close_door(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        door = self._door_for(agent, args)
        if not door.open:
            raise Blocked("DOOR_ALREADY_CLOSED")
        door.open = False
        self._emit("DOOR_CLOSED")

    def _on_door_check(self, door_id: str, opened_t: float) -> None:
        door = self.doors[door_id]
        if not door.open or door.opened_t != opened_t or door.alarmed:
            return
        door.alarmed = True
        self._emit("DOOR_ALARM")
        self._emit("KILL_SWITCH_ENGAGED")
        for z in door.zones:
            if z not in self.frozen_zones:
                self.frozen_zones.add(z)
                self._emit("ZONE_FROZEN")
        self._touch("door_alarms", door_id)

    def _act_clear_freeze(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        zone = arg_str(args, "zone_id")
        if zone not in self.world.zones:
            raise Blocked("ZONE_UNKNOWN")
        if zone not in self.frozen_zones:
            raise Blocked("ZONE_NOT_FROZEN")
        for did in self.world.zone_doors.get(zone, ()):
            if self.doors[did].open:
                raise Blocked("DOOR_STILL_OPEN")
        self.frozen_zones.discard(zone)
        for did in self.world.zone_doors.get(zone, ()):
            self.doors[did].alarmed = False
        self._emit("ZONE_UNFROZEN")
