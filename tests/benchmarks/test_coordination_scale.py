"""Scenario generation at scale: corridor capacity, the warm-start backlog, determinism.

``generate_scaled_initial_state`` must be a pure function of (config, seed): the same in
another process, the layout independent of the seed, the specimens dependent on it. The
backlog is drawn from its own RNG stream, so turning it on leaves the arrivals untouched.
"""

from __future__ import annotations

import dataclasses
import statistics
import subprocess
import sys
from functools import cache
from typing import Any

import pytest

from labtrust_gym.benchmarks.coordination_scale import (
    CoordinationScaleConfig,
    generate_scaled_initial_state,
    load_scale_config_by_id,
    scale_state_digest,
)
from labtrust_gym.benchmarks.metrics import compute_episode_metrics
from labtrust_gym.benchmarks.runner import run_benchmark, run_episode
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.engine import LabEngine
from labtrust_gym.engine.actions_devices import specimen_stage
from labtrust_gym.errors import ConfigError
from labtrust_gym.policy.loader import load_policy

POLICY = load_policy()
SST_PANELS = {p for p, v in POLICY["test_catalogue"]["panels"].items() if v["needs_centrifuge"]}


def _cfg(preset: str = "small_smoke", **changes: Any) -> CoordinationScaleConfig:
    return dataclasses.replace(load_scale_config_by_id(None, preset), **changes)


@cache
def _gen_cached(preset: str, seed: int, items: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return generate_scaled_initial_state(_cfg(preset, **dict(items)), None, seed, policy=POLICY)


def _gen(preset: str = "small_smoke", seed: int = 0, **changes: Any) -> dict[str, Any]:
    return _gen_cached(preset, seed, tuple(sorted(changes.items())))


# ------------------------------------------------------------------- validation ---
@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_corridor_capacity_is_validated(bad: Any) -> None:
    with pytest.raises(ConfigError, match=r"^corridor_capacity must be an int >= 1"):
        _cfg(corridor_capacity=bad).validate()


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf"), True, "5"])
def test_backlog_min_is_validated(bad: Any) -> None:
    with pytest.raises(ConfigError, match=r"^backlog_min must be a number of minutes >= 0"):
        _cfg(backlog_min=bad).validate()


def test_new_fields_load_from_a_dict_and_default_to_off() -> None:
    d = {
        "num_agents_total": 4,
        "role_mix": {"ROLE_RUNNER": 1.0},
        "num_devices_per_type": {"CHEM": 1},
    }
    cfg = CoordinationScaleConfig.from_dict(d)
    assert (cfg.corridor_capacity, cfg.backlog_min) == (None, 0.0)
    cfg = CoordinationScaleConfig.from_dict({**d, "corridor_capacity": 2, "backlog_min": 3})
    cfg.validate()
    assert (cfg.corridor_capacity, cfg.backlog_min) == (2, 3)
    assert cfg.sanitized()["corridor_capacity"] == 2 and cfg.sanitized()["backlog_min"] == 3


def test_presets_set_narrow_corridors_and_a_backlog() -> None:
    assert load_scale_config_by_id(None, "corridor_heavy").corridor_capacity == 2
    for preset in ("coord_scale_default", "small_smoke", "small_8", "hospital_network_10k"):
        cfg = load_scale_config_by_id(None, preset)
        assert cfg.corridor_capacity is None, preset
        assert cfg.backlog_min > 0, preset


# ----------------------------------------------------------------- corridors -------
def test_corridor_capacity_sets_every_corridor_edge_and_only_those() -> None:
    init = _gen("small_8", corridor_capacity=2)
    edges = init["effective_policy"]["zone_layout"]["edges"]
    corridor = [e for e in edges if "_CORRIDOR" in e["a"] + e["b"]]
    assert len(corridor) == 6
    assert all(e["capacity"] == 2 for e in corridor)
    assert all("capacity" not in e for e in edges if e not in corridor)
    assert all(
        "capacity" not in e for e in _gen("small_8")["effective_policy"]["zone_layout"]["edges"]
    )


def test_generated_corridor_capacity_binds_in_the_engine() -> None:
    init = _gen("corridor_heavy", corridor_capacity=2)
    e = LabEngine(POLICY)
    e.reset(init, seed=0)
    assert set(e.world.edge_capacity.values()) == {2}
    assert len(e.world.edge_capacity) == 6 * 2  # six corridor edges on each of 2 sites
    corridor = "Z_S001_CORRIDOR"
    runners = sorted(a.agent_id for a in e.agents.values() if a.zone == corridor)[:3]
    assert len(runners) == 3
    outs = [
        e.step(
            {
                "event_id": f"m{i}",
                "t_s": 0.0,
                "agent_id": aid,
                "action_type": "MOVE",
                "args": {"to_zone": "Z_S001_RECEPTION"},
            }
        )
        for i, aid in enumerate(runners)
    ]
    assert [o["blocked_reason_code"] for o in outs] == [None, None, "EDGE_CONGESTED"]
    assert e.edge_free(corridor, "Z_S001_RECEPTION") == 0
    assert e.edge_free(corridor, "Z_S001_STORES") == 2
    assert e.edge_free("Z_S001_PREANALYTICS", "Z_S001_ANALYTICS") is None


# -------------------------------------------------------------------- backlog ------
def test_backlog_is_accepted_spun_work_waiting_at_pre_analytics() -> None:
    init = _gen("corridor_heavy", seed=3)
    backlog = init["specimens"]
    # 6 specimens/min over 2 sites, 5 minutes: 15 per site.
    assert len(backlog) == 30
    by_site: dict[str, int] = {}
    for s in backlog:
        by_site[s["site_id"]] = by_site.get(s["site_id"], 0) + 1
        assert s["status"] == "ACCEPTED"
        assert s["zone"] == s["site_id"].replace("SITE_", "Z_S") + "_PREANALYTICS"
        assert -300.0 <= s["arrival_t"] <= 0.0
        assert s["arrival_t"] - 1800.1 <= s["collected_t"] <= s["arrival_t"] - 299.9
        assert s.get("centrifuged", False) == any(p in SST_PANELS for p in s["panels"])
        assert "hidden" not in s  # they passed accessioning: no defect
    assert by_site == {"SITE_001": 15, "SITE_002": 15}
    assert [s["arrival_t"] for s in backlog] == sorted(s["arrival_t"] for s in backlog)
    ids = [s["specimen_id"] for s in backlog]
    arrival_ids = {a["specimen"]["specimen_id"] for a in init["arrival_schedule"]}
    assert len(set(ids)) == len(ids) and not set(ids) & arrival_ids
    # The mixes are the arrivals': the same panels and priorities appear.
    assert {p for s in backlog for p in s["panels"]} <= {
        p for a in init["arrival_schedule"] for p in a["specimen"]["panels"]
    }
    assert len({s["priority"] for s in backlog}) > 1


def test_backlog_depends_on_the_seed_and_leaves_the_arrivals_alone() -> None:
    a, b = _gen(seed=1), _gen(seed=2)
    assert a["specimens"] and b["specimens"]
    assert a["specimens"] != b["specimens"]
    assert a["effective_policy"] == b["effective_policy"]  # the layout is the config's
    assert _gen(seed=1) == a
    off = _gen(seed=1, backlog_min=0.0)
    assert off["specimens"] == []
    assert off["arrival_schedule"] == a["arrival_schedule"]  # its own RNG stream
    longer = _gen(seed=1, backlog_min=12.0)
    assert len(longer["specimens"]) == 12
    assert min(s["arrival_t"] for s in longer["specimens"]) >= -720.0


def test_a_backlog_is_never_empty_by_chance() -> None:
    for seed in range(30):
        assert len(_gen(seed=seed, backlog_min=0.2)["specimens"]) == 1


def test_engine_loads_the_backlog_ready_for_aliquoting() -> None:
    init = _gen(seed=5)
    e = LabEngine(POLICY)
    e.reset(init, seed=5)
    assert len(init["specimens"]) == 5
    for spec in init["specimens"]:
        s = e.specimens[spec["specimen_id"]]
        assert (s.status, s.loc_kind, s.loc_id) == ("ACCEPTED", "zone", spec["zone"])
        assert s.arrival_t == spec["arrival_t"] <= 0
        assert specimen_stage(s) == ("aliquoter" if s.needs_aliquot else "analyzer")


# ---------------------------------------------------------------- determinism ------
_CHILD = """
import dataclasses, sys
from labtrust_gym.benchmarks.coordination_scale import (
    generate_scaled_initial_state, load_scale_config_by_id, scale_state_digest)
cfg = dataclasses.replace(load_scale_config_by_id(None, sys.argv[1]), corridor_capacity=3)
print(scale_state_digest(generate_scaled_initial_state(cfg, None, int(sys.argv[2]))))
"""


def test_same_seed_and_config_give_the_same_state_in_another_process() -> None:
    for preset, seed in (("small_smoke", 7), ("corridor_heavy", 11)):
        here = scale_state_digest(_gen(preset, seed, corridor_capacity=3))
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, preset, str(seed)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == here, preset
    assert scale_state_digest(_gen("small_smoke", 8, corridor_capacity=3)) != here


# ------------------------------------------------------------- small_smoke works ---
def test_small_smoke_releases_on_every_seed() -> None:
    res = run_benchmark("coord_scale", 20, 1, scale="small_smoke", coord_method="scripted_team")
    throughput = [ep["metrics"]["throughput"] for ep in res["episodes"]]
    assert min(throughput) > 0, throughput


def test_backlog_counts_as_arrived_and_turnaround_runs_from_its_arrival() -> None:
    task = get_task("coord_scale")(scale_config="small_smoke")
    metrics, env = run_episode(task, 3, coord_method="scripted_team")
    eng = env.engine
    backlog = {s["specimen_id"] for s in env.initial_state["specimens"]}
    roots = [s for s in eng.specimens.values() if s.parent_id is None]
    assert backlog <= {s.specimen_id for s in roots}
    assert metrics["specimens_arrived"] == len(roots)
    released = [r for r in eng.results.values() if r.status == "RELEASED"]
    from_backlog = [r for r in released if r.specimen_id.split("-A")[0] in backlog]
    assert from_backlog, "no backlog result released"
    tats = sorted(r.released_t - r.arrival_t for r in released)
    for r in from_backlog:
        assert r.arrival_t < 0 and r.released_t - r.arrival_t > r.released_t
    m = compute_episode_metrics(env)
    assert m["throughput"] == len(released)
    assert m["turnaround_p50_s"] == pytest.approx(statistics.median(tats))
