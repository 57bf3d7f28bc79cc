"""Observation layout and contents, immutability, and incremental == full rebuild."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from labtrust_gym.benchmarks.runner import run_episode
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.engine.actions_devices import specimen_stage
from labtrust_gym.envs import make_env
from labtrust_gym.envs.codec import N_SLOTS
from labtrust_gym.envs.observation import GLOBAL_COLUMNS

_PRIO = {"STAT": 0, "URGENT": 1, "ROUTINE": 2}


def _block(env: Any, obs: np.ndarray, name: str) -> np.ndarray:
    a, b = env.obs_builder.layout[name]
    return obs[a:b]


def _slot_row(env: Any, sid: str) -> list[float]:
    """The expected work-list row of specimen ``sid``, from engine state."""
    eng = env.engine
    s = eng.specimens[sid]
    now = eng.now
    target = float(eng.world.priorities[s.priority]["target_tat_s"])
    row = [1.0, 0.0, 0.0, 0.0]
    row[1 + _PRIO[s.priority]] = 1.0
    row.append(min(1.0, max(0.0, (now - s.arrival_t) / target)))
    window = max(1.0, s.expires_t - s.collected_t)
    row.append(min(1.0, max(0.0, (s.expires_t - now) / window)))
    return row


def test_layout_is_contiguous_and_matches_the_space() -> None:
    env = make_env("throughput_sla")
    ob = env.obs_builder
    ends = 0
    for _name, (a, b) in ob.layout.items():
        assert a == ends and b >= a
        ends = b
    assert ends == ob.dim == env.observation_space("runner_01").shape[0]
    assert ob.layout["time"] == (0, 1) and ob.layout["results"] == (1, GLOBAL_COLUMNS)
    # The widest site of the default lab has 8 zones and 7 devices.
    assert ob.max_zones == 8 and ob.max_devices == 7
    assert ob.layout["work"][1] - ob.layout["work"][0] == 6 * N_SLOTS
    assert ob.layout["devices"][1] - ob.layout["devices"][0] == 8 * 7


def _scale(num_sites: int) -> dict[str, Any]:
    return {
        "num_agents_total": 6 * num_sites,
        "role_mix": {"ROLE_RECEPTION": 0.5, "ROLE_RUNNER": 0.5},
        "num_devices_per_type": {"CENTRIFUGE": num_sites, "CHEM": 2 * num_sites},
        "num_sites": num_sites,
        "specimens_per_min": 2.0,
        "horizon_steps": 20,
    }


def test_observation_size_does_not_grow_with_the_number_of_sites() -> None:
    one = make_env("coord_scale", scale=_scale(1))
    four = make_env("coord_scale", scale=_scale(4))
    assert one.obs_builder.dim == four.obs_builder.dim
    assert len(four.obs_builder.sites) == 4
    obs, _ = four.reset(seed=0)
    eng = four.engine
    ob = four.obs_builder
    for pz, o in obs.items():
        a = eng.agents[four.engine_id[pz]]
        site = eng.world.zones[a.zone]["site_id"]
        k = ob.sites.index(site)
        assert _block(four, o, "site")[0] == pytest.approx(k / 3)
        zone = _block(four, o, "zone")
        assert zone.sum() == 1.0 and zone[ob.site_zones[site].index(a.zone)] == 1.0
        # The board shows the agent's own site's devices, in sorted order.
        board = _block(four, o, "devices").reshape(-1, 8)
        mine = sorted(d for d, v in eng.world.devices.items() if v["site_id"] == site)
        assert len(mine) == 3
        for j, did in enumerate(mine):
            assert board[j, ["IDLE", "RUNNING", "FAULT", "MAINT"].index(eng.devices[did].state)]
        assert not board[len(mine) :].any()


def test_contents_after_moving_and_picking_up() -> None:
    env = make_env("throughput_sla")
    obs, _ = env.reset(seed=0)
    ob = env.obs_builder
    idx = env.codec.index
    hub = ob.site_zones["SITE_HUB"]
    # Site index: SITE_ACUTE < SITE_HUB.
    assert _block(env, obs["runner_02"], "site")[0] == 1.0
    assert _block(env, obs["runner_03"], "site")[0] == 0.0
    # runner_02: corridor -> analytics is a 20 s edge: in transit after one 10 s step.
    obs, *_ = env.step({"runner_02": idx[("MOVE", "Z_ANALYTICS")]})
    assert env.last_results["A_RUNNER_02"]["status"] == "ACCEPTED"
    o = obs["runner_02"]
    assert not _block(env, o, "zone").any()
    np.testing.assert_allclose(_block(env, o, "transit"), [1.0, 10.0 / 60.0], rtol=1e-6)
    obs, *_ = env.step({})
    o = obs["runner_02"]
    assert _block(env, o, "transit").tolist() == [0.0, 0.0]
    zone = _block(env, o, "zone")
    assert zone.sum() == 1.0 and zone[hub.index("Z_ANALYTICS")] == 1.0
    # Wait for a specimen in reception; runner_01 picks up the most urgent one (slot 0).
    for _ in range(90):
        if len(env.view.zone_specimens("Z_RECEPTION")) >= 2:
            break
        obs, *_ = env.step({})
    head = env.view.zone_specimens("Z_RECEPTION")[0].specimen_id
    n_before = len(env.view.zone_specimens("Z_RECEPTION"))
    obs, *_ = env.step({"runner_01": idx[("PICK_UP", 0)]})
    assert env.last_results["A_RUNNER_01"]["status"] == "ACCEPTED"
    assert env.engine.agents["A_RUNNER_01"].carrying == [head]
    spec = env.engine.specimens[head]
    o = obs["runner_01"]
    carry = np.zeros(4, dtype=np.float32)
    carry[0] = carry[1 + _PRIO[spec.priority]] = 1.0 / 16
    np.testing.assert_allclose(_block(env, o, "carry"), carry, rtol=1e-6)
    work = _block(env, o, "work").reshape(N_SLOTS, 6)
    np.testing.assert_allclose(work[0], _slot_row(env, head), rtol=1e-6)
    # Then the zone's specimens, most urgent first (those that arrived this step too).
    rest = [s.specimen_id for s in env.view.zone_specimens("Z_RECEPTION")]
    assert len(rest) >= n_before - 1
    for k, sid in enumerate(rest[: N_SLOTS - 1]):
        np.testing.assert_allclose(work[1 + k], _slot_row(env, sid), rtol=1e-6)
    # reception_01 shares the zone but carries nothing: its list is the zone's alone.
    w2 = _block(env, obs["reception_01"], "work").reshape(N_SLOTS, 6)
    for k, sid in enumerate(rest[:N_SLOTS]):
        np.testing.assert_allclose(w2[k], _slot_row(env, sid), rtol=1e-6)
    assert not w2[len(rest) :].any()
    expected = np.zeros(7)
    for sid in rest:
        s = env.engine.specimens[sid]
        expected[_PRIO[s.priority]] += 1
        if s.status == "ARRIVED":
            expected[3] += 1
        elif s.status == "ACCEPTED" and s.pending_panels:
            stage = ("centrifuge", "aliquoter", "analyzer").index(specimen_stage(s))
            expected[4 + stage] += 1
    counts = _block(env, obs["reception_01"], "zone_counts")
    np.testing.assert_allclose(counts, np.minimum(1.0, expected / 20.0), rtol=1e-6)
    assert counts[3] > 0
    np.testing.assert_array_equal(counts, _block(env, o, "zone_counts"))


def test_device_board_and_frozen_flags_follow_the_engine() -> None:
    env = make_env("throughput_sla")
    obs, _ = env.reset(seed=1)
    eng = env.engine
    ob = env.obs_builder
    for pz, o in obs.items():
        a = eng.agents[env.engine_id[pz]]
        site = eng.world.zones[a.zone]["site_id"]
        board = _block(env, o, "devices").reshape(-1, 8)
        for j, did in enumerate(ob.site_devices[site]):
            d = eng.devices[did]
            assert board[j, ["IDLE", "RUNNING", "FAULT", "MAINT"].index(d.state)] == 1.0
            assert board[j, 7] == float(d.qc_failed)
        assert not board[len(ob.site_devices[site]) :].any()
        assert not _block(env, o, "frozen").any()


def test_observations_are_read_only_and_never_change_later() -> None:
    env = make_env("throughput_sla")
    obs0, _ = env.reset(seed=4)
    snap0 = {a: o.copy() for a, o in obs0.items()}
    rng = np.random.default_rng(0)
    n = env.action_space("runner_01").n
    obs1, *_ = env.step({a: int(rng.integers(n)) for a in env.agents})
    snap1 = {a: o.copy() for a, o in obs1.items()}
    for _ in range(5):
        env.step({a: int(rng.integers(n)) for a in env.agents})
    for a in obs0:
        np.testing.assert_array_equal(obs0[a], snap0[a])
        np.testing.assert_array_equal(obs1[a], snap1[a])
        with pytest.raises(ValueError):
            obs1[a][0] = 0.5
    assert not np.array_equal(obs0["runner_01"], obs1["runner_01"])  # time moved on
    # state() is a fresh copy of every agent's row.
    st = env.state()
    st[:] = 0.0
    assert env.state().any()


def _record(env: Any) -> list[dict[str, np.ndarray]]:
    """Wrap the env's reset and step to keep every observation dict they return."""
    seen: list[dict[str, np.ndarray]] = []
    reset, step = env.reset, env.step

    def rec_reset(*a: Any, **k: Any) -> Any:
        out = reset(*a, **k)
        seen.append(out[0])
        return out

    def rec_step(actions: Any) -> Any:
        out = step(actions)
        seen.append(out[0])
        return out

    env.reset, env.step = rec_reset, rec_step
    return seen


@pytest.mark.parametrize("task,scale", [("coord_scale", "small_8"), ("throughput_sla", None)])
def test_incremental_equals_full_rebuild_over_a_scripted_episode(
    task: str, scale: str | None
) -> None:
    kw = {"scale_config": scale} if scale else {}
    runs = []
    for full in (False, True):
        t = get_task(task)(**kw)
        env = t.make_env(full_rebuild=full)
        seen = _record(env)
        metrics, env = run_episode(t, 5, env=env)
        runs.append((seen, metrics, env.trajectory_hash()))
    (inc, m_inc, h_inc), (full, m_full, h_full) = runs
    assert m_inc["throughput"] == m_full["throughput"] > 0  # a real episode: work was done
    assert len(inc) == len(full) == m_inc["steps"] + 1
    for k, (a, b) in enumerate(zip(inc, full, strict=True)):
        assert a.keys() == b.keys()
        for agent in a:
            np.testing.assert_array_equal(a[agent], b[agent], err_msg=f"step {k} {agent}")
    assert h_inc == h_full


def test_incremental_equals_full_rebuild_under_random_actions() -> None:
    envs = [make_env("adversarial_disruption", full_rebuild=f) for f in (False, True)]
    outs = [e.reset(seed=9)[0] for e in envs]
    rng = np.random.default_rng(9)
    n = envs[0].action_space("runner_01").n
    carried = moved = 0
    for _ in range(150):
        acts = {a: int(rng.integers(n)) for a in envs[0].agents}
        outs = [e.step(dict(acts))[0] for e in envs]
        for a in outs[0]:
            np.testing.assert_array_equal(outs[0][a], outs[1][a])
        eng = envs[0].engine
        carried += sum(1 for x in eng.agents.values() if x.carrying)
        moved += sum(1 for x in eng.agents.values() if x.zone is None)
    assert carried and moved  # the episode exercised carrying and transit
    assert envs[0].trajectory_hash() == envs[1].trajectory_hash()


def test_idle_steps_touch_no_agent_rows_and_reuse_the_view() -> None:
    env = make_env("coord_scale", scale="small_smoke")
    env.reset(seed=0)
    builds = env.view.builds
    quiet = 0
    for _ in range(30):
        sig = env._engine_sig()
        env.step({})
        if env._engine_sig() == sig:  # no internal event ran: nothing but the clock changed
            quiet += 1
            assert env.view.builds == builds
            # Only agents whose zone holds specimens (their work rows age) are rewritten.
            busy = {
                i
                for i, e in enumerate(env.engine_ids)
                if env.view.zone_specimens(env.engine.agents[e].zone)
            }
            touched = env.obs_builder.touched
            assert touched is not None and set(touched.tolist()) == busy
            assert len(busy) < len(env.agents)
        builds = env.view.builds
    assert quiet > 0


def test_large_teams_default_to_lean_infos_but_masks_stay_available() -> None:
    env = make_env("coord_scale", scale="corridor_heavy")
    obs, infos = env.reset(seed=0)
    assert not env.rich_infos and not env.action_masks
    a = env.agents[0]
    assert set(infos[a]) == {"engine_id"}
    m = env.action_mask(a)
    assert m.shape == (env.action_space(a).n,) and m[0] == 1
    obs, rew, term, trunc, infos = env.step({a: 0, env.engine_ids[1]: {"action_type": "TICK"}})
    assert set(infos[env.agents[1]]) == {"engine_id", "step_result"}
    assert len(obs) == len(rew) == len(term) == len(trunc) == len(infos) == 200
    # Lean infos: what the env returned is never changed by a later step, and a caller's
    # change to an idle agent's info does not show up in later steps.
    b, c = env.agents[1], env.agents[2]
    before = {k: dict(v) for k, v in infos.items()}
    infos[c]["mine"] = 1
    _, _, _, _, infos2 = env.step({c: {"action_type": "TICK"}})
    assert infos2[b] == {"engine_id": env.engine_ids[1]}
    assert set(infos2[c]) == {"engine_id", "step_result"}
    _, _, _, _, infos3 = env.step({})
    assert infos3[c] == {"engine_id": env.engine_ids[2]}
    for k, v in infos.items():
        expected = dict(before[k], mine=1) if k == c else before[k]
        assert v == expected


def test_cached_masks_match_fresh_masks_and_are_read_only() -> None:
    env = make_env("adversarial_disruption")
    _, infos = env.reset(seed=2)
    rng = np.random.default_rng(2)
    n = env.action_space("runner_01").n
    for _ in range(40):
        _, _, _, _, infos = env.step({a: int(rng.integers(n)) for a in env.agents})
        for a, info in infos.items():
            np.testing.assert_array_equal(info["action_mask"], env.action_mask(a))
    with pytest.raises(ValueError):
        infos["runner_01"]["action_mask"][0] = 0


def test_blocked_penalty_goes_to_the_agent_that_was_blocked() -> None:
    env = make_env("throughput_sla")
    env.reset(seed=0)
    _, rew, *_ = env.step({"runner_01": 10**6})  # out of range: BLOCKED
    assert env.last_results["A_RUNNER_01"]["status"] == "BLOCKED"
    pen = env.task.reward_config["blocked"]
    assert rew["runner_01"] == pytest.approx(rew["runner_02"] + pen)


def test_observations_off_changes_nothing_but_the_observations() -> None:
    """``observations=False`` (the runner's env when no method reads them): no
    observations and no state vector, but the same actions give the same audit chain and
    the same episode metrics as with observations."""
    from labtrust_gym.errors import ConfigError

    task = get_task("throughput_sla")()
    heads = []
    for on in (True, False):
        env = task.make_env(observations=on)
        obs, _ = env.reset(seed=5)
        assert (len(obs) == len(env.agents)) is on
        rng = np.random.default_rng(0)
        for _ in range(60):
            obs, *_ = env.step({a: int(rng.integers(env.codec.n)) for a in env.agents})
            assert (obs != {}) is on
        heads.append(env.engine.audit.head_hash)
        if not on:
            with pytest.raises(ConfigError, match="observations=False"):
                env.state()
    assert heads[0] == heads[1]
    with_obs, _ = run_episode(task, 2, env=task.make_env(observations=True))
    without, _ = run_episode(task, 2, env=task.make_env(observations=False))
    for m in (with_obs, without):
        for k in ("wall_s", "steps_per_s", "agent_steps_per_s"):
            m.pop(k, None)
    assert with_obs == without
