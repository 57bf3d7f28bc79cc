"""A BLOCKED event does not move the clock when a check independent of the time blocks it.

Shape, agent, RBAC, transit (judged from the arrival time), signature and token checks
(expiry judged at ``t_s``) run before the clock advances; an event they block leaves
``now``, the event heap and every internal process untouched. A block by the action's own
rules needs the state at ``t_s``: the engine is then exactly as after ``tick(t_s)``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from _scenario import initial_state, key_id_of, signing_key, world_state

from labtrust_gym.engine import LabEngine
from labtrust_gym.engine.signatures import sign_event
from labtrust_gym.envs import make_env


def _engine(**kw: Any) -> LabEngine:
    engine = LabEngine()
    engine.reset(initial_state("explicit", **kw), seed=3)
    return engine


def _clock_state(engine: LabEngine) -> tuple[Any, ...]:
    return (engine.now, list(engine._heap), len(engine.specimens), engine._counters.get("sched"))


def _ev(engine: LabEngine, agent: str, action: str, t: float, **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "event_id": f"e{len(engine.audit)}",
        "t_s": t,
        "agent_id": agent,
        "action_type": action,
        "args": extra.pop("args", {}),
    }
    ev.update(extra)
    return ev


def _signed(engine: LabEngine, ev: dict[str, Any], agent: str) -> dict[str, Any]:
    ev["key_id"] = key_id_of(agent)
    ev["signature"] = sign_event(
        signing_key(agent), ev, engine.world.fingerprint, engine.audit.head_hash
    )
    return ev


def test_unknown_agent_far_in_the_future_moves_nothing() -> None:
    # The issue's case: an unknown agent's event at t=1e6 ran 47 arrivals before.
    env = make_env("throughput_sla", seed=0)
    eng = env.engine
    before = _clock_state(eng)
    assert eng._heap, "the episode has scheduled arrivals"
    out = eng.step({"event_id": "x", "t_s": 1e6, "agent_id": "A_NOBODY", "action_type": "TICK"})
    assert out["blocked_reason_code"] == "AGENT_UNKNOWN" and out["emits"] == []
    assert _clock_state(eng) == before
    # Legitimate events at the real time are not time regressions afterwards.
    env.step({"runner_01": "nonsense", "reception_01": 1})
    assert env.last_results["A_RECEPTION_01"]["status"] == "ACCEPTED"


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("unknown_action", "ARGS_UNKNOWN_ACTION"),
        ("args_not_mapping", "ARGS_INVALID"),
        ("rbac", "RBAC_ACTION_DENIED"),
        ("custody_unsigned", "TRANSPORT_CUSTODY_UNSIGNED"),
        ("bad_signature", "SIG_INVALID"),
        ("unknown_token", "TOKEN_UNKNOWN"),
    ],
)
def test_time_independent_blocks_leave_the_clock_alone(case: str, code: str) -> None:
    engine = _engine()
    t = 5000.0  # arrivals, escalations and a device fault are due by then
    assert engine._heap and engine._heap[0][0] <= t
    ev = {
        "unknown_action": lambda: _ev(engine, "A_RUNNER_01", "FLY", t),
        "args_not_mapping": lambda: _ev(engine, "A_RUNNER_01", "MOVE", t, args=["Z"]),
        "rbac": lambda: _ev(engine, "A_RUNNER_01", "RELEASE_RESULT", t),
        "custody_unsigned": lambda: _ev(engine, "A_RUNNER_03", "DISPATCH_TRANSPORT", t),
        "bad_signature": lambda: {
            **_signed(engine, _ev(engine, "A_RUNNER_01", "MOVE", t), "A_RUNNER_01"),
            "args": {"to_zone": "Z_CORRIDOR"},
        },
        "unknown_token": lambda: _ev(
            engine, "A_RUNNER_01", "MOVE", t, args={"to_zone": "Z_CORRIDOR"}, token_refs=["T?"]
        ),
    }[case]()
    before = world_state(engine)
    out = engine.step(ev)
    assert out["blocked_reason_code"] == code
    assert out["emits"] == [] and out["violations"] == []
    assert world_state(engine) == before  # now and the heap included


def test_in_transit_is_judged_at_t() -> None:
    engine = _engine()
    engine.step(_ev(engine, "A_RUNNER_01", "MOVE", 0.0, args={"to_zone": "Z_CORRIDOR"}))
    a = engine.agents["A_RUNNER_01"]
    assert a.zone is None and a.arrive_t > 0
    # Still travelling at t: blocked before the clock moves.
    before = world_state(engine)
    t = a.arrive_t - 1
    out = engine.step(_ev(engine, "A_RUNNER_01", "MOVE", t, args={"to_zone": "Z_DISPATCH"}))
    assert out["blocked_reason_code"] == "AGENT_IN_TRANSIT"
    assert world_state(engine) == before
    # Arrived by t: the clock brings it in, then the action applies.
    out = engine.step(
        _ev(engine, "A_RUNNER_01", "MOVE", a.arrive_t, args={"to_zone": "Z_DISPATCH"})
    )
    assert out["status"] == "ACCEPTED" and out["emits"][0] == "AGENT_ARRIVED"


def test_token_expiry_is_judged_at_t_before_the_clock() -> None:
    engine = _engine()
    issue = _ev(
        engine,
        "A_SUPERVISOR_01",
        "ISSUE_TOKEN",
        0.0,
        args={
            "token_id": "T1",
            "token_type": "RESTRICTED_ENTRY",
            "subject_agent_id": "A_ANALYTICS_01",
            "approvers": ["A_SUPERVISOR_01"],
        },
    )
    assert engine.step(issue)["status"] == "ACCEPTED", engine.step_ctx
    tok = engine.tokens["T1"]
    t = tok.expires_t + 1.0
    before = world_state(engine)
    ev = _ev(
        engine,
        "A_ANALYTICS_01",
        "OPEN_DOOR",
        t,
        args={"door_id": "D_BIOBANK_AIRLOCK"},
        token_refs=["T1"],
    )
    out = engine.step(ev)
    assert out["blocked_reason_code"] == "TOKEN_EXPIRED"
    assert world_state(engine) == before


def test_a_rule_level_block_equals_a_tick_to_t() -> None:
    engine = _engine()
    twin = copy.deepcopy(engine)
    t = 3000.0
    out = engine.step(_ev(engine, "A_RUNNER_01", "MOVE", t, args={"to_zone": "Z_NOWHERE"}))
    assert out["blocked_reason_code"] == "ZONE_UNKNOWN"
    ref = twin.tick(t)
    assert engine.now == t
    assert out["emits"] == ref["emits"] and out["emits"]  # the processes due by t ran
    assert world_state(engine) == world_state(twin)


def test_env_events_never_move_the_clock() -> None:
    env = make_env("adversarial_disruption", seed=1)
    for _ in range(30):
        now = env.engine.now
        env.step({a: 7 for a in env.agents})
        for eid, res in env.last_results.items():
            ev = env.last_events[eid]
            assert ev["t_s"] == now, (eid, res)
