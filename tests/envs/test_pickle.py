"""The env pickles, cloudpickles and deep-copies, and the copies continue identically."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import cloudpickle
import numpy as np
import pytest
import supersuit as ss

from labtrust_gym.engine import LabEngine
from labtrust_gym.envs import make_env

COPIES: dict[str, Callable[[Any], Any]] = {
    "pickle": lambda e: pickle.loads(pickle.dumps(e)),
    "cloudpickle": lambda e: cloudpickle.loads(cloudpickle.dumps(e)),
    "deepcopy": copy.deepcopy,
}


def _actions(env: Any, rng: np.random.Generator) -> dict[str, Any]:
    n = env.codec.n
    out: dict[str, Any] = {a: int(rng.integers(n)) for a in env.agents}
    # Signed actions too: the env's own signing keys and an explicit sign_with.
    eid = env.engine_ids[0]
    out[env.pz_id[eid]] = {
        "action_type": "TICK",
        "sign_with": env._keys[eid],
    }
    return out


def _run(env: Any, steps: int, seed: int) -> list[Any]:
    rng = np.random.default_rng(seed)
    trace = []
    for _ in range(steps):
        obs, rew, term, trunc, infos = env.step(_actions(env, rng))
        trace.append(
            (
                {a: o.tobytes() for a, o in obs.items()},
                rew,
                trunc,
                {a: (i.get("step_result"), i["action_mask"].tobytes()) for a, i in infos.items()},
                env.engine.audit.head_hash,
                env.trajectory_hash(),
            )
        )
    return trace


@pytest.mark.parametrize("how", sorted(COPIES))
@pytest.mark.parametrize("task", ["throughput_sla", "multi_site_stat"])
def test_a_copy_continues_identically(how: str, task: str) -> None:
    env = make_env(task, seed=4)
    fresh = COPIES[how](env)  # right after reset
    assert _run(fresh, 10, 1) == _run(env, 10, 1)
    mid = COPIES[how](env)  # mid-episode, with signing keys derived
    assert mid._keys_cache is not None
    assert _run(mid, 25, 2) == _run(env, 25, 2)
    assert mid.engine.audit.verify() == (True, None)


def test_a_copied_reset_env_matches_a_new_one() -> None:
    a = make_env("adversarial_disruption", seed=9)
    b = pickle.loads(pickle.dumps(a))
    c = make_env("adversarial_disruption", seed=9)
    assert _run(b, 30, 5) == _run(c, 30, 5)


def test_the_engine_alone_pickles() -> None:
    eng = make_env("throughput_sla", seed=0).engine
    copy2 = pickle.loads(pickle.dumps(eng))
    assert isinstance(copy2, LabEngine)
    ev = {"event_id": "x", "t_s": eng.now, "agent_id": "A_QC_01", "action_type": "VERIFY_AUDIT"}
    assert eng.step(dict(ev)) == copy2.step(dict(ev))
    assert copy2.keys.state_dict() == eng.keys.state_dict()


def test_supersuit_vector_envs() -> None:
    vec = ss.pettingzoo_env_to_vec_env_v1(make_env("throughput_sla"))
    n_agents = vec.num_envs
    runs = []
    for cpus in (0, 2):  # in-process copies (deepcopy), then worker processes (cloudpickle)
        venv = ss.concat_vec_envs_v1(vec, 2, num_cpus=cpus, base_class="gymnasium")
        try:
            obs, _ = venv.reset(seed=3)
            assert obs.shape[0] == 2 * n_agents
            trace = []
            rng = np.random.default_rng(0)
            for _ in range(6):
                acts = rng.integers(venv.action_space.n, size=venv.num_envs)
                obs, rew, term, trunc, _ = venv.step(acts)
                trace.append((obs.tobytes(), rew.tobytes()))
            runs.append(trace)
        finally:
            venv.close()
    assert runs[0] == runs[1]


def test_arrays_handed_out_stay_read_only_after_a_copy() -> None:
    env = pickle.loads(pickle.dumps(make_env("throughput_sla", seed=1)))
    obs, _, _, _, infos = env.step({})
    assert not obs["runner_01"].flags.writeable
    assert not infos["runner_01"]["action_mask"].flags.writeable
    again = copy.deepcopy(env)
    assert not again._obs.flags.writeable
    assert all(not m.flags.writeable for m in again._mask_cache.values())
