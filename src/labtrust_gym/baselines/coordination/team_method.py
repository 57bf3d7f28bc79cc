"""Coordination methods built on the scripted role skills.

Every built-in method drives the same role skills (how a tube is accessioned, queued,
spun, aliquoted, analysed, released; how criticals, QC and transport are handled: the
scripted team) and differs in what coordination is about in the lab: who fetches which
tubes (the dispatcher), how agents share passages (the router) and what each agent knows
about the others (shared plans, messages, or marks left in the environment). A subclass
sets :meth:`make_dispatcher` and :meth:`make_router`.
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.coordination.base import CoordinationMethod, to_contract_action
from labtrust_gym.baselines.scripted.hooks import Dispatcher, Router

__all__ = ["TeamMethod"]


class TeamMethod(CoordinationMethod):
    """Base of the built-in methods: the role skills plus a dispatcher and a router."""

    def make_dispatcher(self) -> Dispatcher:
        return Dispatcher()

    def make_router(self) -> Router:
        return Router()

    def reset(self, seed: int, policy: Any, scale_config: Any) -> None:
        from labtrust_gym.baselines.scripted import ScriptedTeam

        super().reset(seed, policy, scale_config)
        agents = self.params.get("agents")
        if agents is None and self.env is not None:
            agents = self.env.task.scripted_agents
        self.dispatcher = self.make_dispatcher()
        team_params = dict(self.params.get("team_params") or {})
        team_params["dispatcher"] = self.dispatcher
        team_params["router"] = self.make_router()
        self.team = ScriptedTeam(agents, params=team_params)
        if self.env is not None:
            self.team.reset(self.env.engine, seed)

    def propose_actions(
        self, obs: dict[str, Any], infos: dict[str, Any], t: float
    ) -> dict[str, dict[str, Any]]:
        if self.env is None:
            raise RuntimeError(f"{self.method_id} reads the engine: call attach(env) first")
        acts = self.team.propose(self.env.engine, t)
        return {
            aid: to_contract_action(a["action_type"], a.get("args", {}), a.get("token_refs"))
            for aid, a in acts.items()
        }

    def telemetry(self) -> dict[str, Any]:
        return dict(self.dispatcher.telemetry()) if hasattr(self, "dispatcher") else {}
