"""Action masks tell the truth about RESTOCK_REAGENT (fetch at the stores, load at the
device): a mask-allowed restock is accepted, a blocked one is masked out."""

from __future__ import annotations

from typing import Any

import numpy as np

from labtrust_gym.envs import make_env

CHEM, UE = "DEV_CHEM_0001", "RG_CHEM_UE"


def _raw(action: str, **args: Any) -> dict[str, Any]:
    return {"action_type": action, "args": args}


def _walk(env: Any, pz: str, zones: list[str]) -> None:
    for z in zones:
        env.step({pz: _raw("MOVE", to_zone=z)})
        while env.engine.agents[env.engine_id[pz]].zone is None:
            env.step({})


def test_restock_entries_follow_the_job() -> None:
    env = make_env("reagent_stockout")
    env.reset(seed=0)
    idx = env.codec.index[("RESTOCK_REAGENT", CHEM)]
    r2 = "runner_02"
    eng = env.engine
    # In the corridor: neither at the stores nor at the analyzer.
    assert env.action_mask(r2)[idx] == 0
    _walk(env, r2, ["Z_STORES"])
    assert env.action_mask(r2)[idx] == 1  # the stores hold its reagents, hands are free
    env.step({r2: idx})
    res = env.last_results["A_RUNNER_02"]
    assert res["status"] == "ACCEPTED" and "REAGENT_PACK_FETCHED" in res["emits"]
    lowest = min(eng.devices[CHEM].reagents.items(), key=lambda kv: (kv[1], kv[0]))[0]
    assert eng.agents["A_RUNNER_02"].packs[0][0] == lowest
    env.step({r2: idx})  # a second pack (two hands)
    assert env.last_results["A_RUNNER_02"]["status"] == "ACCEPTED"
    assert env.action_mask(r2)[idx] == 0  # hands full
    # At the analyzer with packs in hand: the load is allowed and accepted.
    _walk(env, r2, ["Z_CORRIDOR", "Z_ANALYTICS"])
    assert env.action_mask(r2)[idx] == 1
    before = eng.devices[CHEM].reagents[lowest]
    env.step({r2: idx})
    assert env.last_results["A_RUNNER_02"]["status"] == "ACCEPTED"
    assert eng.devices[CHEM].reagents[lowest] > before
    # The analyst stands at the same analyzer with empty hands: masked out.
    assert env.action_mask("analytics_01")[idx] == 0
    # Two agents with the same role, zone and (empty) load but different packs: the
    # shared mask cache must not mix them up.
    env.step({r2: idx})
    assert not eng.agents["A_RUNNER_02"].packs
    assert env.action_mask(r2)[idx] == 0


def test_stores_without_stock_mask_the_fetch() -> None:
    env = make_env("reagent_stockout")
    env.reset(seed=0)
    idx = env.codec.index[("RESTOCK_REAGENT", CHEM)]
    _walk(env, "runner_02", ["Z_STORES"])
    for rid in env.engine.devices[CHEM].reagents:
        env.engine.inventory["SITE_HUB"][rid] = 0  # test only: empty the hub stores
    env._state_changed()
    assert env.action_mask("runner_02")[idx] == 0
    env.step({"runner_02": idx})
    assert env.last_results["A_RUNNER_02"]["blocked_reason_code"] == "REAGENT_INVENTORY_EMPTY"


def test_mask_allowed_restocks_are_never_blocked() -> None:
    """Agents pick among mask-allowed actions, preferring restocks (one per step, as
    masks are computed before the step's actions)."""
    env = make_env("reagent_stockout")
    _, infos = env.reset(seed=3)
    rng = np.random.default_rng(3)
    restock = {i for i, (a, _) in enumerate(env.codec.entries) if a == "RESTOCK_REAGENT"}
    moves = {i for i, (a, _) in enumerate(env.codec.entries) if a == "MOVE"}
    allowed = fetched = loaded = 0
    for _ in range(250):
        acts: dict[str, int] = {}
        took_restock = False
        for a in env.agents:
            ok = np.flatnonzero(infos[a]["action_mask"])
            rs = [i for i in ok if i in restock]
            if rs and not took_restock:
                acts[a] = int(rs[int(rng.integers(len(rs)))])
                took_restock = True
                allowed += 1
                continue
            mv = [i for i in ok if i in moves]
            if mv and rng.random() < 0.6:
                acts[a] = int(mv[int(rng.integers(len(mv)))])
        _, _, _, _, infos = env.step(acts)
        for a, i in acts.items():
            if i in restock:
                res = env.last_results[env.engine_id[a]]
                assert res["status"] == "ACCEPTED", (a, env.codec.entries[i], res)
                fetched += "REAGENT_PACK_FETCHED" in res["emits"]
                loaded += "REAGENT_RESTOCKED" in res["emits"]
    assert allowed > 5 and fetched > 0 and loaded > 0
