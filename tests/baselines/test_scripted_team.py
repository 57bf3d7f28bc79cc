"""The scripted baseline team runs the lab end to end, competently.

Scenarios are one hour of simulated time (360 steps of 10 s) with Poisson arrivals drawn
from a seeded generator. Every agent holds an Ed25519 key and every event is signed
(custody actions must be). Hidden truth (``result.qc_drift``) is read here, in the test
only, to count results that were released while their analyzer drifted.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

import numpy as np
import pytest

from labtrust_gym.baselines.random_team import RandomTeam
from labtrust_gym.baselines.scripted import ScriptedTeam, run_scripted
from labtrust_gym.engine import LabEngine
from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.engine.signatures import private_key_from_bytes, public_key_hex

STEPS, DT = 360, 10.0
HUB_MIX = (
    (("UE",), 0.22),
    (("UE", "LFT"), 0.10),
    (("TROP",), 0.08),
    (("FBC",), 0.42),
    (("COAG",), 0.18),
)
PRIORITY_MIX = (("STAT", 0.10), ("URGENT", 0.30), ("ROUTINE", 0.60))
DEFECTS = ({"id_match": False}, {"leak": True}, {"haemolysis_index": 200})
ACUTE_MIX = ((("TROP",), 0.35), (("UE",), 0.25), (("FBC",), 0.25), (("COAG",), 0.15))
ACUTE_PRIORITY = (("STAT", 0.6), ("URGENT", 0.4))
HUB_CHEM = ("DEV_CHEM_0001", "DEV_CHEM_0002")


# ------------------------------------------------------------------ scenario helpers ---
def make_keys(agent_ids: list[str], seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(signer for run_scripted, initial_state["keys"]) with a real key per agent."""
    signer, keys = {}, {}
    for i, aid in enumerate(sorted(agent_ids)):
        priv = private_key_from_bytes(np.random.default_rng([seed, i]).bytes(32))
        signer[aid] = ("K_" + aid, priv)
        keys["K_" + aid] = {"agent_id": aid, "public_key": public_key_hex(priv)}
    return signer, keys


def poisson_arrivals(
    rng: np.random.Generator,
    site: str,
    rate_per_min: float,
    end_s: float,
    mix: tuple[Any, ...],
    priorities: tuple[Any, ...],
    prefix: str,
    defect_p: float,
) -> list[dict[str, Any]]:
    pm = np.array([p for _, p in mix])
    pp = np.array([p for _, p in priorities])
    out, t, n = [], 0.0, 0
    while True:
        t += float(rng.exponential(60.0 / rate_per_min))
        if t >= end_s:
            return out
        n += 1
        panels = list(mix[int(rng.choice(len(mix), p=pm / pm.sum()))][0])
        prio = priorities[int(rng.choice(len(priorities), p=pp / pp.sum()))][0]
        hidden = dict(DEFECTS[int(rng.integers(len(DEFECTS)))]) if rng.random() < defect_p else {}
        out.append(
            {
                "t_s": round(t, 1),
                "specimen": {
                    "specimen_id": f"{prefix}{n:04d}",
                    "panels": panels,
                    "priority": prio,
                    "site_id": site,
                    "hidden": hidden,
                },
            }
        )


@cache
def scenario(seed: int, kind: str = "base", team: str = "scripted") -> dict[str, Any]:
    """Run one scenario; returns the engine, the arrivals and the driver's counts."""
    rng = np.random.default_rng(seed)
    rate = 3.0 if kind == "fault" else 1.0 if kind == "multisite" else 1.5
    arrivals = poisson_arrivals(rng, "SITE_HUB", rate, 3600.0, HUB_MIX, PRIORITY_MIX, "S", 0.04)
    if kind == "multisite":
        arrivals += poisson_arrivals(
            rng, "SITE_ACUTE", 0.5, 2700.0, ACUTE_MIX, ACUTE_PRIORITY, "A", 0.0
        )
        arrivals.sort(key=lambda a: a["t_s"])
    schedule = {
        "drift": [{"t_s": 1200, "kind": "QC_DRIFT", "device_id": "DEV_CHEM_0001"}],
        "fault": [{"t_s": 900, "kind": "DEVICE_FAULT", "device_id": "DEV_CHEM_0001"}],
        "drain": [
            {"t_s": 900, "kind": "REAGENT_DRAIN", "device_id": d, "reagent_id": "RG_CHEM_UE"}
            for d in HUB_CHEM
        ],
    }.get(kind, [])
    engine = LabEngine()
    signer, keys = make_keys([a["agent_id"] for a in engine.world.policy_agents], seed)
    engine.reset({"arrival_schedule": arrivals, "schedule": schedule, "keys": keys}, seed=seed)
    controller = ScriptedTeam() if team == "scripted" else RandomTeam()
    controller.reset(engine, seed)
    stats = run_scripted(engine, controller, STEPS, DT, signer, record_events=True)
    return {"engine": engine, "arrivals": arrivals, "stats": stats}


def blocked_rate(stats: dict[str, Any]) -> float:
    return stats["blocked"] / max(1, stats["events"])


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def specimens_completed(
    engine: LabEngine, arrivals: list[dict[str, Any]], before_s: float
) -> tuple[int, int]:
    """(specimens arrived before ``before_s`` with every panel released, how many arrived)."""
    released: dict[str, set[str]] = {}
    for r in engine.results.values():
        if r.status == "RELEASED":
            s = engine.specimens[r.specimen_id]
            released.setdefault(s.parent_id or s.specimen_id, set()).add(r.panel)
    early = [a["specimen"] for a in arrivals if a["t_s"] < before_s]
    done = sum(1 for s in early if set(s["panels"]) <= released.get(s["specimen_id"], set()))
    return done, len(early)


def panel_matched_tat(engine: LabEngine, fast: str, slow: str) -> tuple[float, float]:
    """Mean TAT of ``fast`` results and of ``slow`` results of the same panels, the latter
    re-weighted to the panel mix of the former (the panel, not the priority, sets most
    of a result's turnaround: a blood count takes minutes, a troponin a quarter hour)."""
    tat: dict[tuple[str, str], list[float]] = {}
    for r in engine.results.values():
        if r.status == "RELEASED":
            tat.setdefault((r.priority, r.panel), []).append(r.released_t - r.arrival_t)
    pairs = [
        (tat[(fast, p)], tat[(slow, p)])
        for (pr, p) in sorted(tat)
        if pr == fast and (slow, p) in tat
    ]
    n = sum(len(f) for f, _ in pairs)
    return (sum(sum(f) for f, _ in pairs) / n, sum(len(f) * mean(s) for f, s in pairs) / n)


def no_critical_violations(stats: dict[str, Any]) -> bool:
    return all(v["severity"] != "critical" for v in stats["violations_by_invariant"].values())


# ------------------------------------------------------------------ the nominal lab ----
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scripted_team_runs_the_lab(seed: int) -> None:
    run = scenario(seed)
    e, stats = run["engine"], run["stats"]
    assert stats["steps"] == STEPS and stats["released"] > 0
    done, arrived = specimens_completed(e, run["arrivals"], 2400.0)
    assert arrived > 30 and done / arrived >= 0.75, (done, arrived)
    assert blocked_rate(stats) < 0.02, stats["blocked_by_reason"]
    assert no_critical_violations(stats), stats["violations_by_invariant"]
    tat = stats["turnaround_s_by_priority"]
    assert tat["STAT"] and tat["ROUTINE"] and mean(tat["STAT"]) < mean(tat["ROUTINE"])
    stat_tat, routine_tat = panel_matched_tat(e, "STAT", "ROUTINE")
    assert stat_tat < routine_tat
    assert stats["on_time"] / stats["released"] >= 0.95
    # Criticals: every released one was phoned, read back and acknowledged first.
    crits = [r for r in e.results.values() if r.critical and r.status == "RELEASED"]
    for r in crits:
        assert r.crit_state == "ACKED" and r.notified_t <= r.acked_t <= r.released_t
        assert (
            r.ack["receiver_role"] == e.world.ladder["tiers"][r.ack["tier"] - 1]["recipient_role"]
        )
    assert not any(r.disclaimer for r in e.results.values())  # no QC override used
    assert e.audit.verify() == (True, None)
    assert stats["actions_by_type"].get("VERIFY_AUDIT", 0) >= 1


def test_scripted_team_hits_criticals() -> None:
    """Across the seeds the critical path was exercised (notify, ack, release)."""
    crit = sum(
        1
        for s in (0, 1, 2)
        for r in scenario(s)["engine"].results.values()
        if r.critical and r.status == "RELEASED"
    )
    assert crit >= 1


def test_stat_faster_than_routine_overall() -> None:
    """Pooled over the seeds, STAT results come back faster than ROUTINE ones."""
    tat: dict[str, list[float]] = {"STAT": [], "ROUTINE": []}
    for s in (0, 1, 2):
        for p in tat:
            tat[p] += scenario(s)["stats"]["turnaround_s_by_priority"][p]
    assert mean(tat["STAT"]) < mean(tat["ROUTINE"])


def test_propose_reads_but_never_writes_the_engine() -> None:
    rng = np.random.default_rng(5)
    arrivals = poisson_arrivals(rng, "SITE_HUB", 2.0, 900.0, HUB_MIX, PRIORITY_MIX, "S", 0.1)
    e = LabEngine()
    e.reset({"arrival_schedule": arrivals}, seed=5)
    team = ScriptedTeam(
        agent_ids=[
            "A_RECEPTION_01",
            "A_RUNNER_01",
            "A_PREANA_01",
            "A_ANALYTICS_01",
            "A_SCIENTIST_01",
        ]
    )
    team.reset(e, 5)
    for k in range(90):
        t = k * DT
        before = hashlib.sha256(
            canonical_json(e.query("specimens", include_hidden=True))
            + canonical_json(e.query("devices"))
            + canonical_json(e.query("results"))
        ).hexdigest()
        actions = team.propose(e, t)
        after = hashlib.sha256(
            canonical_json(e.query("specimens", include_hidden=True))
            + canonical_json(e.query("devices"))
            + canonical_json(e.query("results"))
        ).hexdigest()
        assert before == after
        assert set(actions) <= set(team.agent_ids)
        for aid, act in sorted(actions.items()):
            assert e.agents[aid].zone is not None
            res = e.step({"event_id": f"{k}:{aid}", "t_s": t, "agent_id": aid, **act})
            assert res["status"] == "ACCEPTED", (aid, act, res["blocked_reason_code"])
        e.tick(t + DT)
    assert any(r.status == "RELEASED" for r in e.results.values())


def test_same_seed_same_episode() -> None:
    heads = []
    for _ in range(2):
        scenario.cache_clear()
        heads.append(scenario(0)["engine"].audit.head_hash)
    assert heads[0] == heads[1]


# ------------------------------------------------------------------ disruptions --------
def test_qc_drift_is_caught_calibrated_and_rerun() -> None:
    run = scenario(0, "drift")
    e, stats = run["engine"], run["stats"]
    qc = [
        (t, a)
        for t, _, a, args, status, _ in stats["events_log"]
        if status == "ACCEPTED"
        and a in ("RUN_QC", "CALIBRATE")
        and args["device_id"] == HUB_CHEM[0]
    ]
    assert stats["emits"].get("QC_FAIL", 0) >= 1
    t_fail = min(t for t, a in qc if a == "RUN_QC" and t >= 1200)  # the drift starts at 1200
    t_cal = min(t for t, a in qc if a == "CALIBRATE")
    assert t_fail <= t_cal <= t_fail + 900
    assert any(a == "RUN_QC" and t > t_cal for t, a in qc)  # QC again after calibration
    assert not e.devices[HUB_CHEM[0]].qc_failed
    # Held results were rerun and the reruns released; nothing held was released.
    superseded = [r for r in e.results.values() if r.status == "SUPERSEDED"]
    assert superseded and stats["actions_by_type"].get("REQUEST_RERUN", 0) == len(superseded)
    for r in superseded:
        assert any(
            o.specimen_id == r.specimen_id and o.status == "RELEASED" and not o.qc_drift
            for o in e.results.values()
        )
    wrongly_released = sum(1 for r in e.results.values() if r.status == "RELEASED" and r.qc_drift)
    assert wrongly_released == 0
    assert "INV-QC-001" not in stats["violations_by_invariant"]
    after = [r for r in e.results.values() if r.status == "RELEASED" and r.released_t > t_cal]
    assert len(after) > 20 and any(r.device_id == HUB_CHEM[0] for r in after)
    assert blocked_rate(stats) < 0.02 and no_critical_violations(stats)


def test_device_fault_is_repaired_and_work_rerouted() -> None:
    run = scenario(0, "fault")
    e, stats = run["engine"], run["stats"]
    log = [x for x in stats["events_log"] if x[4] == "ACCEPTED"]
    repairs = [
        t for t, _, a, args, *_ in log if a == "REPAIR_DEVICE" and args["device_id"] == HUB_CHEM[0]
    ]
    assert repairs and 900 <= repairs[0] <= 930
    back = repairs[0] + float(e.world.device_types["CHEM"]["repair_s"])
    queued = {
        d: [
            t
            for t, _, a, args, *_ in log
            if a == "QUEUE_RUN" and args["device_id"] == d and 900 <= t < back
        ]
        for d in HUB_CHEM
    }
    assert not queued[HUB_CHEM[0]] and len(queued[HUB_CHEM[1]]) >= 5
    assert any(
        a == "START_RUN" and args["device_id"] == HUB_CHEM[0] and t >= back
        for t, _, a, args, *_ in log
    )
    assert e.devices[HUB_CHEM[0]].state != "FAULT"
    assert stats["released"] > 50
    assert blocked_rate(stats) < 0.02 and no_critical_violations(stats)


def test_reagent_drain_is_restocked() -> None:
    run = scenario(0, "drain")
    e, stats = run["engine"], run["stats"]
    log = [x for x in stats["events_log"] if x[4] == "ACCEPTED"]
    restocked = {
        args["device_id"]
        for t, _, a, args, *_ in log
        if a == "RESTOCK_REAGENT" and args["reagent_id"] == "RG_CHEM_UE" and t >= 900
    }
    assert restocked == set(HUB_CHEM)
    ue = [
        r
        for r in e.results.values()
        if r.panel == "UE" and r.status == "RELEASED" and r.generated_t > 900
    ]
    assert len(ue) >= 10
    assert "REAGENT_STOCKOUT" not in stats["blocked_by_reason"]
    assert e.inventory["SITE_HUB"]["RG_CHEM_UE"] < 200
    assert blocked_rate(stats) < 0.02 and no_critical_violations(stats)


def test_multi_site_ships_chemistry_to_the_hub() -> None:
    run = scenario(0, "multisite")
    e, stats = run["engine"], run["stats"]
    acute = {
        a["specimen"]["specimen_id"]
        for a in run["arrivals"]
        if a["specimen"]["site_id"] == "SITE_ACUTE"
    }
    acute_devices = {d for d, v in e.devices.items() if v.site_id == "SITE_ACUTE"}
    rows = [
        r
        for r in e.results.values()
        if (e.specimens[r.specimen_id].parent_id or r.specimen_id) in acute
    ]
    local = [r for r in rows if r.panel in ("FBC", "COAG")]
    shipped = [r for r in rows if r.panel in ("UE", "TROP")]
    assert local and all(r.device_id in acute_devices for r in local)
    assert shipped and all(r.device_id in HUB_CHEM for r in shipped)
    assert sum(r.status == "RELEASED" for r in shipped) >= 0.8 * len(shipped)
    assert sum(r.status == "RELEASED" for r in local) == len(local)
    assert e.consignments
    for c in e.consignments.values():
        assert c.status == "RECEIVED"
        assert [x["step"] for x in c.custody] == ["DISPATCH", "RECEIVE"]
        assert all(x["key_id"] == "K_" + x["agent_id"] for x in c.custody)
        assert c.received_t - c.dispatched_t <= e.world.routes[c.route_id]["max_transit_s"]
    stat_dispatch = [
        c
        for c in e.consignments.values()
        if any(e.specimens[s].priority == "STAT" for s in c.specimen_ids)
    ]
    for c in stat_dispatch:  # STAT tubes leave within minutes of arriving
        first = min(
            e.specimens[s].arrival_t for s in c.specimen_ids if e.specimens[s].priority == "STAT"
        )
        assert c.dispatched_t - first <= 180
    assert blocked_rate(stats) < 0.02 and no_critical_violations(stats)


# ------------------------------------------------------------------ the floor ----------
def test_random_team_is_far_worse() -> None:
    scripted, rand = scenario(0)["stats"], scenario(0, team="random")["stats"]
    arrivals = len(scenario(0)["arrivals"])
    assert blocked_rate(rand) > 0.3 and blocked_rate(rand) > 10 * blocked_rate(scripted) + 0.1
    # On-time releases per arrived specimen (the random team's few releases, if any,
    # cannot make up for the work it never does).
    assert rand["on_time"] / arrivals < 0.2 * scripted["on_time"] / arrivals
    assert rand["released"] < 0.2 * scripted["released"]


@pytest.mark.parametrize(("preset", "steps"), [("small_smoke", 200), ("corridor_heavy", 150)])
def test_scaled_networks(preset: str, steps: int) -> None:
    """Generated layouts: a 4-agent lab whose analyst also runs the centrifuge bench, and
    a 200-agent two-site network."""
    from labtrust_gym.benchmarks.coordination_scale import (
        generate_scaled_initial_state,
        load_scale_config_by_id,
    )
    from labtrust_gym.policy.loader import load_policy

    policy = load_policy()
    cfg = load_scale_config_by_id(policy.policy_dir, preset)
    engine = LabEngine(policy)
    engine.reset(generate_scaled_initial_state(cfg, policy.policy_dir, 0, policy=policy), seed=0)
    team = ScriptedTeam()
    team.reset(engine, 0)
    stats = run_scripted(engine, team, steps, DT)
    assert stats["released"] > 5 and stats["blocked"] == 0
    assert no_critical_violations(stats)
