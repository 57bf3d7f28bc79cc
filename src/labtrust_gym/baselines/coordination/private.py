"""What an agent of a decentralized method knows: its own plan, its room, nothing central.

A private dispatcher gives every agent, before it decides, the claims of the zone it
stands in (agents in one room see what the others there are doing, so two of them never
take the same tube in one step) and a reservation map of its own: its own trip, plus
whatever the method lets it learn. No plan, claim or reservation travels between zones
except through the method's channel. Every built-in method builds on it through
:class:`~labtrust_gym.baselines.coordination.bus_dispatch.BusDispatcher`, which fills the
map from the messages that reached the agent.
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.scripted.hooks import Dispatcher
from labtrust_gym.baselines.scripted.view import Plan, StepView

__all__ = ["PrivateDispatcher"]


class PrivateDispatcher(Dispatcher):
    private = True

    def begin_step(self, v: StepView) -> None:
        self.room_claims: dict[str, set[str]] = {}

    def begin_member(self, v: StepView, m: Any) -> None:
        zone = v.e.agents[m.aid].zone
        v.claims = self.room_claims.setdefault(zone, set())
        v.reserved = self.knowledge(v, m)
        v.plan_zones = {}

    def knowledge(self, v: StepView, m: Any) -> dict[str, str]:
        """The reservation map agent ``m`` decides with (its own trip only, by default)."""
        plan = v.mem.plans.get(m.aid)
        if plan is None:
            return {}
        out = {sid: m.aid for sid in plan.sids}
        if plan.cid:
            out["con:" + plan.cid] = m.aid
        return out

    def stat_calls(self, v: StepView) -> dict[str, Plan]:
        return {}  # nobody hands out STAT calls: each agent ranks STAT work first
