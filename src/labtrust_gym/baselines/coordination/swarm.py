"""``swarm_stigmergy``: reactive runners following work marks shared over the bus."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from labtrust_gym.baselines.coordination.bus_dispatch import BusDispatcher
from labtrust_gym.baselines.coordination.team_method import TeamMethod
from labtrust_gym.baselines.scripted.hooks import ConventionRouter, Dispatcher, Router
from labtrust_gym.baselines.scripted.view import Plan, StepView
from labtrust_gym.rng import stream

__all__ = ["SwarmStigmergy", "StigmergyDispatcher"]


class StigmergyDispatcher(BusDispatcher):
    """A work field over zones; runners climb its gradient and mark where they go.

    The field lives on the lab's digital signage, which every part of the team computes
    alike from what it sees: every step each zone's field evaporates by ``evaporation``,
    gains the weight of the work lying there (``weights`` per priority for tubes to carry
    away; consignments at a dock count as STAT-weighted loads) and exchanges ``diffusion``
    of itself with its neighbours, so work is smelled from afar. The *marks* are what
    runners add to it, and they are messages: a free runner with nothing to pick up here
    moves to the neighbour with the strongest field if it exceeds its personal response
    threshold (one of eight levels between ``threshold``, drawn once per episode from the
    seed) and marks that zone by a MARK of ``footprint`` on its site's channel, so the
    next runners spread elsewhere. A runner sees the marks that reached it before it
    decides (each board keeps its own field): delayed, lost or partitioned marks make
    runners herd. Runners never learn
    each other's plans; co-located runners split the tubes by the ownership convention.
    """

    runner_beacons = 1

    def __init__(
        self,
        comms: Any,
        evaporation: float = 0.3,
        diffusion: float = 0.25,
        footprint: float = 4.0,
        threshold: tuple[float, float] = (0.2, 1.0),
        weights: dict[str, float] | None = None,
    ) -> None:
        super().__init__(comms, 0)
        self.evaporation = evaporation
        self.diffusion = diffusion
        self.footprint = footprint
        self.threshold = threshold
        self.weights = weights or {"STAT": 8.0, "URGENT": 3.0, "ROUTINE": 1.0}

    def reset(self, team: Any, engine: Any, seed: int) -> None:
        super().reset(team, engine, seed)
        rng = stream(seed, "policy")
        lo, hi = self.threshold
        # Eight threshold levels: agents of one level and place behave alike, so the team
        # can skip idle look-alikes (see RoleAgent.idle_key).
        self.theta = {m.aid: lo + (hi - lo) * int(rng.integers(8)) / 7.0 for m in team.runners}
        self.fields: dict[int, dict[str, float]] = {
            id(b): defaultdict(float) for b in self.comms.boards
        }
        self.adj = engine.world.adjacency
        self.site_of_zone = team.static.zone_site
        self.gradient_moves = 0
        self.marks = 0

    def _apply_marks(self, board: Any) -> dict[str, float]:
        """The board's field with the MARKs that reached it since it last looked."""
        f = self.fields[id(board)]
        for msg in board.read("MARK", "field"):
            z = msg.payload.get("zone")
            if isinstance(z, str):
                f[z] -= float(msg.payload.get("amount", 0.0))
        return f

    def begin_step(self, v: StepView) -> None:
        super().begin_step(v)
        deposit: dict[str, float] = defaultdict(float)
        w = self.weights
        for zone in v.lying:
            for s, _ in v.zone_work(zone).movable:
                deposit[zone] += w.get(s.priority, 1.0)
        for dock, cons in v.cons_arrived.items():
            deposit[dock] += w["STAT"] * len(cons)
        keep = 1.0 - self.evaporation
        d = self.diffusion
        for board in self.comms.boards:
            f = self._apply_marks(board)  # marks of the last step, then the step's physics
            site = board.site
            zones = set(f) | {z for z in deposit if self.site_of_zone[z] == site}
            level = {z: f.get(z, 0.0) * keep + deposit.get(z, 0.0) for z in zones}
            new: dict[str, float] = defaultdict(float)
            for z, x in sorted(level.items()):
                if x <= 1e-6:
                    continue
                nbs = self.adj.get(z, {})
                share = d * x / len(nbs) if nbs else 0.0
                new[z] += x - share * len(nbs)
                for nb in nbs:
                    new[nb] += share
            self.fields[id(board)] = new

    def idle_extra(self, v: StepView, aid: str) -> Any:
        return (id(self.comms.board_of[aid]), self.theta.get(aid))

    def trip(self, runner: Any, v: StepView, a: Any, z: str) -> Plan | None:
        field = self._apply_marks(self.comms.board_of[runner.aid])
        best: tuple[float, str] | None = None
        for nb in self.adj.get(z, {}):
            if nb in v.frozen or not runner.zone_ok(v, nb):
                continue
            x = field.get(nb, 0.0)
            if best is None or (x, nb) > best:
                best = (x, nb)
        here = field.get(z, 0.0)
        if best is None or best[0] < self.theta.get(runner.aid, 0.5) or best[0] <= here:
            return None
        self.comms.publish(runner.aid, "MARK", {"zone": best[1], "amount": self.footprint})
        self.gradient_moves += 1
        self.marks += 1
        return Plan(best[1])

    def telemetry(self) -> dict[str, Any]:
        out = super().telemetry()
        out.update({"gradient_moves": self.gradient_moves, "marks": self.marks})
        return out


class SwarmStigmergy(TeamMethod):
    """Reactive swarm / stigmergy: no assignment, marks on a shared work field.

    Description: the lab's signage carries a work field over zones (evaporating,
    diffusing, fed by the tubes waiting in each zone by priority); free runners climb its
    gradient one zone at a time, each with its own response threshold, and mark where
    they go (a MARK on the bus lowers the field there, for the rest of the site once the
    message reaches it) so that others spread out. Co-located agents split work by an
    ownership convention; narrow passages are shared by a traffic rule (one direction
    per step, a sliding window of the agents present), so no agent needs to know
    another's plan. Operators and scientists act on what lies at their station.
    Agents: every generated worker. Observation: the lab status board, its own zone and
    the marks received. Actions: engine actions in the contract form. Messages: MARK,
    HEARTBEAT, ALERT. Telemetry: gradient moves and marks.
    """

    method_id = "swarm_stigmergy"

    def make_dispatcher(self) -> Dispatcher:
        p = self.params
        return StigmergyDispatcher(
            self.team_comms(),
            float(p.get("evaporation", 0.3)),
            float(p.get("diffusion", 0.25)),
            float(p.get("footprint", 4.0)),
            tuple(p.get("threshold", (0.2, 1.0))),
            p.get("weights"),
        )

    def make_router(self) -> Router:
        return ConventionRouter()
