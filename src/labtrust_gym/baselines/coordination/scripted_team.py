"""``scripted_team``: the scripted role team as a coordination method, over the bus."""

from __future__ import annotations

from labtrust_gym.baselines.coordination.bus_dispatch import DeskDispatcher
from labtrust_gym.baselines.coordination.team_method import TeamMethod
from labtrust_gym.baselines.scripted.hooks import Dispatcher

__all__ = ["ScriptedTeamMethod"]


class ScriptedTeamMethod(TeamMethod):
    """Centralised role-based dispatch (the scripted baseline team) through a dispatch desk.

    Description: each role follows its script (reception accessions, runners carry by
    priority along shortest paths and choose the device with the shortest expected wait,
    pre-analytics batches centrifuge runs, analytics starts runs and restocks, QC runs
    periodic QC, scientists release and handle criticals). Each site's dispatch desk
    (``C_<SITE>``) hands every STAT tube to the nearest runner with room and gives every
    free runner the most urgent reachable work (STAT first, then nearest, then oldest), by
    ASSIGN over the bus; runners acknowledge by CLAIM and give up trips by RELEASE, and
    plan around the holdings they have received. A runner that has not heard its desk for
    ``order_wait_s`` picks its own trips by the same rule on what it knows. Full passages
    are waited out.
    Agents: every agent of the task's team, plus the desks. Observation: the lab (engine
    state, read-only) and the messages received. Actions: engine actions in the contract
    form. Messages: ASSIGN, CLAIM, RELEASE, HEARTBEAT, ALERT.
    """

    method_id = "scripted_team"

    def make_dispatcher(self) -> Dispatcher:
        return DeskDispatcher(self.team_comms(), self.order_wait_s)
