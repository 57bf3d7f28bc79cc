"""``whca_router``: windowed cooperative reservations (WHCA*-style) for narrow passages,
shared over the bus."""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from typing import Any

from labtrust_gym.baselines.coordination.bus_dispatch import DeskDispatcher
from labtrust_gym.baselines.coordination.comms import TeamComms
from labtrust_gym.baselines.coordination.team_method import TeamMethod
from labtrust_gym.baselines.scripted.hooks import Dispatcher, Router, edge_key
from labtrust_gym.baselines.scripted.view import INF, StepView

__all__ = ["WHCARouting", "WHCARouter"]

Leg = tuple[tuple[str, str], int, int, str]  # edge, departure slot, arrival slot, origin


class WHCARouter(Router):
    """Windowed hierarchical cooperative A* over (zone, time slot), reservations by message.

    Time is cut into slots of one step. Each capacitated passage has a reservation table
    over the next ``window`` slots: agents in transit hold their passage until they
    arrive (seen on the lab's passage signals), and every planned route holds the
    passages it will use. Routes are shared by RESERVE messages on the site's channel
    (sent when a route changes; an empty one releases it): an agent plans against the
    reservations its board received, minus its own, plus the moves into a passage its
    signal shows this step. Asking for its next hop it runs A* in (zone, slot) space
    (moves take ceil(travel / step) slots, waiting in a zone is allowed, a move is legal
    only if the passage has room in every slot it occupies); beyond the window the
    heuristic is the shortest travel time. It then keeps its route inside the window and
    takes the first move if it starts now. Routes planned in the same step by agents who
    have not heard of each other yet may overlap in later slots; they re-plan on the
    next step, when the reservations have arrived. Uncapacitated passages are free: in a
    world without narrow passages this is the shortest-path router.
    """

    def __init__(self, comms: TeamComms, window: int = 8) -> None:
        self.comms = comms
        self.window = max(1, window)

    def reset(self, team: Any, engine: Any, seed: int) -> None:
        super().reset(team, engine, seed)
        self.cap: dict[tuple[str, str], int] = dict(engine.world.edge_capacity)
        self.legs: dict[str, list[Leg]] = {}  # each agent's own route (its memory)
        self.sent: dict[str, list[list[Any]]] = {}
        self.planned = 0
        self.waits = 0
        self.reserves = 0

    def begin_step(self, v: StepView) -> None:
        super().begin_step(v)
        self.dt = max(v.dt, 1e-9)
        self.slot = int(round(v.now / self.dt))
        if not self.cap:
            return
        agents = v.e.agents
        for aid in list(self.legs):
            legs = self.legs[aid]
            a = agents.get(aid)
            stale = bool(legs) and legs[0][1] < self.slot and a is not None and a.zone == legs[0][3]
            if stale or not legs or legs[-1][2] <= self.slot:
                del self.legs[aid]
        # Agents in transit hold their passage until they arrive (the passage signals
        # show them); their RESERVEs are no longer counted.
        self.transit: dict[tuple[tuple[str, str], int], int] = defaultdict(int)
        self.moving: set[str] = set()
        for m in self.team.members:
            a = agents.get(m.aid)
            if a is None or a.zone is not None or not a.transit_to:
                continue
            self.moving.add(m.aid)
            key = edge_key(a.from_zone, a.transit_to)
            if key in self.cap:
                for s in range(self.slot + 1, self.slot + self._slots(a.arrive_t - v.now)):
                    self.transit[(key, s)] += 1
        self._held: dict[int, dict[tuple[tuple[str, str], int], int]] = {}

    def _slots(self, seconds: float) -> int:
        return max(1, math.ceil(seconds / self.dt - 1e-9))

    def _room(
        self, v: StepView, here: str, nb: str, key: tuple[str, str], dep: int, arr: int
    ) -> bool:
        cap = self.cap[key]
        res, held = self._res, self._skip
        for s in range(dep, min(arr, self.slot + self.window)):
            if s == self.slot:
                free = v.e.edge_free(here, nb) - self.used.get(key, 0)
                if free <= 0:
                    return False
            elif (
                res.get((key, s), 0) - held.get((key, s), 0) + self.transit.get((key, s), 0) >= cap
            ):
                return False
        return True

    def _not_counted(self, board: Any, aid: str) -> dict[tuple[tuple[str, str], int], int]:
        """Reservations of ``board`` not to count for ``aid``: its own, and those of
        agents now in transit (their passage is held physically)."""
        base = self._held.get(id(board))
        if base is None:
            base = self._held[id(board)] = defaultdict(int)
            for owner, legs in board.legs.items():
                if owner in self.moving:
                    for a, b, dep, arr in legs:
                        for s in range(dep, arr):
                            base[((a, b), s)] += 1
        own = board.legs.get(aid)
        if not own:
            return base
        out = defaultdict(int, base)
        for a, b, dep, arr in own:
            for s in range(dep, arr):
                out[((a, b), s)] += 1
        return out

    def next_hop(self, m: Any, v: StepView, here: str, target: str) -> str | None:
        paths = v.st.paths
        first = paths.next_hop(here, target, m.kinds, v.frozen)
        if first is None or not self.cap:
            return first
        board = self.comms.board_of.get(m.aid)
        if board is not None:
            self._res, self._skip = board.res, self._not_counted(board, m.aid)
        else:
            self._res, self._skip = {}, {}
        self.legs.pop(m.aid, None)
        legs = self._astar(m, v, here, target)
        self.planned += 1
        if legs:
            self.legs[m.aid] = legs
        self._announce(m.aid)
        if not legs:
            self.waits += 1
            return None
        key, dep, _, _ = legs[0]
        if dep != self.slot:
            self.waits += 1
            return None
        self.take(key[0], key[1])
        return key[1] if key[0] == here else key[0]

    def _announce(self, aid: str) -> None:
        """RESERVE the agent's future passage legs if they differ from what it last sent
        (a leg it enters now needs no message: the passage signal shows it)."""
        slot = self.slot
        rows = [[k[0], k[1], dep, arr] for k, dep, arr, _ in self.legs.get(aid, ()) if dep > slot]
        if rows == [r for r in self.sent.get(aid, ()) if r[2] > slot]:
            return
        self.sent[aid] = rows
        self.reserves += 1
        self.comms.publish(aid, "RESERVE", {"legs": rows})

    def telemetry(self) -> dict[str, Any]:
        return {
            "routes_planned": self.planned,
            "route_waits": self.waits,
            "reservations_sent": self.reserves,
        }

    def _astar(self, m: Any, v: StepView, here: str, target: str) -> list[Leg]:
        paths, adj = v.st.paths, v.st.world.adjacency
        kinds, frozen = m.kinds, v.frozen
        end = self.slot + self.window
        start = (here, self.slot)
        h0 = paths.travel(here, target, kinds, frozen) / self.dt
        heap: list[tuple[float, int, str, int]] = [(h0, 0, here, self.slot)]
        parent: dict[tuple[str, int], tuple[tuple[str, int], Leg | None]] = {start: (start, None)}
        seq = 0
        goal: tuple[str, int] | None = None
        while heap:
            f, _, z, s = heapq.heappop(heap)
            if z == target or s >= end:
                goal = (z, s)
                break
            succ: list[tuple[str, int, Leg | None]] = [(z, s + 1, None)]  # wait
            for nb, travel in adj[z].items():
                if nb in frozen or v.st.zone_kind[nb] not in kinds:
                    continue
                if nb != target and paths.travel(nb, target, kinds, frozen) == INF:
                    continue
                key = edge_key(z, nb)
                arr = s + self._slots(travel)
                if key in self.cap and not self._room(v, z, nb, key, s, arr):
                    continue
                succ.append((nb, arr, (key, s, arr, z)))
            for nz, ns, leg in succ:
                node = (nz, ns)
                if node in parent:
                    continue
                parent[node] = ((z, s), leg)
                h = paths.travel(nz, target, kinds, frozen) / self.dt
                seq += 1
                heapq.heappush(heap, (ns - self.slot + h, seq, nz, ns))
        if goal is None or goal == start:
            return []
        legs: list[Leg] = []
        node = goal
        while node != start:
            prev, leg = parent[node]
            if leg is not None:
                legs.append(leg)
            node = prev
        legs.reverse()
        return [leg for leg in legs if leg[1] < end]


class WHCARouting(TeamMethod):
    """Routing kernel with windowed cooperative reservations (WHCA*-style).

    Description: the team's dispatch (each site's desk, as ``scripted_team``) decides
    where each agent goes; this method decides how it gets there through narrow
    passages. Every move is planned by space-time A* against a reservation table of
    passage capacity over the next ``window`` steps, built from the RESERVE messages the
    agent received (agents in transit hold their passage), so agents queue for a passage
    in order instead of colliding in it, and a route that would be stuck behind a full
    passage waits or detours.
    Agents: every generated worker, plus the desks. Observation: the lab (read-only) and
    the messages received. Actions: engine actions in the contract form. Messages:
    RESERVE, ASSIGN, CLAIM, RELEASE, HEARTBEAT, ALERT. Telemetry: routes planned, waits,
    reservations sent.
    """

    method_id = "whca_router"

    def make_dispatcher(self) -> Dispatcher:
        return DeskDispatcher(self.team_comms(), self.order_wait_s)

    def make_router(self) -> Router:
        return WHCARouter(self.team_comms(), int(self.params.get("window", 8)))
