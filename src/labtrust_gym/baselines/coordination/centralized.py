"""``centralized_planner``: one planner assigns every free runner each step."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from labtrust_gym.baselines.coordination.jobs import Job, free_runners, site_jobs
from labtrust_gym.baselines.coordination.team_method import TeamMethod
from labtrust_gym.baselines.scripted.hooks import Dispatcher
from labtrust_gym.baselines.scripted.view import INF, Plan, StepView

__all__ = ["CentralizedPlanner", "AssignmentDispatcher"]


class AssignmentDispatcher(Dispatcher):
    """Optimal assignment of free runners to transport jobs, per site, every step.

    Cost of runner r for job j: travel time to the job's zone minus the job's urgency
    ``stat_bonus`` (STAT) plus ``slack_weight`` x how far the job is past, or close to,
    its deadline (seconds of target turnaround used). Solved exactly (Hungarian,
    ``scipy.optimize.linear_sum_assignment``); when jobs outnumber runners the most urgent
    ones are served, otherwise each job gets the runner that minimises total travel.
    Runners in the same zone are interchangeable, so at most (jobs) runners per zone are
    considered: the problem stays small at 10,000 agents.
    """

    def __init__(self, stat_bonus: float = 2000.0, slack_weight: float = 1.0) -> None:
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

    def begin_step(self, v: StepView) -> None:
        for site, runners in self.by_site.items():
            free = free_runners(v, runners)
            if not free:
                continue
            load = max(v.e.agents[m.aid].capacity for m, _ in free)
            jobs = site_jobs(v, site, load)
            if not jobs:
                continue
            self.assign(v, free, jobs)

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

    def assign(self, v: StepView, free: list[tuple[Any, Any]], jobs: list[Job]) -> None:
        rows = self.candidates(free, len(jobs))
        cost = self.cost_matrix(v, rows, jobs)
        ri, ci = self.solve(cost)
        for i, k in zip(ri.tolist(), ci.tolist(), strict=True):
            if cost[i, k] >= 1e8:
                continue
            v.set_plan(rows[i][0].aid, jobs[k].plan())
            self.assignments += 1

    def stat_calls(self, v: StepView) -> dict[str, Plan]:
        return {}  # STAT jobs are in the assignment, with the highest urgency

    def trip(self, runner: Any, v: StepView, a: Any, z: str) -> Plan | None:
        return v.mem.plans.get(runner.aid)

    def telemetry(self) -> dict[str, Any]:
        return {"assignments": self.assignments}


class CentralizedPlanner(TeamMethod):
    """Centralized planner: priority- and deadline-aware assignment of the whole lab.

    Description: one planner sees the whole lab. Every step it gathers the transport jobs
    of each site (tubes lying where their next device is not, batches due to ship,
    consignments at a dock) and solves an optimal assignment of the free runners to them
    (Hungarian; cost = travel - urgency, STAT first, then by deadline slack). The device
    of each tube is the one with the least expected wait for its priority (queue and
    running work counted), chosen when the tube is queued; operators, scientists and QC
    follow their role skills under the same central claims.
    Agents: every generated worker. Observation: the full engine state (read-only).
    Actions: engine actions in the contract form. Messages: none.
    Params: ``stat_bonus`` (s of travel a STAT job is worth), ``slack_weight``.
    """

    method_id = "centralized_planner"

    def make_dispatcher(self) -> Dispatcher:
        return AssignmentDispatcher(
            float(self.params.get("stat_bonus", 2000.0)),
            float(self.params.get("slack_weight", 1.0)),
        )
