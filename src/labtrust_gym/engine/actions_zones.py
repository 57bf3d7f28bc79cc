"""Movement, doors, the door alarm and the kill switch."""

from __future__ import annotations

from typing import Any

from labtrust_gym.engine.base import Blocked, EngineBase, arg_str

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
        agent.from_zone = agent.zone
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
        self._emit("AGENT_ARRIVED")

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
