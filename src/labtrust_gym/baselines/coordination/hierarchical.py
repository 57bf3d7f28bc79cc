"""``hierarchical_hub``: a hub per site over local controllers per zone group."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from labtrust_gym.baselines.coordination.jobs import Job, free_runners, site_jobs
from labtrust_gym.baselines.coordination.team_method import TeamMethod
from labtrust_gym.baselines.scripted.hooks import Dispatcher
from labtrust_gym.baselines.scripted.view import INF, Plan, StepView

__all__ = ["HierarchicalHub", "HubDispatcher", "ZONE_GROUPS"]

#: Zone groups (by zone kind) each run by a local controller.
ZONE_GROUPS: dict[str, tuple[str, ...]] = {
    "front": ("reception", "dispatch", "corridor", "stores", "office"),
    "bench": ("preanalytics", "analytics", "restricted"),
}
_ANCHOR = {"front": "corridor", "bench": "preanalytics"}


class HubDispatcher(Dispatcher):
    """Two levels: local controllers assign their own runners to jobs in their zone
    group (nearest free runner for the most urgent job); jobs left over go up to the
    site hub, which lends free runners of the other group. Every ``rebalance_steps`` the
    hub moves runners between groups in proportion to their backlog, and a runner's
    idle post becomes its group's anchor zone.
    """

    def __init__(self, rebalance_steps: int = 6) -> None:
        self.rebalance_steps = max(1, rebalance_steps)

    def reset(self, team: Any, engine: Any, seed: int) -> None:
        super().reset(team, engine, seed)
        st = team.static
        self.group_of_kind = {k: g for g, kinds in ZONE_GROUPS.items() for k in kinds}
        self.anchor: dict[tuple[str, str], str] = {}
        for z, site in st.zone_site.items():
            for g, kind in _ANCHOR.items():
                if st.zone_kind[z] == kind:
                    self.anchor.setdefault((site, g), z)
        self.groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
        self.sites = sorted(team.runners_by_site)
        for site, runners in team.runners_by_site.items():
            for i, m in enumerate(runners):
                self._join(m, site, "front" if i % 2 == 0 else "bench")
        self.steps = 0
        self.local_assignments = 0
        self.hub_assignments = 0
        self.moves = 0

    def _join(self, m: Any, site: str, group: str) -> None:
        self.groups[(site, group)].append(m)
        m.group = group
        anchor = self.anchor.get((site, group))
        if anchor is not None and self.team.static.zone_kind[anchor] in m.kinds:
            m.home = anchor

    def group(self, v: StepView, zone: str) -> str:
        return self.group_of_kind.get(v.st.zone_kind[zone], "front")

    def begin_step(self, v: StepView) -> None:
        self.steps += 1
        for site in self.sites:
            runners = self.groups[(site, "front")] + self.groups[(site, "bench")]
            load = max(v.e.agents[m.aid].capacity for m in runners)
            jobs = site_jobs(v, site, load)
            by_group: dict[str, list[Job]] = defaultdict(list)
            for j in jobs:
                by_group[self.group(v, j.zone)].append(j)
            if self.steps % self.rebalance_steps == 0:
                self.rebalance(site, by_group)
            if not jobs:
                continue
            left: list[Job] = []
            idle: list[tuple[Any, Any]] = []
            for g in ZONE_GROUPS:
                free = free_runners(v, self.groups[(site, g)])
                rest, unused = self.local(v, free, by_group.get(g, []))
                self.local_assignments += len(by_group.get(g, [])) - len(rest)
                left += rest
                idle += unused
            if left and idle:
                left.sort(key=Job.key)
                rest, _ = self.local(v, idle, left)
                self.hub_assignments += len(left) - len(rest)

    def local(
        self, v: StepView, free: list[tuple[Any, Any]], jobs: list[Job]
    ) -> tuple[list[Job], list[tuple[Any, Any]]]:
        """Greedy: the most urgent job gets the nearest free runner. Returns the jobs
        left and the runners left."""
        free = list(free)
        rest = []
        for j in jobs:
            best = None
            for i, (m, a) in enumerate(free):
                if j.custody and not m.custody:
                    continue
                d = m.dist(v, a.zone, j.zone)
                if d < INF and (best is None or (d, m.aid) < best[0]):
                    best = ((d, m.aid), i)
            if best is None:
                rest.append(j)
                continue
            m, _ = free.pop(best[1])
            v.set_plan(m.aid, j.plan())
        return rest, free

    def rebalance(self, site: str, by_group: dict[str, list[Job]]) -> None:
        """Move one runner towards the group with more backlog per runner."""
        f, b = self.groups[(site, "front")], self.groups[(site, "bench")]
        nf, nb = len(by_group.get("front", ())), len(by_group.get("bench", ()))
        if nf * max(1, len(b)) > (nb + 1) * max(1, len(f)) and len(b) > 1:
            src, dst = b, "front"
        elif nb * max(1, len(f)) > (nf + 1) * max(1, len(b)) and len(f) > 1:
            src, dst = f, "bench"
        else:
            return
        m = src.pop()
        self._join(m, site, dst)
        self.moves += 1

    def stat_calls(self, v: StepView) -> dict[str, Plan]:
        return {}  # STAT jobs go first in every controller's list

    def trip(self, runner: Any, v: StepView, a: Any, z: str) -> Plan | None:
        return v.mem.plans.get(runner.aid)

    def telemetry(self) -> dict[str, Any]:
        return {
            "local_assignments": self.local_assignments,
            "hub_assignments": self.hub_assignments,
            "rebalance_moves": self.moves,
        }


class HierarchicalHub(TeamMethod):
    """Hierarchical: a hub per site, local controllers per zone group.

    Description: each site's runners are split between two zone groups (front: reception,
    dispatch, corridor, stores, office; bench: pre-analytics and analytics), each run by
    a local controller that assigns its free runners to jobs lying in its zones (most
    urgent job, nearest runner). Jobs a group cannot serve go up to the site hub, which
    lends idle runners of the other group; every ``rebalance_steps`` the hub moves a
    runner to the group with more backlog per runner, and idle runners wait at their
    group's anchor zone. Inter-site shipping is handled at the docks (front group).
    Agents: every generated worker. Observation: full engine state (read-only).
    Actions: engine actions in the contract form. Telemetry: local vs hub assignments,
    rebalancing moves.
    """

    method_id = "hierarchical_hub"

    def make_dispatcher(self) -> Dispatcher:
        return HubDispatcher(int(self.params.get("rebalance_steps", 6)))
