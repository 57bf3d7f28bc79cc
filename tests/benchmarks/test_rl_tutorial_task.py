"""The rl_tutorial task: parameters from its own schema-validated file, checked references,
and the emit reward shaping it declares (paid by the env, per emit)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from labtrust_gym.benchmarks.runner import run_episode
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.envs import make_env
from labtrust_gym.errors import ConfigError, PolicyValidationError
from labtrust_gym.policy.loader import load_policy
from labtrust_gym.policy.validate import validate_policy_dir

POLICY_SRC = Path(__file__).resolve().parents[2] / "policy"
TUTORIAL = Path("tasks") / "rl_tutorial.v0.1.yaml"


def test_parameters_come_from_its_own_file() -> None:
    task = get_task("rl_tutorial")()
    doc = yaml.safe_load((POLICY_SRC / TUTORIAL).read_text(encoding="utf-8"))["params"]
    assert task.max_steps == doc["max_steps"]
    assert task.reward_config == doc["reward_config"]
    assert task.agent_ids() == [a["agent_id"] for a in doc["staff"]]
    # Defaults of the tasks file fill what the tutorial does not set.
    assert task.dt_s == 10 and task.timing_mode == "explicit"


def test_scripted_team_releases_every_tube_and_random_none() -> None:
    task = get_task("rl_tutorial")()
    m, _ = run_episode(task, 5)
    assert m["specimens_arrived"] >= 3
    assert m["throughput"] == m["specimens_arrived"] and m["blocked"] == 0
    # What the shaping paid for: each tube accessioned, queued, run and resulted once.
    shaped = m["shaping_emits"]
    assert set(shaped) == set(task.reward_config["emit"])
    for kind in ("ACCESSIONED", "WORK_QUEUED", "RUN_STARTED", "RESULT_GENERATED"):
        assert shaped[kind] == m["specimens_arrived"], (kind, shaped)
    assert m["reruns_requested"] == 0
    r, _ = run_episode(task, 5, controller="random")
    assert r["throughput"] == 0 and r["blocked"] > 100


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"reward_config": {"emit": {"NOT_AN_EMIT": 1.0}}}, "NOT_AN_EMIT"),
        ({"reward_config": {"emit": {"ACCESSIONED": "lots"}}}, "emit.ACCESSIONED"),
        (
            {"staff": [{"agent_id": "A_X_01", "role": "ROLE_PILOT", "zone": "Z_ACUTE_LAB"}]},
            "staff[0].role",
        ),
        (
            {"staff": [{"agent_id": "A_X_01", "role": "ROLE_RUNNER", "zone": "Z_MOON"}]},
            "staff[0].zone",
        ),
    ],
)
def test_bad_references_name_the_field(params: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        get_task("rl_tutorial")(params=params)


def test_a_broken_file_is_reported_by_validate_policy_and_refused(tmp_path: Path) -> None:
    pdir = tmp_path / "policy"
    shutil.copytree(POLICY_SRC, pdir)
    doc = yaml.safe_load((pdir / TUTORIAL).read_text(encoding="utf-8"))
    doc["params"]["reward_config"]["emit"]["RUN_STARTED"] = "a lot"
    doc["params"]["reward_config"]["bonus"] = 1
    (pdir / TUTORIAL).write_text(yaml.safe_dump(doc), encoding="utf-8")
    problems = validate_policy_dir(pdir)
    mine = [p for p in problems if p[0].endswith("rl_tutorial.v0.1.yaml")]
    paths = {p[1] for p in mine}
    assert "params.reward_config.emit.RUN_STARTED" in paths, mine
    assert any("bonus" in p[2] for p in mine), mine
    assert len(mine) == len(problems)  # nothing else is broken
    with pytest.raises(PolicyValidationError, match="RUN_STARTED"):
        get_task("rl_tutorial")(policy=load_policy(pdir))


def _scripted_rewards(params: dict) -> tuple[float, dict[str, int], float]:
    """Play the scripted team on the env directly; (reward of one agent, emits, reward
    of another)."""
    env = make_env("rl_tutorial", params=params)
    seed = 3
    env.reset(seed=seed)
    (team,) = env.task.make_policies(seed)
    team.reset(env.engine, seed)
    total = dict.fromkeys(env.possible_agents, 0.0)
    while env.agents:
        _, rew, _, _, _ = env.step(team.propose(env.engine, env.step_count * env.task.dt_s))
        for a, r in rew.items():
            total[a] += r
    return total["runner_03"], dict(env.counters["emits"]), total["scientist_01"]


def _zero_shaping() -> dict[str, float]:
    """The file's shaping with every reward 0 (parameters merge key by key)."""
    return dict.fromkeys(get_task("rl_tutorial")().reward_config["emit"], 0.0)


def test_emit_shaping_is_paid_per_emit_to_the_team() -> None:
    only = {**_zero_shaping(), "ACCESSIONED": 1.0, "RESULT_GENERATED": 10.0}
    params = {
        "reward_config": {
            "release": 0.0,
            "on_time_release": 0.0,
            "blocked": 0.0,
            "emit": only,
        }
    }
    runner, emits, scientist = _scripted_rewards(params)
    assert emits["ACCESSIONED"] >= 3 and emits["RESULT_GENERATED"] >= 3
    expected = emits["ACCESSIONED"] * 1.0 + emits["RESULT_GENERATED"] * 10.0
    # A team reward: the runner neither accessions nor runs, and gets it all the same.
    assert runner == pytest.approx(expected)
    assert scientist == pytest.approx(expected)


def test_without_shaping_the_reward_is_releases_only() -> None:
    params = {
        "reward_config": {
            "release": 1.0,
            "on_time_release": 0.0,
            "blocked": 0.0,
            "emit": _zero_shaping(),
        }
    }
    runner, emits, _ = _scripted_rewards(params)
    assert runner == pytest.approx(emits["RESULT_RELEASED"])


def test_no_rerun_is_open_to_the_discrete_actions() -> None:
    """docs/rl.md: the shaping cannot be farmed by reruns, because the REQUEST_RERUN slots
    index QC-held results and nothing is held in this task."""
    env = make_env("rl_tutorial")
    seed = 3
    env.reset(seed=seed)
    (team,) = env.task.make_policies(seed)
    team.reset(env.engine, seed)
    rerun = [i for i, (a, _) in enumerate(env.codec.entries) if a == "REQUEST_RERUN"]
    release = [i for i, (a, _) in enumerate(env.codec.entries) if a == "RELEASE_RESULT"]
    seen_release = False
    while env.agents:
        for a in env.agents:
            m = env.action_mask(a)
            assert not m[rerun].any(), (env.step_count, a)
            seen_release = seen_release or bool(m[release].any())
        env.step(team.propose(env.engine, env.step_count * env.task.dt_s))
    assert seen_release  # the result slots do open (so the check above can fail)
    assert env.counters["emits"].get("RESULT_GENERATED", 0) >= 3
