"""A test-only coordination method that talks on the bus.

It lets the scripted team (with its in-memory dispatch, not the bus) choose the actions,
so the lab runs the same whatever the network does, and, every step,
has every agent broadcast a STATUS and, if its role may, send a CLAIM to the next two
agents; it reads every agent's inbox. Network and bus injections therefore always have
traffic to act on. ``params.wander``: an agent whose action is a move to a zone that does
not exist, every step.
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.coordination import (
    CoordinationMethod,
    TeamMethod,
    register_coordination_method,
)
from labtrust_gym.baselines.coordination.registry import METHODS

METHOD_ID = "test_bus_chatter"


class BusChatter(CoordinationMethod):
    method_id = METHOD_ID

    def reset(self, seed: int, policy: Any, scale_config: Any) -> None:
        super().reset(seed, policy, scale_config)
        self.bus_at_reset = self.bus
        self.inner = TeamMethod(policy, self.repo_root, scale_config, {})
        self.inner.attach(self.env)
        self.inner.reset(seed, policy, scale_config)
        self.ids = list(self.env.engine_ids)
        self.received = 0
        self.results: list[dict[str, Any]] = []

    def propose_actions(
        self, obs: dict[str, Any], infos: dict[str, Any], t: float
    ) -> dict[str, dict[str, Any]]:
        bus = self.bus
        t_ms = t * 1000.0
        n = len(self.ids)
        for i, aid in enumerate(self.ids):
            self.received += len(bus.receive(aid))
            bus.publish(aid, "STATUS", {"step": int(t), "agent": aid}, t_ms)
            if bus.policy.allows(bus.roles.get(aid), "CLAIM"):
                peers = [self.ids[(i + 1) % n], self.ids[(i + 2) % n]]
                bus.publish(aid, "CLAIM", {"keys": [f"S{int(t)}"]}, t_ms, recipients=peers)
        out: dict[str, dict[str, Any]] = self.inner.propose_actions(obs, infos, t)
        wander = self.params.get("wander")
        if wander:  # an agent of the method that keeps acting on a view that is wrong
            out[wander] = {"action_type": "MOVE", "args": {"to_zone": "Z_NOWHERE"}}
        return out

    def on_step_results(self, results: dict[str, Any]) -> None:
        self.results.append(dict(results))


class BusChatterWithTelemetry(BusChatter):
    """The same, reporting a stale-action count of its own."""

    def telemetry(self) -> dict[str, Any]:
        return {"stale_actions": 7, "messages_received": self.received}


def ensure_registered() -> None:
    if METHOD_ID not in METHODS:
        register_coordination_method(
            METHOD_ID,
            lambda policy, repo_root, scale, params: BusChatter(policy, repo_root, scale, params),
            origin="tests/coordination",
        )
    if METHOD_ID + "_telemetry" not in METHODS:
        register_coordination_method(
            METHOD_ID + "_telemetry",
            lambda policy, repo_root, scale, params: BusChatterWithTelemetry(
                policy, repo_root, scale, params
            ),
            origin="tests/coordination",
        )
