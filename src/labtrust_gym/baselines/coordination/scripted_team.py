"""``scripted_team``: the scripted role team as a coordination method."""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.coordination.base import CoordinationMethod, to_contract_action

__all__ = ["ScriptedTeamMethod", "make_scripted_team"]


class ScriptedTeamMethod(CoordinationMethod):
    """Centralised role-based dispatch (the scripted baseline team) behind the contract.

    Description: each role follows its script (reception accessions, runners carry by
    priority along shortest paths and choose the device with the shortest expected wait,
    pre-analytics batches centrifuge runs, analytics starts runs and restocks, QC runs
    periodic QC, scientists release and handle criticals); one central dispatcher
    assigns specimens to runners so no two agents chase the same tube.
    Observation: full read-only view of the engine state (``attach``).
    Actions: engine actions in the contract form ``{action_index, action_info}``.
    """

    method_id = "scripted_team"

    def reset(self, seed: int, policy: Any, scale_config: Any) -> None:
        from labtrust_gym.baselines.scripted import ScriptedTeam

        super().reset(seed, policy, scale_config)
        agents = self.params.get("agents")
        if agents is None and self.env is not None:
            agents = self.env.task.scripted_agents
        self.team = ScriptedTeam(agents, params=self.params.get("team_params"))
        if self.env is not None:
            self.team.reset(self.env.engine, seed)

    def propose_actions(
        self, obs: dict[str, Any], infos: dict[str, Any], t: float
    ) -> dict[str, dict[str, Any]]:
        if self.env is None:
            raise RuntimeError("scripted_team reads the engine: call attach(env) first")
        acts = self.team.propose(self.env.engine, t)
        return {
            aid: to_contract_action(a["action_type"], a.get("args", {}), a.get("token_refs"))
            for aid, a in acts.items()
        }


def make_scripted_team(
    policy: Any, repo_root: Any, scale_config: Any, params: dict[str, Any]
) -> ScriptedTeamMethod:
    return ScriptedTeamMethod(policy, repo_root, scale_config, params)
