"""A realistic, deterministic lab episode for the engine tests.

:func:`run_scenario` plays a small hospital network for about an hour of simulated time:

* hub reception accessions specimens present at t=0 and specimens that arrive later from
  ``arrival_schedule`` (one is held for an ID mismatch and released with a HOLD_OVERRIDE
  token, one leaks and is rejected);
* runners carry tubes to the centrifuge, the aliquoter and the analyzers; operators start
  runs and repair faulted analyzers (a DEVICE_FAULT is scheduled on DEV_CHEM_0001);
* the acute site accessions two specimens and ships them to the hub in a signed
  consignment that a hub runner receives with a signed RECEIVE_TRANSPORT;
* the clinical scientist notifies and acknowledges criticals and releases results;
* an epilogue exercises the trust skeleton: a restricted door opened with a token and left
  open (door alarm, kill switch, frozen zones, clear), key revocation and audit checks.

The agents act on what they can see through ``LabEngine.query``, so the script adapts to
simulated timing (service times, transport jitter, random faults) and stays a pure
function of the seed and timing mode. Every event of an agent with a key is signed.
"""

from __future__ import annotations

import hashlib
import heapq
from typing import Any

from labtrust_gym.engine import LabEngine
from labtrust_gym.engine.actions_results import critical_readback
from labtrust_gym.engine.signatures import private_key_from_bytes, public_key_hex, sign_event

__all__ = [
    "KEY_AGENTS",
    "Driver",
    "initial_state",
    "key_id_of",
    "run_scenario",
    "signing_key",
    "world_state",
]

#: Agents that hold an Ed25519 key in the scenario (all the agents that act).
KEY_AGENTS = (
    "A_RECEPTION_01",
    "A_RECEPTION_02",
    "A_RUNNER_01",
    "A_RUNNER_02",
    "A_RUNNER_03",
    "A_PREANA_01",
    "A_ANALYTICS_01",
    "A_QC_01",
    "A_SUPERVISOR_01",
    "A_SCIENTIST_01",
)

HUB_DEVICE_FOR_PANEL = {
    "UE": "DEV_CHEM_0001",
    "LFT": "DEV_CHEM_0002",
    "TROP": "DEV_CHEM_0002",
    "FBC": "DEV_HAEM_0001",
    "COAG": "DEV_COAG_0001",
}


def signing_key(agent_id: str) -> Any:
    """The private key of ``agent_id`` (fixed bytes derived from its id)."""
    seed = hashlib.sha256(b"labtrust-test-key:" + agent_id.encode()).digest()
    return private_key_from_bytes(seed)


def key_id_of(agent_id: str) -> str:
    return f"K_{agent_id}"


def initial_state(
    timing_mode: str = "explicit", *, strict_signatures: bool = False, fault_t: float = 700.0
) -> dict[str, Any]:
    keys = {
        key_id_of(a): {"agent_id": a, "public_key": public_key_hex(signing_key(a))}
        for a in KEY_AGENTS
    }
    return {
        "timing_mode": timing_mode,
        "strict_signatures": strict_signatures,
        "keys": keys,
        "specimens": [
            {"specimen_id": "S1", "panels": ["UE", "LFT"], "priority": "STAT"},
            {
                "specimen_id": "S2",
                "panels": ["FBC"],
                "priority": "URGENT",
                "hidden": {"critical_analytes": ["HB"]},
            },
            {"specimen_id": "S3", "panels": ["COAG"]},
            {
                "specimen_id": "SA1",
                "panels": ["FBC"],
                "priority": "URGENT",
                "site_id": "SITE_ACUTE",
            },
        ],
        "arrival_schedule": [
            {"t_s": 30, "specimen": {"specimen_id": "S4", "panels": ["UE"], "priority": "STAT"}},
            {
                "t_s": 45,
                "specimen": {"specimen_id": "SA2", "panels": ["FBC"], "site_id": "SITE_ACUTE"},
            },
            {"t_s": 60, "specimen": {"specimen_id": "S5", "panels": ["FBC"]}},
            {
                "t_s": 90,
                "specimen": {"specimen_id": "S6", "panels": ["FBC"], "hidden": {"id_match": False}},
            },
            {
                "t_s": 90,
                "specimen": {"specimen_id": "S7", "panels": ["UE"], "hidden": {"leak": True}},
            },
        ],
        "schedule": [{"t_s": fault_t, "kind": "DEVICE_FAULT", "device_id": "DEV_CHEM_0001"}],
    }


def world_state(engine: LabEngine) -> dict[str, Any]:
    """``engine.state_dict()`` without the audit part (the log and its record counter)."""
    state = engine.state_dict()
    del state["audit"]
    assert state.pop("_seq") == len(engine.audit)
    return state


def _target_device(spec: dict[str, Any]) -> str:
    if spec["needs_centrifuge"] and not spec["centrifuged"]:
        return "DEV_CENTRIFUGE_0001"
    if spec["needs_aliquot"] and not spec["aliquoted"]:
        return "DEV_ALIQUOTER_0001"
    return HUB_DEVICE_FOR_PANEL[spec["pending_panels"][0]]


class Driver:
    """Issues events at a driver clock ``t``; signs the events of agents that hold keys."""

    def __init__(self, engine: LabEngine, *, sign: bool = True) -> None:
        self.e = engine
        self.t = 0.0
        self.n = 0
        self.sign = sign
        self.keys = {a: signing_key(a) for a in KEY_AGENTS}
        self.events: list[dict[str, Any]] = []
        self.outcomes: list[dict[str, Any]] = []
        self.consignments: list[str] = []
        self.hold_tokens: dict[str, str] = {}
        self._cache: dict[tuple[str, str | None], Any] = {}
        self._cache_len = -1

    # -- events -------------------------------------------------------------------------
    def make_event(
        self, agent: str, action: str, token_refs: list[str] | None = None, **args: Any
    ) -> dict[str, Any]:
        self.n += 1
        event: dict[str, Any] = {
            "event_id": f"ev{self.n:05d}",
            "t_s": self.t,
            "agent_id": agent,
            "action_type": action,
            "args": args,
        }
        if token_refs:
            event["token_refs"] = list(token_refs)
        if self.sign and agent in self.keys:
            event["key_id"] = key_id_of(agent)
            event["signature"] = sign_event(
                self.keys[agent], event, self.e.world.fingerprint, self.e.audit.head_hash
            )
        return event

    def ev(
        self, agent: str, action: str, token_refs: list[str] | None = None, **args: Any
    ) -> dict[str, Any]:
        event = self.make_event(agent, action, token_refs, **args)
        out = self.e.step(event)
        self.events.append(event)
        self.outcomes.append(out)
        return out

    # -- helpers ------------------------------------------------------------------------
    def q(self, kind: str, ident: str | None = None) -> Any:
        """``engine.query``, memoised until the next step (queries copy state: slow)."""
        key = (kind, ident)
        if self._cache_len != len(self.e.audit):
            self._cache.clear()
            self._cache_len = len(self.e.audit)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self.e.query(kind, ident)
        return hit

    def zone_of(self, device_id: str) -> str:
        return str(self.e.world.devices[device_id]["zone"])

    def next_hop(self, agent_id: str, dest: str) -> str | None:
        """First zone on a shortest (travel time) path the agent's role may walk."""
        w = self.e.world
        agent = self.q("agent", agent_id)
        here = agent["zone"]
        kinds = w.roles[agent["role"]].zone_kinds
        dist = {here: 0.0}
        first: dict[str, str | None] = {here: None}
        heap: list[tuple[float, str]] = [(0.0, here)]
        while heap:
            d, z = heapq.heappop(heap)
            if z == dest:
                return first[z]
            if d > dist[z]:
                continue
            for nb, travel in sorted(w.adjacency[z].items()):
                if w.zones[nb]["kind"] not in kinds:
                    continue
                nd = d + travel
                if nb not in dist or nd < dist[nb]:
                    dist[nb] = nd
                    first[nb] = nb if z == here else first[z]
                    heapq.heappush(heap, (nd, nb))
        return None

    def goto(self, agent_id: str, dest: str) -> bool:
        """True if the agent is at ``dest``; else start the next leg (if not in transit)."""
        zone = self.q("agent", agent_id)["zone"]
        if zone == dest:
            return True
        if zone is not None:
            hop = self.next_hop(agent_id, dest)
            if hop is not None:
                self.ev(agent_id, "MOVE", to_zone=hop)
        return False

    # -- behaviours ---------------------------------------------------------------------
    def reception(self, aid: str) -> None:
        zone = self.q("agent", aid)["zone"]
        for sid, s in sorted(self.q("specimens").items()):
            if s["loc_kind"] != "zone" or s["loc_id"] != zone:
                continue
            if s["status"] == "ARRIVED":
                self.ev(aid, "ACCESSION", specimen_id=sid)
            elif s["status"] == "HELD" and aid == "A_RECEPTION_01":
                tid = self.hold_tokens.get(sid)
                if tid is None:
                    tid = self.hold_tokens[sid] = f"TOK-HOLD-{sid}"
                    self.ev(
                        "A_SUPERVISOR_01",
                        "ISSUE_TOKEN",
                        token_id=tid,
                        token_type="HOLD_OVERRIDE",
                        subject_agent_id=aid,
                        approvers=["A_SCIENTIST_01"],
                        scope={"ids": [sid]},
                    )
                self.ev(aid, "RESOLVE_HOLD", token_refs=[tid], specimen_id=sid, decision="ACCEPT")

    def hub_runner(self, aid: str, pickup_zones: tuple[str, ...]) -> None:
        agent = self.q("agent", aid)
        here = agent["zone"]
        if here is None:
            return
        specs = self.q("specimens")
        for sid in list(agent["carrying"]):
            dev = _target_device(specs[sid])
            if self.zone_of(dev) == here:
                self.ev(aid, "QUEUE_RUN", device_id=dev, specimen_id=sid)
        for sid, s in sorted(specs.items()):
            if (s["loc_kind"], s["loc_id"], s["status"]) != ("zone", here, "ACCEPTED"):
                continue
            if s["site_id"] != "SITE_HUB" or not s["pending_panels"]:
                continue
            dev = _target_device(s)
            if self.zone_of(dev) == here:
                self.ev(aid, "QUEUE_RUN", device_id=dev, specimen_id=sid)
            else:
                self.ev(aid, "PICK_UP", specimen_id=sid)
        agent = self.q("agent", aid)
        specs = self.q("specimens")
        dest = None
        if agent["carrying"]:
            dest = self.zone_of(_target_device(specs[agent["carrying"][0]]))
        else:
            for z in pickup_zones:
                if any(
                    (s["loc_kind"], s["loc_id"], s["status"]) == ("zone", z, "ACCEPTED")
                    and s["pending_panels"]
                    and self.zone_of(_target_device(s)) != z
                    for s in specs.values()
                ):
                    dest = z
                    break
        if dest is not None and dest != here:
            self.goto(aid, dest)

    def operator(self, aid: str, devices: tuple[str, ...], *, can_repair: bool) -> None:
        if self.q("agent", aid)["zone"] is None:
            return
        for did in devices:
            d = self.q("device", did)
            if d["state"] == "FAULT":
                if can_repair and not d["repairing"]:
                    self.ev(aid, "REPAIR_DEVICE", device_id=did)
                continue
            if d["state"] == "MAINT":
                continue
            zone = self.q("agent", aid)["zone"]
            for sid, s in sorted(self.q("specimens").items()):
                if (
                    (s["loc_kind"], s["loc_id"], s["status"]) == ("zone", zone, "ACCEPTED")
                    and s["pending_panels"]
                    and _target_device(s) == did
                ):
                    self.ev(aid, "QUEUE_RUN", device_id=did, specimen_id=sid)
            d = self.q("device", did)
            while d["queue"] and (not d["runs"] if d["batch"] else len(d["runs"]) < d["capacity"]):
                if self.ev(aid, "START_RUN", device_id=did)["status"] != "ACCEPTED":
                    break
                d = self.q("device", did)

    def acute_runner(self, aid: str = "A_RUNNER_03") -> None:
        agent = self.q("agent", aid)
        if agent["zone"] is None:
            return
        specs = self.q("specimens")
        waiting = sorted(
            sid
            for sid, s in specs.items()
            if s["site_id"] == "SITE_ACUTE"
            and s["loc_kind"] == "zone"
            and s["loc_id"] == "Z_ACUTE_RECEPTION"
            and s["status"] in ("ARRIVED", "ACCEPTED")
        )
        if waiting and (self.t < 60 or not agent["carrying"]):
            if self.goto(aid, "Z_ACUTE_RECEPTION"):
                for sid in waiting:
                    if specs[sid]["status"] == "ACCEPTED":
                        self.ev(aid, "PICK_UP", specimen_id=sid)
            return
        if agent["carrying"] and self.goto(aid, "Z_ACUTE_DISPATCH"):
            cid = f"C{len(self.consignments) + 1:03d}"
            out = self.ev(
                aid,
                "DISPATCH_TRANSPORT",
                consignment_id=cid,
                route_id="R_ACUTE_TO_HUB",
                specimen_ids=list(agent["carrying"]),
            )
            if out["status"] == "ACCEPTED":
                self.consignments.append(cid)

    def dock_runner(self, aid: str = "A_RUNNER_02") -> None:
        pending = [c for c in self.consignments if self.q("consignment", c)["status"] != "RECEIVED"]
        agent = self.q("agent", aid)
        if pending and not agent["carrying"]:
            if self.goto(aid, "Z_DISPATCH"):
                for cid in pending:
                    if self.q("consignment", cid)["status"] == "ARRIVED":
                        self.ev(aid, "RECEIVE_TRANSPORT", consignment_id=cid)
            return
        self.hub_runner(aid, ("Z_DISPATCH",))

    def scientist(self, aid: str = "A_SCIENTIST_01") -> None:
        tiers = self.e.world.ladder["tiers"]
        for rid, r in sorted(self.q("results").items()):
            if r["status"] != "READY":
                continue
            if r["critical"] and r["crit_state"] != "ACKED":
                if r["crit_state"] == "PENDING":
                    self.ev(aid, "NOTIFY_CRITICAL", result_id=rid, channel="PHONE")
                self.ev(
                    aid,
                    "ACK_CRITICAL",
                    result_id=rid,
                    receiver_name="Dr Example",
                    receiver_role=tiers[r["crit_tier"] - 1]["recipient_role"],
                    read_back=critical_readback(r["values"], r["critical_analytes"]),
                )
            self.ev(aid, "RELEASE_RESULT", result_id=rid)

    # -- episode ------------------------------------------------------------------------
    def done(self) -> bool:
        if self.t < 120:
            return False
        specs = self.q("specimens")
        for s in specs.values():
            if s["status"] == "REJECTED" or s["aliquoted"]:
                continue
            if s["status"] != "ANALYZED":
                return False
        return all(r["status"] in ("RELEASED", "SUPERSEDED") for r in self.q("results").values())

    def tick(self) -> None:
        self.ev("A_SUPERVISOR_01", "TICK")
        self.reception("A_RECEPTION_01")
        self.reception("A_RECEPTION_02")
        self.acute_runner()
        self.dock_runner()
        self.hub_runner("A_RUNNER_01", ("Z_RECEPTION", "Z_PREANALYTICS"))
        self.operator(
            "A_PREANA_01", ("DEV_CENTRIFUGE_0001", "DEV_ALIQUOTER_0001"), can_repair=False
        )
        self.operator(
            "A_ANALYTICS_01",
            ("DEV_CHEM_0001", "DEV_CHEM_0002", "DEV_HAEM_0001", "DEV_COAG_0001"),
            can_repair=True,
        )
        self.scientist()

    def run(self, horizon: float = 4200.0, dt: float = 15.0) -> None:
        while self.t <= horizon:
            self.tick()
            if self.done():
                break
            self.t += dt
        self.epilogue()

    def epilogue(self) -> None:
        """Trust skeleton: restricted door with a token, kill switch, revocation, audit."""
        self.t += 15.0
        self.ev(
            "A_SUPERVISOR_01",
            "ISSUE_TOKEN",
            token_id="TOK-AIRLOCK-1",
            token_type="RESTRICTED_ENTRY",
            subject_agent_id="A_ANALYTICS_01",
            approvers=["A_SUPERVISOR_01"],
            scope={"zones": ["Z_BIOBANK"]},
        )
        if self.q("agent", "A_ANALYTICS_01")["zone"] == "Z_ANALYTICS":
            self.ev(
                "A_ANALYTICS_01",
                "OPEN_DOOR",
                token_refs=["TOK-AIRLOCK-1"],
                door_id="D_BIOBANK_AIRLOCK",
            )
            self.ev("A_ANALYTICS_01", "MOVE", to_zone="Z_BIOBANK")
        self.t += 75.0  # beyond the airlock's max_open_s: alarm, kill switch, frozen zones
        self.ev("A_SUPERVISOR_01", "TICK")
        self.ev("A_PREANA_01", "MOVE", to_zone="Z_ANALYTICS")  # frozen by the kill switch
        self.ev("A_ANALYTICS_01", "CLOSE_DOOR", door_id="D_BIOBANK_AIRLOCK")
        for zone in self.q("frozen_zones"):
            self.ev("A_SUPERVISOR_01", "CLEAR_FREEZE", zone_id=zone)
        self.ev("A_SUPERVISOR_01", "REVOKE_KEY", key_id=key_id_of("A_RUNNER_03"))
        self.ev("A_RUNNER_03", "MOVE", to_zone="Z_ACUTE_RECEPTION")  # revoked key: blocked
        self.ev("A_SUPERVISOR_01", "VERIFY_AUDIT")
        self.t += 15.0
        self.ev("A_SUPERVISOR_01", "TICK")


def run_scenario(
    seed: int = 0,
    timing_mode: str = "explicit",
    *,
    strict_signatures: bool = False,
    horizon: float = 4200.0,
) -> tuple[LabEngine, Driver]:
    """Play the whole episode; returns the engine and the driver (events, outcomes)."""
    engine = LabEngine()
    engine.reset(initial_state(timing_mode, strict_signatures=strict_signatures), seed=seed)
    driver = Driver(engine)
    driver.run(horizon=horizon)
    return engine, driver
