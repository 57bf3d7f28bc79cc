"""``gossip_consensus``: runners agree who fetches what only through signed messages."""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.coordination.bus_dispatch import BusDispatcher
from labtrust_gym.baselines.coordination.team_method import TeamMethod
from labtrust_gym.baselines.scripted.hooks import ConventionRouter, Dispatcher, Router
from labtrust_gym.baselines.scripted.view import Plan, StepView

__all__ = ["GossipConsensus", "GossipDispatcher"]


class GossipDispatcher(BusDispatcher):
    """Claims by message, conflicts settled by a rule every agent applies alike.

    A runner that chooses a trip from its own view publishes a CLAIM of the tubes (or
    consignment) on its site's channel: keys, zone and its priority key (rank of the
    work, then its travel time). Every board keeps the claims it received (expiring after
    ``claim_ttl_s``, in case a RELEASE is lost) and its runners plan around them. Two
    claims on the same key are settled by the smaller (priority key, agent id): the loser,
    once its board shows the winner's claim, abandons its trip. An abandoned trip is
    RELEASEd. Messages go through the signed bus and its network model, so delay, loss
    and partitions show up as wasted moves (``stale_actions``). One runner per site sends
    heartbeats so that a cut-off part of the team notices.
    """

    runner_beacons = 1

    def trip(self, runner: Any, v: StepView, a: Any, z: str) -> Plan | None:
        plan = super().trip(runner, v, a, z)
        if plan is not None:
            v.claims.update(plan.sids)  # runners standing in the same room hear each other
        return plan


class GossipConsensus(TeamMethod):
    """Decentralized gossip / consensus through the signed message channel only.

    Description: no planner and no shared memory. Each runner picks its next trip from
    its own view of the lab (the status board, the tubes lying in each zone) and the
    claims it has received; it announces its choice by a signed CLAIM to its site's
    runners over the bus (through the seeded network model: delay, loss, partitions).
    Conflicting claims are settled by one rule every runner applies (smaller priority
    key, then agent id, wins) and the loser withdraws; abandoned trips are RELEASEd.
    Agents in the same room see each other act; passages are shared by a traffic rule
    (one direction per step, a sliding window of the agents present).
    Agents: every generated worker. Observation: lab status board, own zone, received
    messages. Actions: engine actions in the contract form. Messages: CLAIM, RELEASE,
    HEARTBEAT, ALERT. Telemetry: claims sent, claims lost, and ``stale_actions``: moves
    made toward a trip that a claim arriving later took away.
    """

    method_id = "gossip_consensus"

    def make_dispatcher(self) -> Dispatcher:
        return GossipDispatcher(self.team_comms(), 0)

    def make_router(self) -> Router:
        return ConventionRouter()
