"""A step is atomic: an invalid call changes nothing; a bad action never half-applies one."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from labtrust_gym.envs import make_env


def _snapshot(env: Any) -> tuple[Any, ...]:
    eng = env.engine
    state = eng.state_dict()
    return (
        env.step_count,
        len(eng.audit),
        eng.audit.head_hash,
        env.trajectory_hash(),
        dict(env.counters["blocked_by_reason_code"]),
        repr(state),
    )


def _event_ids(env: Any) -> list[str]:
    out = []
    for blob in env.engine.audit.records():
        ev = orjson.loads(blob).get("event")
        if isinstance(ev, dict) and "event_id" in ev:
            out.append(ev["event_id"])
    return out


def test_a_bad_action_beside_a_good_one_does_not_raise_or_reuse_ids() -> None:
    # The issue's case: {a0: TICK, a1: inf} raised after a0's event was applied, and the
    # next step reused a0's event id.
    env = make_env("throughput_sla", seed=0)
    for _ in range(3):
        env.step({"reception_01": 1, "runner_01": float("inf")})
        assert env.last_results["A_RECEPTION_01"]["status"] == "ACCEPTED"
        assert env.last_results["A_RUNNER_01"]["blocked_reason_code"] == (
            "ACTION_INDEX_NOT_INTEGER"
        )
    assert env.step_count == 3
    ids = _event_ids(env)
    assert len(ids) == len(set(ids)) == 6
    assert env.engine.audit.verify() == (True, None)


@pytest.mark.parametrize(
    ("actions", "match"),
    [
        ([("runner_01", 1)], "takes a dict"),
        ("runner_01", "takes a dict"),
        (None, "takes a dict"),
        ({"runner_01": 1, "nobody_01": 1}, "'nobody_01'"),
        ({"runner_01": 1, 7: 1}, "7, which is not an agent"),
        ({"runner_01": 1, "A_RUNNER_01": 2}, "'runner_01' is named twice"),
    ],
    ids=["list", "str", "None", "unknown agent", "int key", "both names"],
)
def test_an_invalid_call_raises_and_leaves_the_env_untouched(actions: Any, match: str) -> None:
    env = make_env("throughput_sla", seed=0)
    env.step({"runner_01": 1})
    before = _snapshot(env)
    with pytest.raises(ValueError, match=match):
        env.step(actions)
    assert _snapshot(env) == before
    env.step({"runner_01": 1})  # and it goes on normally
    assert env.step_count == 2


def test_actions_after_the_episode_ended_are_an_error() -> None:
    env = make_env("throughput_sla", seed=0)
    while env.agents:
        env.step({})
    before = _snapshot(env)
    with pytest.raises(ValueError, match="'runner_01' is not live: the episode has ended"):
        env.step({"runner_01": 1})
    assert _snapshot(env) == before


def test_a_step_that_raises_midway_refuses_further_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    env = make_env("throughput_sla", seed=0)
    real = env.engine.step

    def flaky(event: Any) -> Any:
        if event["agent_id"] == "A_RUNNER_01":
            raise RuntimeError("plugin bug")
        return real(event)

    monkeypatch.setattr(env.engine, "step", flaky)
    with pytest.raises(RuntimeError, match="plugin bug"):
        env.step({"reception_01": 1, "runner_01": 1})
    with pytest.raises(RuntimeError, match="call reset"):
        env.step({"reception_01": 1})
    monkeypatch.undo()
    env.reset(seed=0)
    env.step({"reception_01": 1})
    assert env.step_count == 1
