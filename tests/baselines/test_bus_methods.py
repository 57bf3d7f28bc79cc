"""Every built-in method coordinates through the signed bus and acts on what it received."""

from __future__ import annotations

from typing import Any

import pytest

from labtrust_gym.baselines.coordination.comms import Knowledge, TeamComms
from labtrust_gym.baselines.coordination.registry import BUILTIN_METHODS
from labtrust_gym.benchmarks.runner import run_episode
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.coordination.bus import SignedMessageBus
from labtrust_gym.coordination.identities import site_channel
from labtrust_gym.coordination.injections import InjectionContext, RiskInjection
from labtrust_gym.coordination.network import NetworkModel, NetworkPolicy
from labtrust_gym.engine.signatures import private_key_from_bytes
from labtrust_gym.rng import stream

METHODS = sorted(BUILTIN_METHODS)
#: The coordination traffic each method must put on the bus (besides heartbeats).
TRAFFIC = {
    "scripted_team": {"ASSIGN", "CLAIM"},
    "centralized_planner": {"ASSIGN", "CLAIM"},
    "whca_router": {"ASSIGN", "CLAIM"},
    "market_auction": {"BID", "AWARD", "CLAIM"},
    "hierarchical_hub": {"REPORT", "ASSIGN", "CLAIM"},
    "gossip_consensus": {"CLAIM"},
    "swarm_stigmergy": {"MARK"},
    "llm_dispatcher": {"ASSIGN", "CLAIM"},  # the offline model's assignments, by the desks
}


class Blackout(RiskInjection):
    """Every message is lost."""

    def network_overrides(self, ctx: InjectionContext) -> dict[str, Any]:
        return {"drop_rate": 1.0}


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, str], dict[str, Any]]:
    task = get_task("coord_scale")(scale_config="small_8")
    env = task.make_env()
    out = {}
    for mid in METHODS:
        out[(mid, "nominal")], _ = run_episode(task, 3, coord_method=mid, env=env)
        out[(mid, "blackout")], _ = run_episode(
            task, 3, coord_method=mid, env=env, injection=Blackout()
        )
    return out


def test_traffic_covers_the_protocol_of_the_method() -> None:
    assert set(TRAFFIC) == set(METHODS)


@pytest.mark.parametrize("method_id", METHODS)
def test_each_method_coordinates_over_the_bus(
    method_id: str, runs: dict[tuple[str, str], dict[str, Any]]
) -> None:
    m = runs[(method_id, "nominal")]
    sent = m["bus.published_by_type"]
    assert TRAFFIC[method_id] <= set(sent), sent
    assert m["comm.msg_count"] == sum(sent.values()) > 0
    assert m["bus.rejected"] == 0 and m["bus.accepted"] == m["comm.delivered"]
    assert m["coordination.method.alerts"] == 0  # a nominal network raises no alarm
    assert m["throughput"] > 0


@pytest.mark.parametrize("method_id", METHODS)
def test_runners_act_on_what_reached_them_and_fall_back_without(
    method_id: str, runs: dict[tuple[str, str], dict[str, Any]]
) -> None:
    """With every message lost nothing coordinates the runners but what they see: no order
    is ever adopted, runners pick their own trips, the lab still runs, and differently."""
    nominal, dark = runs[(method_id, "nominal")], runs[(method_id, "blackout")]
    assert dark["comm.delivered"] == 0
    assert dark["coordination.method.orders_adopted"] == 0
    if method_id != "swarm_stigmergy":  # the swarm follows marks, it takes no trips
        assert dark["coordination.method.fallback_trips"] > 0
    if method_id not in ("gossip_consensus", "swarm_stigmergy"):
        assert nominal["coordination.method.orders_adopted"] > 0
    assert dark["throughput"] > 0
    assert dark["audit_head_hash"] != nominal["audit_head_hash"]


def test_the_coordination_tasks_default_team_is_scripted_team_over_the_bus() -> None:
    task = get_task("coord_scale")(scale_config="small_8")
    m, _ = run_episode(task, 3)
    assert m["coord_method"] == "scripted_team"
    assert m["comm.msg_count"] > 0 and m["bus.published_by_type"]["ASSIGN"] > 0
    again, _ = run_episode(get_task("coord_scale")(scale_config="small_8"), 3)
    assert again["audit_head_hash"] == m["audit_head_hash"]  # deterministic
    random, _ = run_episode(task, 3, controller="random")
    assert "coord_method" not in random  # --controller random keeps its own controller


def test_orders_go_out_only_when_there_is_something_new(
    runs: dict[tuple[str, str], dict[str, Any]],
) -> None:
    m = runs[("scripted_team", "nominal")]
    assigns = m["bus.published_by_type"]["ASSIGN"]
    # One site: at most one ASSIGN per step, none without an order in it.
    assert 0 < assigns <= m["steps"]
    assert m["coordination.method.orders_sent"] >= assigns
    bids = runs[("market_auction", "nominal")]["bus.published_by_type"]["BID"]
    runners = 2
    assert bids < runners * m["steps"] / 2  # standing bids: sent when they change


# --------------------------------------------------------------------- boards ---------
ROLES = {f"A_R{i}": "ROLE_RUNNER" for i in range(4)} | {"C_S1": "ROLE_COORDINATOR"}


def _bus(partitions: list[dict[str, Any]]) -> SignedMessageBus:
    rng = stream(0, "keys")
    keys = {a: (f"K_{a}", private_key_from_bytes(rng.bytes(32))) for a in sorted(ROLES)}
    pol = NetworkPolicy.from_dict(
        {"delay_p50_ms": 2.0, "delay_p95_ms": 8.0, "drop_rate": 0.0, "partitions": partitions}
    )
    net = NetworkModel(pol, stream(0, "network"), agent_sites=dict.fromkeys(ROLES, "S1"))
    return SignedMessageBus(net, keys, ROLES, episode_id="e")  # type: ignore[arg-type]


def test_a_board_holds_exactly_what_each_of_its_readers_received() -> None:
    """Boards stand for the agents a partition treats alike: their content is what each
    of those agents' own receive() returns (plus what the agent itself sent)."""
    bus = _bus([{"start_ms": 0, "end_ms": 5000, "groups": [["A_R0", "A_R1"]]}])
    comms = TeamComms(bus)
    comms.reset(dict.fromkeys(ROLES, "S1"), {"S1": ["C_S1"]})
    assert len(comms.boards) == 2
    assert comms.board_of["A_R0"] is comms.board_of["A_R1"]
    assert comms.board_of["A_R2"] is comms.board_of["C_S1"] is not comms.board_of["A_R0"]
    ch = site_channel("S1")
    for a in ROLES:
        bus.subscribe(a, ch)
    for i, a in enumerate(sorted(r for r in ROLES if r.startswith("A_"))):
        comms.publish(a, "CLAIM", {"zone": "Z", "keys": [f"S{i}"], "prio": [1.0, 0.0]}, 100.0)
    comms.publish("C_S1", "ASSIGN", {"orders": [["A_R3", "Z", ["S9"], None, False]]}, 200.0)
    comms.deliver(1000.0)
    comms.sync(1000.0)
    for a in ROLES:
        board = comms.board_of[a]
        got = {k for m in bus.receive(a) for k in (m.payload.get("keys") or ())}
        got |= {r[2][0] for m in bus.receive(a) for r in (m.payload.get("orders") or ())}
        heard = {k for k, owner in board.owner.items() if owner != a}
        # Orders name their runner as holder: count those the agent heard from the desk.
        assert heard - {k for k, o in board.owner.items() if o == a} <= got | {"S9"}
    left, right = comms.board_of["A_R0"], comms.board_of["A_R2"]
    assert set(left.owner) == {"S0", "S1"}  # cut off from the others and from the desk
    assert set(right.owner) == {"S2", "S3", "S9"}
    assert right.orders["A_R3"][0].sids == ("S9",)
    assert "A_R3" not in left.orders


def test_holdings_follow_the_rule_every_board_applies() -> None:
    bus = _bus([])
    comms = TeamComms(bus, order_ttl_s=30.0)
    comms.reset(dict.fromkeys(ROLES, "S1"), {})
    pub = comms.publish
    pub("A_R0", "CLAIM", {"zone": "Z", "keys": ["S1"], "prio": [2.0, 5.0]}, 0.0)
    pub("A_R1", "CLAIM", {"zone": "Z", "keys": ["S1"], "prio": [1.0, 9.0]}, 0.0)  # better
    pub("A_R2", "CLAIM", {"zone": "Z", "keys": ["S2"], "prio": [0.0, 1.0]}, 0.0)
    pub("C_S1", "ASSIGN", {"orders": [["A_R3", "Z", ["S2"], None, False]]}, 0.0)  # order wins
    pub("A_R2", "CLAIM", {"zone": "Z", "keys": ["S2"], "prio": [0.0, 0.0]}, 1.0)
    pub("C_S1", "ASSIGN", {"orders": [["A_R0", "Z", ["S3"], None, False]]}, 2.0)
    pub("A_R0", "CLAIM", {"zone": "Z", "keys": ["S3"], "prio": [0.0, 3.0]}, 3.0)  # the ack
    comms.deliver(100.0)
    comms.sync(100.0)
    b = comms.boards[0]
    assert b.owner == {"S1": "A_R1", "S2": "A_R3", "S3": "A_R0"}
    assert b.holds("A_R0") and not b.holds("A_R2")
    pub("A_R0", "RELEASE", {"keys": ["S3"]}, 200.0)
    pub("A_R2", "RELEASE", {"keys": ["S1"]}, 200.0)  # not its to release
    comms.deliver(300.0)
    comms.sync(300.0)
    assert b.owner == {"S1": "A_R1", "S2": "A_R3"}
    mine = Knowledge(b.owner, {"S7": "A_R2"})
    assert mine.get("S1") == "A_R1" and mine.get("S7") == "A_R2" and "S2" in mine
    del mine["S2"]  # hides it from this agent's view only
    assert "S2" not in mine and b.owner["S2"] == "A_R3"
    assert sorted(mine) == ["S1", "S7"]


# --------------------------------------------------------------------- same-step claims --
def test_claims_views_keep_rooms_apart_and_share_the_lab_information_system() -> None:
    from labtrust_gym.baselines.coordination.bus_dispatch import Claims

    lis: set[str] = set()
    room_a: set[str] = set()
    room_b: set[str] = set()
    runner_a, runner_b = Claims(room_a, lis), Claims(room_b, lis)
    operator_a = Claims(lis, room_a)
    runner_a.add("S1")  # a runner's claim is seen in its room only
    assert "S1" in operator_a and "S1" not in runner_b
    operator_a.add("S2")  # a locked work item is seen by everyone
    assert "S2" in runner_a and "S2" in runner_b
    runner_b.update(["S3"])
    assert "S3" in room_b and "S3" not in lis


@pytest.mark.parametrize("method_id", METHODS)
def test_no_two_agents_act_on_one_item_in_a_step(method_id: str) -> None:
    """Operators, scientists and runners of a 75-agent, two-site lab never collide on a
    tube, result or device within a step (room claims plus the locks of the lab
    information system); with room claims alone some tube is claimed twice."""
    from labtrust_gym.benchmarks.coordination_scale import load_scale_config_by_id

    cfg = load_scale_config_by_id(None, "medium_stress_signed_bus").sanitized()
    cfg.pop("config_id")
    cfg["horizon_steps"] = 100
    m, _ = run_episode(get_task("coord_scale")(scale_config=cfg), 1, coord_method=method_id)
    assert m["blocked"] == 0, m["blocked_by_reason_code"]
