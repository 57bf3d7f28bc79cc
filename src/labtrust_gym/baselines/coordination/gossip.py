"""``gossip_consensus``: runners agree who fetches what only through signed messages."""

from __future__ import annotations

import zlib
from typing import Any

from labtrust_gym.baselines.coordination.private import PrivateDispatcher
from labtrust_gym.baselines.coordination.team_method import TeamMethod
from labtrust_gym.baselines.scripted.hooks import ConventionRouter, Dispatcher, Router
from labtrust_gym.baselines.scripted.view import Plan, StepView
from labtrust_gym.errors import ConfigError

__all__ = ["GossipConsensus", "GossipDispatcher"]

Claim = tuple[str, tuple[float, float], float]  # owner, priority key, expiry (s)


def _keys(plan: Plan) -> tuple[str, ...]:
    return plan.sids + (("con:" + plan.cid,) if plan.cid else ())


class GossipDispatcher(PrivateDispatcher):
    """Claims by message, conflicts settled by a rule every agent applies alike.

    A runner that chooses a trip from its own view publishes a CLAIM of the tubes (or
    consignment) to the runners of its site: keys, zone and its priority key (rank of
    the work, then its travel time). Each runner keeps the claims it has received
    (expiring after ``claim_ttl_s``, in case a RELEASE is lost) and plans around them.
    Two claims on the same key are settled by the smaller (priority key, agent id): the
    loser, on receiving the winner's claim, abandons its trip and RELEASEs. A finished or
    abandoned trip is RELEASEd. Messages go through the signed bus and its network
    model, so delay, loss and partitions show up as wasted moves (``stale_actions``).
    """

    def __init__(self, bus: Any, claim_ttl_s: float = 300.0) -> None:
        self.bus = bus
        self.ttl = claim_ttl_s

    def reset(self, team: Any, engine: Any, seed: int) -> None:
        super().reset(team, engine, seed)
        sites = [[m.aid for m in ms] for ms in team.runners_by_site.values()]
        self.peers = {aid: ids for ids in sites for aid in ids}
        self.known: dict[str, dict[str, Claim]] = {aid: {} for aid in self.peers}
        self.mine: dict[str, tuple[tuple[str, ...], tuple[float, float]]] = {}
        self.sent = {"CLAIM": 0, "RELEASE": 0}
        self.received = 0
        self.lost = 0
        self.moves: dict[str, int] = {}  # moves made under the current claim
        # Digest of the message sequence each runner absorbed: runners with equal digests
        # know the same claims (lets the team skip idle look-alikes).
        self.digest: dict[str, int] = {aid: 0 for aid in self.peers}
        self.stale = 0

    def _send(self, aid: str, msg_type: str, payload: dict[str, Any], v: StepView) -> None:
        self.bus.publish(aid, msg_type, payload, v.now * 1000.0, self.peers[aid])
        self.sent[msg_type] += 1

    def _release(self, aid: str, v: StepView) -> None:
        self.moves.pop(aid, None)
        keys, _ = self.mine.pop(aid)
        self._send(aid, "RELEASE", {"keys": list(keys)}, v)

    def begin_step(self, v: StepView) -> None:
        super().begin_step(v)
        plans = v.mem.plans
        for aid, (keys, _) in list(self.mine.items()):
            plan = plans.get(aid)
            if plan is None or _keys(plan) != keys:
                self._release(aid, v)
        for aid in self.peers:
            msgs = self.bus.receive(aid)
            if msgs:
                self._absorb(aid, msgs, v)

    def _absorb(self, aid: str, msgs: list[Any], v: StepView) -> None:
        known = self.known[aid]
        d = self.digest[aid]
        for msg in msgs:
            d = zlib.crc32(msg.seq.to_bytes(8, "little"), d)
        self.digest[aid] = d
        for msg in msgs:
            self.received += 1
            keys = msg.payload.get("keys") or ()
            if msg.msg_type == "RELEASE":
                for k in keys:
                    c = known.get(k)
                    if c is not None and c[0] == msg.sender_id:
                        del known[k]
                continue
            if msg.msg_type != "CLAIM":
                continue
            prio = tuple(msg.payload["prio"])
            exp = msg.t_sent_ms / 1000.0 + self.ttl
            for k in keys:
                known[k] = (msg.sender_id, prio, exp)
            own = self.mine.get(aid)
            if (
                own is not None
                and not set(own[0]).isdisjoint(keys)
                and (prio, msg.sender_id) < (own[1], aid)
            ):
                self.lost += 1  # decided on a view that lacked this claim
                self.stale += self.moves.get(aid, 0)
                v.set_plan(aid, None)
                self._release(aid, v)

    def idle_extra(self, v: StepView, aid: str) -> Any:
        if aid in self.mine:
            return None
        return self.digest.get(aid, 0)

    def knowledge(self, v: StepView, m: Any) -> dict[str, str]:
        out = super().knowledge(v, m)
        known = self.known.get(m.aid)
        if known:
            now = v.now
            for k in [k for k, c in known.items() if c[2] <= now]:
                del known[k]
            for k, c in known.items():
                out.setdefault(k, c[0])
        return out

    def trip(self, runner: Any, v: StepView, a: Any, z: str) -> Plan | None:
        aid = runner.aid
        plan = v.mem.plans.get(aid) or runner.default_trip(v, a, z)
        if plan is None:
            return None
        keys = _keys(plan)
        v.claims.update(plan.sids)  # runners standing in the same room hear each other
        if keys and (aid not in self.mine or self.mine[aid][0] != keys):
            if aid in self.mine:
                self._release(aid, v)
            s = min((v.e.specimens[x] for x in plan.sids), key=v.skey, default=None)
            prio = (float(v.rank(s)) if s is not None else 0.0, runner.dist(v, z, plan.zone))
            self.mine[aid] = (keys, prio)
            self._send(aid, "CLAIM", {"keys": list(keys), "zone": plan.zone, "prio": list(prio)}, v)
        return plan

    def end_step(self, v: StepView, actions: dict[str, dict[str, Any]]) -> None:
        for aid in self.mine:
            act = actions.get(aid)
            if act is not None and act["action_type"] == "MOVE":
                self.moves[aid] = self.moves.get(aid, 0) + 1

    def telemetry(self) -> dict[str, Any]:
        return {
            "claims_sent": self.sent["CLAIM"],
            "releases_sent": self.sent["RELEASE"],
            "messages_received": self.received,
            "claims_lost": self.lost,
            "stale_actions": self.stale,
        }


class GossipConsensus(TeamMethod):
    """Decentralized gossip / consensus through the signed message channel only.

    Description: no planner and no shared memory. Each runner picks its next trip from
    its own view of the lab (the status board, the tubes lying in each zone) and the
    claims it has received; it announces its choice by a signed CLAIM to its site's
    runners over the bus (through the seeded network model: delay, loss, partitions).
    Conflicting claims are settled by one rule every runner applies (smaller priority
    key, then agent id, wins) and the loser withdraws; trips end with a RELEASE. Agents in
    the same room see each other act; passages are shared by a traffic rule (one
    direction per step, a sliding window of the agents present).
    Agents: every generated worker. Observation: lab status board, own zone, own inbox.
    Actions: engine actions in the contract form. Messages: CLAIM, RELEASE.
    Telemetry: claims and releases sent, messages received, claims lost, and
    ``stale_actions``: moves made toward a trip that a claim arriving later took away.
    """

    method_id = "gossip_consensus"

    def make_dispatcher(self) -> Dispatcher:
        if self.bus is None:
            raise ConfigError(
                "gossip_consensus coordinates only through the signed message bus, and none "
                "is attached: run it through labtrust_gym.benchmarks.runner (which builds one "
                "per episode) or set method.bus before reset()"
            )
        return GossipDispatcher(self.bus, float(self.params.get("claim_ttl_s", 300.0)))

    def make_router(self) -> Router:
        return ConventionRouter()
