"""``centralized_planner``: one planner per site assigns the free runners each step."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from labtrust_gym.baselines.coordination.bus_dispatch import (
    BusDispatcher,
    order_row,
    plan_keys,
)
from labtrust_gym.baselines.coordination.comms import TeamComms
from labtrust_gym.baselines.coordination.jobs import Job, site_jobs
from labtrust_gym.baselines.coordination.team_method import TeamMethod
from labtrust_gym.baselines.scripted.hooks import Dispatcher
from labtrust_gym.baselines.scripted.view import INF, StepView
from labtrust_gym.coordination.identities import coordinator_id

__all__ = ["CentralizedPlanner", "AssignmentDispatcher"]


class AssignmentDispatcher(BusDispatcher):
    """Optimal assignment of free runners to transport jobs, per site, every step.

    The site's planner (``C_<SITE>``) knows the runners' trips from its board (its own
    orders and the runners' claims). Cost of runner r for job j: travel time to the job's
    zone minus the job's urgency ``stat_bonus`` (STAT) plus ``slack_weight`` x how far
    the job is past, or close to, its deadline (seconds of target turnaround used).
    Solved exactly (Hungarian, ``scipy.optimize.linear_sum_assignment``); when jobs
    outnumber runners the most urgent ones are served, otherwise each job gets the runner
    that minimises total travel. Runners in the same zone are interchangeable, so at most
    (jobs) runners per zone are considered: the problem stays small at 10,000 agents.
    Assignments go out as one ASSIGN per site and step (only the new ones); free runners
    left without a job are sent to a bench whose run is about to finish, if nobody is
    heading there.
    """

    coordinators = (None,)

    def __init__(
        self, comms: TeamComms, order_wait_s: float, stat_bonus: float, slack_weight: float
    ) -> None:
        super().__init__(comms, order_wait_s)
        self.stat_bonus = stat_bonus
        self.slack_weight = slack_weight

    def reset(self, team: Any, engine: Any, seed: int) -> None:
        super().reset(team, engine, seed)
        self.by_site: dict[str, list[Any]] = team.runners_by_site
        self.assignments = 0
        from scipy.optimize import linear_sum_assignment  # slow import: only when used

        self.solve = linear_sum_assignment

    def urgency(self, v: StepView, job: Job) -> float:
        """Seconds of travel worth spending on ``job``: STAT bonus plus deadline pressure
        (grows as the time left before the due time shrinks below an hour)."""
        bonus = self.stat_bonus if job.rank == 0 else 0.0
        left = job.due - v.now
        return bonus + self.slack_weight * max(0.0, 3600.0 - left) / 10.0

    def coordinate(self, v: StepView, t_ms: float) -> None:
        for site in self.by_site:
            own: dict[str, str] = {}
            board = self.coordinator_view(v, site, own)
            free = self.idle_runners(board, site)
            if not free:
                continue
            load = max(v.e.agents[m.aid].capacity for m, _ in free)
            jobs = site_jobs(v, site, load)
            rows = self.assign(v, free, jobs, own) if jobs else []
            given = {r[0] for r in rows}
            rows += self.position_orders(v, board, free, given)
            self.send_orders(coordinator_id(site), "ASSIGN", rows, t_ms)

    def candidates(self, free: list[tuple[Any, Any]], n_jobs: int) -> list[tuple[Any, Any]]:
        per_zone: dict[str, int] = defaultdict(int)
        out = []
        for m, a in free:
            if per_zone[a.zone] < n_jobs:
                per_zone[a.zone] += 1
                out.append((m, a))
        return out

    def cost_matrix(self, v: StepView, rows: list[tuple[Any, Any]], jobs: list[Job]) -> np.ndarray:
        cost = np.full((len(rows), len(jobs)), 1e9)
        urg = [self.urgency(v, j) for j in jobs]
        for i, (m, a) in enumerate(rows):
            for k, j in enumerate(jobs):
                if j.custody and not m.custody:
                    continue
                d = m.dist(v, a.zone, j.zone)
                if d < INF:
                    cost[i, k] = d - urg[k]
        return cost

    def assign(
        self, v: StepView, free: list[tuple[Any, Any]], jobs: list[Job], own: dict[str, str]
    ) -> list[list[Any]]:
        rows = self.candidates(free, len(jobs))
        cost = self.cost_matrix(v, rows, jobs)
        ri, ci = self.solve(cost)
        out = []
        for i, k in zip(ri.tolist(), ci.tolist(), strict=True):
            if cost[i, k] >= 1e8:
                continue
            aid, plan = rows[i][0].aid, jobs[k].plan()
            out.append(order_row(aid, plan, jobs[k].rank == 0))
            for key in plan_keys(plan):
                own[key] = aid
            self.assignments += 1
        return out

    def telemetry(self) -> dict[str, Any]:
        out = super().telemetry()
        out["assignments"] = self.assignments
        return out


class CentralizedPlanner(TeamMethod):
    """Centralized planner: priority- and deadline-aware assignment of each site.

    Description: one planner per site (``C_<SITE>``) sees the lab and knows the runners'
    trips from its messages. Every step it gathers the transport jobs of its site (tubes
    lying where their next device is not, batches due to ship, consignments at a dock)
    and solves an optimal assignment of the free runners to them (Hungarian; cost =
    travel - urgency, STAT first, then by deadline slack), sent as ASSIGN orders over the
    bus. Runners act on the orders they receive; cut off from the planner (nothing
    heard for ``order_wait_s``) they pick their own trips. The device of each
    tube is the one with the least expected wait for its priority, chosen when the tube
    is queued; operators, scientists and QC follow their role skills.
    Agents: every generated worker, plus the planners. Observation: the lab (read-only)
    and the messages received. Actions: engine actions in the contract form. Messages:
    ASSIGN, CLAIM, RELEASE, HEARTBEAT, ALERT. Params: ``stat_bonus`` (s of travel a STAT
    job is worth), ``slack_weight``.
    """

    method_id = "centralized_planner"

    def make_dispatcher(self) -> Dispatcher:
        return AssignmentDispatcher(
            self.team_comms(),
            self.order_wait_s,
            float(self.params.get("stat_bonus", 2000.0)),
            float(self.params.get("slack_weight", 1.0)),
        )
