"""Corridor capacity: ``capacity`` on zone-layout edges, ``edge_load``, ``EDGE_CONGESTED``.

An edge with a capacity admits at most that many agents in transit at once, both directions
together; the load rises when a MOVE starts and falls on arrival. The check runs after
RBAC, frozen zones and doors; a blocked MOVE changes nothing; checkpoints carry the load.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from _scenario import world_state

from labtrust_gym.cli.main import main
from labtrust_gym.config import get_policy_dir
from labtrust_gym.engine import LabEngine
from labtrust_gym.errors import ConfigError, UnknownIdError
from labtrust_gym.policy.loader import POLICY_FILES, load_yaml
from labtrust_gym.policy.validate import validate_policy_dir
from labtrust_gym.rng import stream

REC, COR, PRE, ANA, STO = "Z_RECEPTION", "Z_CORRIDOR", "Z_PREANALYTICS", "Z_ANALYTICS", "Z_STORES"
RC = (COR, REC)  # sorted key of the reception - corridor edge


def _edges(**caps: int) -> list[dict[str, Any]]:
    """The shipped edges, with ``capacity`` set on the edges named ``A__B`` in ``caps``."""
    doc = load_yaml(Path(get_policy_dir()) / POLICY_FILES["zone_layout"])
    out = []
    for e in doc["edges"]:
        e = dict(e)
        for name, cap in caps.items():
            a, b = name.split("__")
            if {e["a"], e["b"]} == {a, b}:
                e["capacity"] = cap
        out.append(e)
    return out


def _init(agents: list[tuple[str, str, str]], **caps: int) -> dict[str, Any]:
    return {
        "agents": [{"agent_id": a, "role": r, "zone": z} for a, r, z in agents],
        "effective_policy": {"zone_layout": {"edges": _edges(**caps)}},
    }


class Lab:
    def __init__(self, init: dict[str, Any], seed: int = 0) -> None:
        self.e = LabEngine()
        self.e.reset(init, seed=seed)
        self.n = 0
        self.step(next(iter(self.e.agents)), "NOOP", 0.0)  # the one-off first-step flag

    def step(self, agent: str, action: str, t: float | None = None, **args: Any) -> Any:
        self.n += 1
        return self.e.step(
            {
                "event_id": f"e{self.n}",
                "t_s": self.e.now if t is None else t,
                "agent_id": agent,
                "action_type": action,
                "args": args,
            }
        )

    def move(self, agent: str, to: str, t: float | None = None) -> tuple[str, str | None]:
        out = self.step(agent, "MOVE", t, to_zone=to)
        return out["status"], out["blocked_reason_code"]


OK = ("ACCEPTED", None)
CONGESTED = ("BLOCKED", "EDGE_CONGESTED")


# ------------------------------------------------------------------- compilation ---
def test_shipped_layout_is_unlimited_and_overlay_capacities_compile_to_sorted_keys() -> None:
    e = LabEngine()
    assert e.world.edge_capacity == {}
    assert e.edge_free(REC, COR) is None
    e.reset(_init([("A1", "ROLE_RUNNER", REC)], Z_RECEPTION__Z_CORRIDOR=2, Z_CORRIDOR__Z_STORES=1))
    assert e.world.edge_capacity == {RC: 2, (COR, STO): 1}
    assert e.edge_free(REC, COR) == e.edge_free(COR, REC) == 2
    assert e.edge_free(STO, COR) == 1
    assert e.edge_free(COR, PRE) is None


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_engine_rejects_a_bad_capacity_naming_the_edge(bad: Any) -> None:
    init = _init([("A1", "ROLE_RUNNER", REC)])
    init["effective_policy"]["zone_layout"]["edges"][0]["capacity"] = bad
    with pytest.raises(ConfigError, match=r"edge Z_RECEPTION-Z_CORRIDOR: capacity must be"):
        LabEngine().reset(init)


def test_edge_free_rejects_zones_that_are_not_adjacent() -> None:
    e = LabEngine()
    with pytest.raises(UnknownIdError, match="no edge"):
        e.edge_free(REC, ANA)
    with pytest.raises(UnknownIdError, match="no edge"):
        e.edge_free("Z_MOON", REC)


# ----------------------------------------------------------------------- the rule ---
def test_capacity_one_blocks_both_directions_until_arrival() -> None:
    lab = Lab(
        _init(
            [("R1", "ROLE_RUNNER", REC), ("R2", "ROLE_RUNNER", REC), ("R3", "ROLE_RUNNER", COR)],
            Z_RECEPTION__Z_CORRIDOR=1,
        )
    )
    e = lab.e
    assert lab.move("R1", COR) == OK
    assert e.edge_load == {RC: 1}
    assert e.edge_free(REC, COR) == 0
    before = world_state(e)
    assert lab.move("R2", COR) == CONGESTED  # same direction
    assert lab.move("R3", REC) == CONGESTED  # opposite direction shares the capacity
    assert world_state(e) == before  # blocked moves changed nothing (edge_load included)
    assert lab.move("R3", STO) == OK  # an unlimited edge: counted, never blocked
    assert e.edge_load == {RC: 1, (COR, STO): 1}
    assert lab.move("R2", COR, t=9.9) == CONGESTED
    assert lab.move("R2", COR, t=10.0) == OK  # R1 (and R3) arrived at 10, before the check
    assert (e.agents["R1"].zone, e.agents["R3"].zone) == (COR, STO)
    assert e.edge_load == {RC: 1}
    lab.step("R1", "TICK", 20.0)  # R2 in the corridor at 20
    assert e.edge_load == {}  # no zero entries are kept
    assert e.edge_free(REC, COR) == 1


def test_capacity_counts_up_to_the_limit() -> None:
    agents = [(f"R{i}", "ROLE_RUNNER", COR) for i in range(4)]
    lab = Lab(_init(agents, Z_CORRIDOR__Z_PREANALYTICS=3))
    assert [lab.move(f"R{i}", PRE) for i in range(4)] == [OK, OK, OK, CONGESTED]
    assert lab.e.edge_load == {(COR, PRE): 3}
    assert lab.e.query("edges", PRE)[f"{COR}-{PRE}"] == {
        "a": COR,
        "b": PRE,
        "travel_s": 10.0,
        "capacity": 3,
        "load": 3,
        "free": 0,
    }


def test_capacity_is_checked_after_rbac_frozen_zones_and_doors() -> None:
    agents = [
        ("QC", "ROLE_QC", COR),
        ("R1", "ROLE_RUNNER", COR),
        ("AN", "ROLE_ANALYTICS", ANA),
    ]
    lab = Lab(_init(agents, Z_RECEPTION__Z_CORRIDOR=1, Z_ANALYTICS__Z_BIOBANK=1))
    e = lab.e
    # Fill both limited edges without anyone walking them.
    e.edge_load[RC] = 1
    e.edge_load[(ANA, "Z_BIOBANK")] = 1
    assert lab.move("QC", REC) == ("BLOCKED", "RBAC_ZONE_DENIED")
    assert lab.move("AN", "Z_BIOBANK") == ("BLOCKED", "DOOR_CLOSED")
    e.frozen_zones.add(REC)
    assert lab.move("R1", REC) == ("BLOCKED", "ZONE_FROZEN")
    e.frozen_zones.discard(REC)
    assert lab.move("R1", REC) == CONGESTED
    # Earlier checks still win: in transit, same zone, not adjacent.
    assert lab.move("R1", COR) == ("BLOCKED", "ZONE_SAME")
    assert lab.move("R1", ANA) == OK
    assert lab.move("R1", COR) == ("BLOCKED", "AGENT_IN_TRANSIT")


def test_load_always_equals_agents_in_transit_and_never_exceeds_capacity() -> None:
    """Random walks of 24 runners over a layout with tight capacities."""
    caps = {
        "Z_RECEPTION__Z_CORRIDOR": 2,
        "Z_CORRIDOR__Z_PREANALYTICS": 1,
        "Z_CORRIDOR__Z_ANALYTICS": 3,
        "Z_PREANALYTICS__Z_ANALYTICS": 2,
    }
    zones = (REC, COR, PRE, ANA, STO)
    agents = [(f"R{i:02d}", "ROLE_RUNNER", zones[i % len(zones)]) for i in range(24)]
    lab = Lab(_init(agents, **caps))
    e = lab.e
    rng = stream(3, "misc")
    congested = 0
    t = 0.0
    for _ in range(3000):
        t += float(rng.choice([0.0, 0.0, 1.0, 2.5]))
        aid = agents[int(rng.integers(len(agents)))][0]
        here = e.agents[aid].zone
        if here is None:
            lab.step(aid, "NOOP", t)
        else:
            nbs = sorted(e.world.adjacency[here])
            to = nbs[int(rng.integers(len(nbs)))]
            free = e.edge_free(here, to)
            status = lab.move(aid, to, t)
            # edge_free was read before the clock advanced: arrivals may have freed places.
            if status == CONGESTED:
                congested += 1
                assert free == 0
                assert e.edge_free(here, to) == 0
            elif free == 0:
                assert status == OK  # someone arrived in between
        expected: dict[tuple[str, str], int] = {}
        for a in e.agents.values():
            if a.transit_to is not None:
                lo, hi = sorted((a.from_zone, a.transit_to))
                expected[(lo, hi)] = expected.get((lo, hi), 0) + 1
        assert e.edge_load == expected
        for key, cap in e.world.edge_capacity.items():
            assert e.edge_load.get(key, 0) <= cap
    assert congested > 50  # the capacities did bind


# -------------------------------------------------------------------- checkpoints ---
#: Moves over a capacity-1 reception - corridor edge (several are congested).
PLAN = [
    ("R1", COR, 0.0),
    ("R2", COR, 1.0),
    ("R3", REC, 2.0),
    ("R2", COR, 10.0),
    ("R1", REC, 12.0),
    ("R3", REC, 20.0),
    ("R1", REC, 21.0),
    ("R2", STO, 30.0),
    ("R1", REC, 31.0),
]


def _play(lab: Lab, plan: list[tuple[str, str, float]]) -> list[Any]:
    return [lab.step(a, "MOVE", t, to_zone=z) for a, z, t in plan]


def test_checkpoint_resume_keeps_the_edge_load_and_gives_the_same_log() -> None:
    agents = [("R1", "ROLE_RUNNER", REC), ("R2", "ROLE_RUNNER", REC), ("R3", "ROLE_RUNNER", COR)]
    init = _init(agents, Z_RECEPTION__Z_CORRIDOR=1)
    ref = Lab(init)
    outs = _play(ref, PLAN)
    assert [o["blocked_reason_code"] for o in outs].count("EDGE_CONGESTED") == 4
    assert all(o["status"] == "ACCEPTED" for o in outs if o["blocked_reason_code"] is None)
    loads_seen = set()
    for split in range(1, len(PLAN)):
        a = Lab(init)
        head = _play(a, PLAN[:split])
        cp = a.e.state_dict()
        assert cp["edge_load"] == a.e.edge_load
        loads_seen.add(cp["edge_load"].get(RC, 0))
        b = Lab(init)  # a used engine: the checkpoint replaces everything
        b.e.load_state_dict(copy.deepcopy(cp))
        b.n = a.n
        assert b.e.edge_load == a.e.edge_load and b.e.edge_load is not a.e.edge_load
        tail = _play(b, PLAN[split:])
        assert head + tail == outs, split
        assert b.e.audit.to_jsonl() == ref.e.audit.to_jsonl(), split
        assert world_state(b.e) == world_state(ref.e), split
    assert loads_seen == {0, 1}  # checkpoints taken with the corridor full and empty


def test_checkpoint_without_edge_load_is_rebuilt_from_agents_in_transit() -> None:
    agents = [("R1", "ROLE_RUNNER", REC), ("R2", "ROLE_RUNNER", COR), ("R3", "ROLE_RUNNER", COR)]
    lab = Lab(_init(agents, Z_RECEPTION__Z_CORRIDOR=2))
    assert lab.move("R1", COR) == OK
    assert lab.move("R2", REC) == OK
    assert lab.move("R3", STO) == OK
    cp = lab.e.state_dict()
    del cp["edge_load"]  # as written before corridor capacities existed
    b = LabEngine()
    b.load_state_dict(cp)
    assert b.edge_load == {RC: 2, (COR, STO): 1}


# --------------------------------------------------------------------- the query ---
def test_edges_query_lists_every_edge_once_and_filters_by_zone() -> None:
    e = LabEngine()
    e.reset(_init([("R1", "ROLE_RUNNER", COR)], Z_CORRIDOR__Z_STORES=2))
    edges = e.query("edges")
    assert len(edges) == 10  # the shipped layout's edges
    assert all(v["a"] < v["b"] and k == f"{v['a']}-{v['b']}" for k, v in edges.items())
    around = e.query("edges", STO)
    assert list(around) == [f"{COR}-{STO}"]
    assert around[f"{COR}-{STO}"]["free"] == 2
    with pytest.raises(UnknownIdError):
        e.query("edges", "Z_MOON")


# ----------------------------------------------------------------- policy schema ---
def test_validate_policy_rejects_capacity_below_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dst = tmp_path / "policy"
    shutil.copytree(get_policy_dir(), dst)
    path = dst / POLICY_FILES["zone_layout"]
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["edges"][1]["capacity"] = 0
    doc["edges"][2]["capacity"] = 2
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    problems = validate_policy_dir(dst)
    assert len(problems) == 1, problems
    file, where, msg = problems[0]
    assert file == str(path)
    assert where == "edges[1].capacity"
    assert ">= 1" in msg and "0" in msg
    assert main(["validate-policy", "--policy-dir", str(dst)]) == 1
    out = capsys.readouterr().out
    assert f"{path}: edges[1].capacity:" in out
    # A valid capacity passes.
    doc["edges"][1]["capacity"] = 1
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    assert validate_policy_dir(dst) == []
