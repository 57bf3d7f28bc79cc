"""The base of every scripted role: permissions, movement, the action format."""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.scripted.view import INF, StepView

__all__ = ["RoleAgent", "act"]


def act(action_type: str, **args: Any) -> dict[str, Any]:
    """An action in the team's output format."""
    return {"action_type": action_type, "args": args, "token_refs": []}


class RoleAgent:
    """One engine agent driven by a role script.

    ``decide(view, agent_state)`` returns one action or None (NOOP). It is called only
    for agents that stand in a zone (an agent in transit cannot act).
    """

    #: Runners carry (tubes, reagent packs); other roles restock only where none can.
    is_runner = False

    def __init__(self, agent_id: str, role: Any, home: str, team: Any) -> None:
        self.aid = agent_id
        self.role = role
        self.home = home
        self.team = team
        # The role's actions, less those the team is told never to take (an ablation).
        self.actions = frozenset(role.actions) - frozenset(team.params["skip_actions"])
        self.kinds: frozenset[str] = frozenset(role.zone_kinds)
        self.types: frozenset[str] = frozenset(role.device_types)
        self.site: str = team.static.zone_site[home]

    def can(self, action: str) -> bool:
        return action in self.actions

    def zone_ok(self, v: StepView, zone: str) -> bool:
        return v.st.zone_kind[zone] in self.kinds

    def dist(self, v: StepView, a: str, b: str) -> float:
        """Travel time for this role (only zones it may enter, none frozen)."""
        if a == b:
            return 0.0
        if not self.zone_ok(v, b):
            return INF
        return v.st.paths.travel(a, b, self.kinds, v.frozen)

    def move_toward(self, v: StepView, here: str, zone: str) -> dict[str, Any] | None:
        if here == zone or not self.can("MOVE"):
            return None
        hop = v.team.router.next_hop(self, v, here, zone)
        return None if hop is None else act("MOVE", to_zone=hop)

    def go_home(self, v: StepView, here: str) -> dict[str, Any] | None:
        return self.move_toward(v, here, self.home)

    def close_door(self, v: StepView, a: Any) -> dict[str, Any] | None:
        """Close a door of this zone left open (a propped door trips the kill switch)."""
        if not self.can("CLOSE_DOOR"):
            return None
        after = float(v.params["door_close_after_s"])
        for did in v.st.world.zone_doors.get(a.zone, ()):
            door = v.e.doors[did]
            if door.open and v.now - door.opened_t >= after and v.claim("door:" + did):
                return act("CLOSE_DOOR", door_id=did)
        return None

    def idle_key(self, v: StepView, a: Any) -> tuple[Any, ...] | None:
        """Agents with equal keys decide alike in one step (same role, zone, post and
        empty hands; later agents only see more claims). Once one of them found nothing
        to do, the team skips the rest: idle agents cost almost nothing at scale.
        None: this agent must decide for itself."""
        if a.carrying or a.packs or self.aid in v.mem.restock.values():
            return None
        return (type(self), a.zone, self.home, self.site)

    def decide(self, v: StepView, a: Any) -> dict[str, Any] | None:  # pragma: no cover
        raise NotImplementedError
