"""Coordination methods built on the scripted role skills.

Every built-in method drives the same role skills (how a tube is accessioned, queued,
spun, aliquoted, analysed, released; how criticals, QC and transport are handled: the
scripted team) and differs in what coordination is about in the lab: who fetches which
tubes (the dispatcher), how agents share passages (the router) and what each agent knows
about the others (orders, claims, bids, reservations or marks received over the bus). A
subclass sets :meth:`make_dispatcher` and :meth:`make_router`; the built-in ones
coordinate through :meth:`team_comms` (the episode's signed bus, see
:mod:`labtrust_gym.baselines.coordination.comms`).

Parameters every bus method takes (``params``): ``decide_ms`` (when, after a step starts,
the agents decide: what is delivered by then is known; default 1000), ``claim_ttl_s``
(300), ``order_ttl_s`` (30: an order nobody acknowledged is forgotten), ``award_ttl_s``
(300) and ``order_wait_s`` (30: how long a runner that hears nothing from its
coordinators keeps waiting for orders before choosing its own trips).
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.coordination.base import CoordinationMethod, to_contract_action
from labtrust_gym.baselines.scripted.hooks import Dispatcher, Router
from labtrust_gym.errors import ConfigError

__all__ = ["TeamMethod"]


class TeamMethod(CoordinationMethod):
    """Base of the built-in methods: the role skills plus a dispatcher and a router."""

    _comms: Any = None

    def make_dispatcher(self) -> Dispatcher:
        return Dispatcher()

    def make_router(self) -> Router:
        return Router()

    def team_comms(self) -> Any:
        """The team's :class:`~.comms.TeamComms` over the episode bus (one per episode)."""
        from labtrust_gym.baselines.coordination.comms import TeamComms
        from labtrust_gym.coordination.watchdog import load_detection_policy

        if self.bus is None:
            raise ConfigError(
                f"{self.method_id} coordinates only through the signed message bus, and none "
                "is attached: run it through labtrust_gym.benchmarks.runner (which builds one "
                "per episode) or set method.bus before reset()"
            )
        comms: Any = getattr(self, "_comms", None)
        if comms is None or comms.bus is not self.bus:
            p = self.params
            comms = TeamComms(
                self.bus,
                decide_ms=float(p.get("decide_ms", 1000.0)),
                claim_ttl_s=float(p.get("claim_ttl_s", 300.0)),
                order_ttl_s=float(p.get("order_ttl_s", 30.0)),
                award_ttl_s=float(p.get("award_ttl_s", 300.0)),
                detection=load_detection_policy(self.repo_root),
            )
            self._comms = comms
        return comms

    @property
    def order_wait_s(self) -> float:
        return float(self.params.get("order_wait_s", 30.0))

    def reset(self, seed: int, policy: Any, scale_config: Any) -> None:
        from labtrust_gym.baselines.scripted import ScriptedTeam

        super().reset(seed, policy, scale_config)
        self._comms = None
        agents = self.params.get("agents")
        if agents is None and self.env is not None:
            agents = self.env.task.scripted_agents
        self.dispatcher = self.make_dispatcher()
        team_params = dict(self.params.get("team_params") or {})
        team_params["dispatcher"] = self.dispatcher
        self.router = self.make_router()
        team_params["router"] = self.router
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
        out = dict(self.dispatcher.telemetry()) if hasattr(self, "dispatcher") else {}
        tel = getattr(getattr(self, "router", None), "telemetry", None)
        if callable(tel):
            out.update(tel())
        return out
