"""``scripted_team``: the scripted role team as a coordination method."""

from __future__ import annotations

from labtrust_gym.baselines.coordination.team_method import TeamMethod

__all__ = ["ScriptedTeamMethod"]


class ScriptedTeamMethod(TeamMethod):
    """Centralised role-based dispatch (the scripted baseline team) behind the contract.

    Description: each role follows its script (reception accessions, runners carry by
    priority along shortest paths and choose the device with the shortest expected wait,
    pre-analytics batches centrifuge runs, analytics starts runs and restocks, QC runs
    periodic QC, scientists release and handle criticals); runners pick their own next
    trip greedily (most urgent reachable work, then nearest), STAT tubes are handed to
    the nearest runner with room, and shared per-step claims and trip reservations keep
    two agents from chasing the same tube. Full passages are waited out.
    Agents: every agent of the task's team. Observation: the full engine state
    (read-only, ``attach``). Actions: engine actions in the contract form. Messages: none.
    """

    method_id = "scripted_team"
