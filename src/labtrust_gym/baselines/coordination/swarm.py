"""``swarm_stigmergy``: reactive runners following work marks left in the environment."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from labtrust_gym.baselines.coordination.private import PrivateDispatcher
from labtrust_gym.baselines.coordination.team_method import TeamMethod
from labtrust_gym.baselines.scripted.hooks import ConventionRouter, Dispatcher, Router
from labtrust_gym.baselines.scripted.view import Plan, StepView
from labtrust_gym.rng import stream

__all__ = ["SwarmStigmergy", "StigmergyDispatcher"]


class StigmergyDispatcher(PrivateDispatcher):
    """A work field over zones; runners climb its gradient.

    Every step each zone's field evaporates by ``evaporation``, gains the weight of the
    work lying there (``weights`` per priority for tubes to carry away; consignments at a
    dock count as STAT-weighted loads) and exchanges ``diffusion`` of itself with its
    neighbours, so work is smelled from afar. A free runner with nothing to pick up here
    moves to the neighbour with the strongest field if it exceeds its personal response
    threshold (one of eight levels between ``threshold``, drawn once per episode from the
    seed), and marks that zone by removing
    ``footprint`` from it, so the next runners spread elsewhere. Runners never learn each
    other's plans; co-located runners split the tubes by the ownership convention.
    """

    def __init__(
        self,
        evaporation: float = 0.3,
        diffusion: float = 0.25,
        footprint: float = 4.0,
        threshold: tuple[float, float] = (0.2, 1.0),
        weights: dict[str, float] | None = None,
    ) -> None:
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
        self.field: dict[str, float] = defaultdict(float)
        self.adj = engine.world.adjacency
        self.moves = 0
        self.marks = 0

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
        f = self.field
        zones = set(f) | set(deposit)
        level = {z: f.get(z, 0.0) * keep + deposit.get(z, 0.0) for z in zones}
        d = self.diffusion
        new: dict[str, float] = defaultdict(float)
        for z, x in level.items():
            if x <= 1e-6:
                continue
            nbs = self.adj.get(z, {})
            share = d * x / len(nbs) if nbs else 0.0
            new[z] += x - share * len(nbs)
            for nb in nbs:
                new[nb] += share
        self.field = new

    def idle_extra(self, v: StepView, aid: str) -> Any:
        return self.theta.get(aid)

    def trip(self, runner: Any, v: StepView, a: Any, z: str) -> Plan | None:
        best: tuple[float, str] | None = None
        for nb in self.adj.get(z, {}):
            if nb in v.frozen or not runner.zone_ok(v, nb):
                continue
            x = self.field.get(nb, 0.0)
            if best is None or (x, nb) > best:
                best = (x, nb)
        here = self.field.get(z, 0.0)
        if best is None or best[0] < self.theta.get(runner.aid, 0.5) or best[0] <= here:
            return None
        self.field[best[1]] = best[0] - self.footprint
        self.moves += 1
        self.marks += 1
        return Plan(best[1])

    def telemetry(self) -> dict[str, Any]:
        return {"gradient_moves": self.moves, "marks": self.marks}


class SwarmStigmergy(TeamMethod):
    """Reactive swarm / stigmergy: no assignment, no messages, marks in the environment.

    Description: the environment carries a work field over zones (evaporating,
    diffusing, fed by the tubes waiting in each zone by priority); free runners climb its
    gradient one zone at a time, each with its own response threshold, and lower the
    field where they go so that others spread out. Co-located agents split work by an
    ownership convention; narrow passages are shared by a traffic rule (one direction per
    step, a sliding window of the agents present), so no agent needs to know another's
    plan. Operators and scientists act on what lies at their station.
    Agents: every generated worker. Observation: the lab status board and its own zone
    (read-only engine). Actions: engine actions in the contract form. Telemetry:
    gradient moves and marks.
    """

    method_id = "swarm_stigmergy"

    def make_dispatcher(self) -> Dispatcher:
        p = self.params
        return StigmergyDispatcher(
            float(p.get("evaporation", 0.3)),
            float(p.get("diffusion", 0.25)),
            float(p.get("footprint", 4.0)),
            tuple(p.get("threshold", (0.2, 1.0))),
            p.get("weights"),
        )

    def make_router(self) -> Router:
        return ConventionRouter()
