"""Restocking is a logistics job: a pack is fetched from the site stores, carried, loaded.

RESTOCK_REAGENT {device_id, reagent_id} at a stores zone of the device's site draws one
pack (``restock_units``, at most what the stores hold) into the agent's hands; at the
device it loads a carried pack. Stock-outs are timed on the device.
"""

from __future__ import annotations

from typing import Any

import pytest
from _scenario import world_state

from labtrust_gym.engine import LabEngine
from labtrust_gym.errors import ConfigError

CHEM, UE = "DEV_CHEM_0001", "RG_CHEM_UE"


class _Run:
    def __init__(self, engine: LabEngine) -> None:
        self.e = engine
        self.n = 0

    def __call__(self, t: float, agent: str, action: str, **args: Any) -> dict[str, Any]:
        self.n += 1
        return self.e.step(
            {
                "event_id": f"e{self.n}",
                "t_s": t,
                "agent_id": agent,
                "action_type": action,
                "args": args,
            }
        )


def _engine(init: dict[str, Any] | None = None) -> tuple[LabEngine, _Run]:
    e = LabEngine()
    e.reset(init or {}, seed=0)
    return e, _Run(e)


def test_fetch_at_stores_carry_and_load_at_the_analyzer() -> None:
    e, run = _engine({"devices": {CHEM: {"reagents": {UE: 0}}}})
    store0 = e.inventory["SITE_HUB"][UE]
    units = int(e.world.reagents[UE]["restock_units"])
    # Nothing to load yet: the restock needs a pack in hand.
    assert (
        run(0, "A_ANALYTICS_01", "RESTOCK_REAGENT", device_id=CHEM, reagent_id=UE)[
            "blocked_reason_code"
        ]
        == "REAGENT_NOT_CARRIED"
    )
    # A runner walks to the stores (corridor -> stores: 10 s) and draws a pack.
    assert run(0, "A_RUNNER_02", "MOVE", to_zone="Z_STORES")["status"] == "ACCEPTED"
    out = run(10, "A_RUNNER_02", "RESTOCK_REAGENT", device_id=CHEM, reagent_id=UE)
    assert out["status"] == "ACCEPTED" and out["emits"][-1] == "REAGENT_PACK_FETCHED"
    assert e.inventory["SITE_HUB"][UE] == store0 - units
    assert e.agents["A_RUNNER_02"].packs == [(UE, units)]
    assert e.devices[CHEM].reagents[UE] == 0  # nothing on board until it is loaded
    assert [list(p) for p in e.query("agent", "A_RUNNER_02")["packs"]] == [[UE, units]]
    # Carried to the analyzer: stores -> corridor (10 s) -> analytics (20 s).
    assert run(10, "A_RUNNER_02", "MOVE", to_zone="Z_CORRIDOR")["status"] == "ACCEPTED"
    assert run(20, "A_RUNNER_02", "MOVE", to_zone="Z_ANALYTICS")["status"] == "ACCEPTED"
    out = run(40, "A_RUNNER_02", "RESTOCK_REAGENT", device_id=CHEM, reagent_id=UE)
    assert out["status"] == "ACCEPTED" and out["emits"][-1] == "REAGENT_RESTOCKED"
    assert e.devices[CHEM].reagents[UE] == units
    assert e.agents["A_RUNNER_02"].packs == []
    # The stock-out lasted from the start of the episode to the load.
    assert e.devices[CHEM].stockout_s == {UE: 40.0}


def test_where_and_who_may_restock() -> None:
    e, run = _engine()
    # Not at the device and not at its site's stores.
    assert (
        run(0, "A_RUNNER_02", "RESTOCK_REAGENT", device_id=CHEM, reagent_id=UE)[
            "blocked_reason_code"
        ]
        == "AGENT_NOT_COLOCATED"
    )
    # The acute site has no stores zone: a hub stores cannot serve its analyzers.
    run(0, "A_RUNNER_02", "MOVE", to_zone="Z_STORES")
    assert (
        run(
            10,
            "A_RUNNER_02",
            "RESTOCK_REAGENT",
            device_id="DEV_HAEM_0002",
            reagent_id="RG_HAEM_FBC",
        )["blocked_reason_code"]
        == "AGENT_NOT_COLOCATED"
    )
    assert (
        run(10, "A_RUNNER_02", "RESTOCK_REAGENT", device_id=CHEM, reagent_id="RG_HAEM_FBC")[
            "blocked_reason_code"
        ]
        == "REAGENT_UNKNOWN"
    )
    assert run(10, "A_RUNNER_02", "RESTOCK_REAGENT", device_id=CHEM)["blocked_reason_code"] == (
        "ARGS_MISSING"
    )
    # The supervisor may enter the stores but may not restock.
    for z in ("Z_CORRIDOR", "Z_STORES"):
        run(e.now, "A_SUPERVISOR_01", "MOVE", to_zone=z)
        run(e.now + 10, "A_SUPERVISOR_01", "TICK")
    assert e.agents["A_SUPERVISOR_01"].zone == "Z_STORES"
    assert (
        run(e.now, "A_SUPERVISOR_01", "RESTOCK_REAGENT", device_id=CHEM, reagent_id=UE)[
            "blocked_reason_code"
        ]
        == "RBAC_ACTION_DENIED"
    )


def test_stores_limit_what_can_be_fetched_and_hands_limit_packs() -> None:
    init = {"effective_policy": {"reagent_policy": {"stores_inventory": {"SITE_HUB": {UE: 50}}}}}
    e, run = _engine(init)
    assert e.world.max_packs_carried == 2
    run(0, "A_RUNNER_02", "MOVE", to_zone="Z_STORES")
    fetch = {"device_id": CHEM, "reagent_id": UE}
    assert run(10, "A_RUNNER_02", "RESTOCK_REAGENT", **fetch)["status"] == "ACCEPTED"
    assert run(10, "A_RUNNER_02", "RESTOCK_REAGENT", **fetch)["status"] == "ACCEPTED"
    assert e.agents["A_RUNNER_02"].packs == [(UE, 40), (UE, 10)]  # the last 10 units
    assert e.inventory["SITE_HUB"][UE] == 0
    before = world_state(e)
    out = run(10, "A_RUNNER_02", "RESTOCK_REAGENT", **fetch)
    assert out["blocked_reason_code"] == "REAGENT_INVENTORY_EMPTY" and world_state(e) == before
    # Two packs in hand is the most one agent carries.
    e, run = _engine()
    run(0, "A_RUNNER_02", "MOVE", to_zone="Z_STORES")
    for _ in range(2):
        assert run(10, "A_RUNNER_02", "RESTOCK_REAGENT", **fetch)["status"] == "ACCEPTED"
    before = world_state(e)
    out = run(10, "A_RUNNER_02", "RESTOCK_REAGENT", **fetch)
    assert out["blocked_reason_code"] == "REAGENT_PACK_LIMIT" and world_state(e) == before


def test_stockout_time_and_work_held_for_reagent() -> None:
    init = {
        "specimens": [
            {"specimen_id": u, "panels": ["UE"], "status": "ACCEPTED", "centrifuged": True}
            for u in ("U1", "U2")
        ],
        "schedule": [{"t_s": 100, "kind": "REAGENT_DRAIN", "device_id": CHEM, "reagent_id": UE}],
    }
    e, run = _engine(init)
    # Spun tubes taken to the analyzer bench as if already aliquoted.
    for sid in ("U1", "U2"):
        e.specimens[sid].needs_aliquot = False
        e.specimens[sid].loc_id = "Z_ANALYTICS"
    assert run(0, "A_ANALYTICS_01", "QUEUE_RUN", device_id=CHEM, specimen_id="U1")["status"] == (
        "ACCEPTED"
    )
    run(0, "A_RUNNER_02", "MOVE", to_zone="Z_STORES")
    run(10, "A_RUNNER_02", "RESTOCK_REAGENT", device_id=CHEM, reagent_id=UE)
    run(10, "A_RUNNER_02", "MOVE", to_zone="Z_CORRIDOR")
    # The drain at t=100 empties the analyzer with U1 waiting; U2 is queued while it is out.
    assert run(120, "A_ANALYTICS_01", "START_RUN", device_id=CHEM)["blocked_reason_code"] == (
        "REAGENT_STOCKOUT"
    )
    assert (
        run(130, "A_ANALYTICS_01", "QUEUE_RUN", device_id=CHEM, specimen_id="U2")["status"]
        == "ACCEPTED"
    )
    assert e.devices[CHEM].stockout_s == {}
    assert e.devices[CHEM].out_since == {UE: 100.0}
    assert sorted(e.devices[CHEM].held_for_reagent) == ["W0000001", "W0000002"]
    run(130, "A_RUNNER_02", "MOVE", to_zone="Z_ANALYTICS")
    assert (
        run(150, "A_RUNNER_02", "RESTOCK_REAGENT", device_id=CHEM, reagent_id=UE)["status"]
        == "ACCEPTED"
    )
    assert e.devices[CHEM].stockout_s == {UE: 50.0} and e.devices[CHEM].out_since == {}
    assert run(150, "A_ANALYTICS_01", "START_RUN", device_id=CHEM)["status"] == "ACCEPTED"


def test_stores_inventory_for_a_site_without_stores_is_refused() -> None:
    init = {
        "effective_policy": {
            "reagent_policy": {"stores_inventory": {"SITE_ACUTE": {"RG_HAEM_FBC": 10}}}
        }
    }
    with pytest.raises(ConfigError, match="SITE_ACUTE.*stores"):
        LabEngine().reset(init, seed=0)


def test_checkpoint_keeps_carried_packs() -> None:
    e, run = _engine()
    run(0, "A_RUNNER_02", "MOVE", to_zone="Z_STORES")
    run(10, "A_RUNNER_02", "RESTOCK_REAGENT", device_id=CHEM, reagent_id=UE)
    state = e.state_dict()
    e2 = LabEngine()
    e2.load_state_dict(state)
    assert e2.agents["A_RUNNER_02"].packs == e.agents["A_RUNNER_02"].packs != []
    assert world_state(e2) == world_state(e)
