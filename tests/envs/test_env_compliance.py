"""Every registered task passes the PettingZoo API, seed and determinism checks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from labtrust_gym.benchmarks.tasks import list_tasks
from labtrust_gym.envs import make_env
from labtrust_gym.testing.env_checks import check_task, trajectory_hash


@pytest.mark.parametrize("task", list_tasks())
def test_check_task(task: str) -> None:
    check_task(task, num_cycles=25, determinism_steps=25)


def test_random_actions_never_crash_and_obs_in_bounds() -> None:
    env = make_env("adversarial_disruption")
    obs, infos = env.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(120):
        acts = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        obs, rew, term, trunc, infos = env.step(acts)
        for a, o in obs.items():
            assert env.observation_space(a).contains(o)
            assert np.isfinite(rew[a])
    assert env.counters["actions"] > 0


def test_contract_action_index_and_raw_engine_actions() -> None:
    env = make_env("throughput_sla")
    env.reset(seed=0)
    # action_index 3 = MOVE with explicit args; action_info may name any engine action.
    env.step(
        {
            "runner_01": {"action_index": 3, "action_info": {"to_zone": "Z_CORRIDOR"}},
            "scientist_01": {
                "action_index": 0,
                "action_info": {"action_type": "RELEASE_RESULT", "args": {"result_id": "R-NONE"}},
            },
            "qc_01": {"action_type": "VERIFY_AUDIT", "args": {}},
        }
    )
    assert env.last_results["A_RUNNER_01"]["status"] == "ACCEPTED"
    assert env.last_results["A_SCIENTIST_01"]["blocked_reason_code"] == "RESULT_UNKNOWN"
    assert env.last_results["A_QC_01"]["blocked_reason_code"] == "RBAC_ACTION_DENIED"
    # The 10 s edge is travelled during the 10 s step: the runner arrives at its end.
    assert env.engine.agents["A_RUNNER_01"].zone == "Z_CORRIDOR"


def test_out_of_range_and_garbage_actions_are_blocked_not_raised() -> None:
    env = make_env("throughput_sla")
    env.reset(seed=0)
    env.step({"runner_01": 10**6, "runner_02": "nonsense", "reception_01": {"foo": 1}})
    codes = {
        a: env.last_results[a]["blocked_reason_code"]
        for a in ("A_RUNNER_01", "A_RUNNER_02", "A_RECEPTION_01")
    }
    assert codes == {
        "A_RUNNER_01": "ACTION_INDEX_OUT_OF_RANGE",
        "A_RUNNER_02": "ACTION_INDEX_NOT_INTEGER",
        "A_RECEPTION_01": "ACTION_FORM_UNKNOWN",
    }


def test_action_mask_method_matches_infos() -> None:
    env = make_env("throughput_sla")
    _, infos = env.reset(seed=2)
    for a in env.agents:
        assert np.array_equal(env.action_mask(a), infos[a]["action_mask"])
    # A masked-in MOVE is accepted by the engine.
    m = env.action_mask("runner_01")
    moves = [i for i, (t, _) in enumerate(env.codec.entries) if t == "MOVE" and m[i]]
    assert moves
    env.step({"runner_01": moves[0]})
    assert env.last_results["A_RUNNER_01"]["status"] == "ACCEPTED"


def test_render_and_state() -> None:
    env = make_env("multi_site_stat", render_mode="ansi")
    env.reset(seed=1)
    text = env.render()
    assert "Z_RECEPTION" in text and "released=0" in text
    st = env.state()
    assert env.state_space.contains(st)


_CHILD = """
import sys
from labtrust_gym.testing.env_checks import trajectory_hash
print(trajectory_hash(sys.argv[1], 7, 30)[-1])
"""


def test_trajectory_identical_across_processes() -> None:
    outs = []
    for hs in ("0", "123"):
        p = subprocess.run(
            [sys.executable, "-c", _CHILD, "qc_cascade"],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": hs, "PATH": ""},
        )
        outs.append(p.stdout.strip())
    assert outs[0] == outs[1] == trajectory_hash("qc_cascade", 7, 30)[-1]


def test_coord_scale_config_emitted_once_on_the_first_step() -> None:
    env = make_env("coord_scale", scale="small_smoke")
    env.reset(seed=0)
    env.step({})  # nobody acts: the clock tick still carries the emit
    assert env.counters["emits"].get("COORD_SCALE_CONFIG") == 1
    for _ in range(5):
        env.step({})
    assert env.counters["emits"].get("COORD_SCALE_CONFIG") == 1
    assert env.engine.initial_state["_scale_config_sanitized"]["config_id"] == "small_smoke"


def test_action_mask_closes_a_full_narrow_passage() -> None:
    from labtrust_gym.benchmarks.coordination_scale import load_scale_config_by_id
    from labtrust_gym.envs import make_env

    cfg = load_scale_config_by_id(None, "small_8").sanitized()
    cfg.pop("config_id", None)
    cfg["corridor_capacity"] = 1
    env = make_env("coord_scale", scale=cfg)
    env.reset(seed=0)
    eng = env.engine
    runners = sorted(aid for aid, a in eng.agents.items() if a.role == "ROLE_RUNNER")
    r1, r2 = runners[:2]
    zc = eng.agents[r1].zone
    assert zc.endswith("CORRIDOR") and eng.agents[r2].zone == zc
    za = zc.replace("CORRIDOR", "ANALYTICS")  # a 20 s passage: still on it after a step
    i = env.codec.index[("MOVE", za)]
    assert env.action_mask(r2)[i] == 1
    env.step({r1: {"action_index": 3, "action_info": {"to_zone": za}}})
    assert eng.agents[r1].zone is None and eng.edge_free(zc, za) == 0
    assert env.action_mask(r2)[i] == 0
    env.step({})
    assert eng.agents[r1].zone == za and env.action_mask(r2)[i] == 1
