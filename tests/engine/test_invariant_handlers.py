"""Invariant handlers: return values are checked; CLOCK invariants run on every advance."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from labtrust_gym.config import get_policy_dir
from labtrust_gym.engine import LabEngine
from labtrust_gym.engine.invariants_runtime import HANDLERS, register_invariant_handler
from labtrust_gym.envs import make_env
from labtrust_gym.errors import RegistryError
from labtrust_gym.policy.loader import POLICY_FILES, load_policy

IDS = {"TICK": "INV-PLUGT-001", "CLOCK": "INV-PLUGC-001"}
#: What the plugin handler returns next, and how often it ran.
STATE: dict[str, Any] = {"out": None, "calls": 0, "events": []}


def _plugin(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Any:
    STATE["calls"] += 1
    STATE["events"].append(event.get("action_type"))
    return STATE["out"]


@pytest.fixture
def plugin_policy(tmp_path: Path) -> Iterator[Any]:
    """A policy with two plugin invariants: one on TICK, one on CLOCK."""
    snap = HANDLERS.snapshot()
    register_invariant_handler("state", "plugin_probe", _plugin)
    STATE.update(out=None, calls=0, events=[])
    pdir = tmp_path / "policy"
    shutil.copytree(get_policy_dir(), pdir)
    path = pdir / POLICY_FILES["invariant_registry"]
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for trig in ("TICK", "CLOCK"):
        doc["invariants"].append(
            {
                "invariant_id": IDS[trig],
                "description": f"A plugin's probe on {trig}.",
                "severity": "low",
                "triggers": [trig],
                "reason_code": "INV_SPECIMEN_LOCATION",
                "logic_template": {"type": "state", "parameters": {"check": "plugin_probe"}},
            }
        )
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    try:
        yield load_policy(pdir)
    finally:
        HANDLERS.restore(snap)


def _tick(engine: LabEngine, t: float) -> dict[str, Any]:
    return engine.step(
        {"event_id": f"t{t}", "t_s": t, "agent_id": "A_RUNNER_01", "action_type": "TICK"}
    )


@pytest.mark.parametrize(
    ("out", "why"),
    [
        ("yes", "not None or a 3-tuple"),
        (True, "not None or a 3-tuple"),
        ((True,), "not None or a 3-tuple"),
        ([False, None, None], "not None or a 3-tuple"),
        (("no", None, None), "passed is not a bool"),
        ((1, None, None), "passed is not a bool"),
        ((False, "NOT_A_CODE", None), "reason_code is not a registered reason code"),
        ((False, None, [1]), "details is not a dict"),
    ],
)
def test_a_malformed_return_value_is_an_error_naming_the_invariant(
    plugin_policy: Any, out: Any, why: str
) -> None:
    engine = LabEngine(plugin_policy)
    STATE["out"] = out
    with pytest.raises(RegistryError) as err:
        _tick(engine, 0.0)
    msg = str(err.value)
    assert "INV-PLUGT-001" in msg and "'state.plugin_probe'" in msg and why in msg


@pytest.mark.parametrize(
    ("out", "violated"),
    [
        (None, False),
        ((True, None, None), False),
        ((np.bool_(True), None, {"k": 1}), False),
        ((False, None, None), True),
        ((np.bool_(False), "TAT_SLA_BREACH", {"k": 1}), True),
    ],
)
def test_well_formed_return_values(plugin_policy: Any, out: Any, violated: bool) -> None:
    engine = LabEngine(plugin_policy)
    STATE["out"] = out
    res = _tick(engine, 0.0)
    ids = [v["invariant_id"] for v in res["violations"]]
    assert ("INV-PLUGT-001" in ids) is violated
    if violated and out[1]:
        v = next(v for v in res["violations"] if v["invariant_id"] == "INV-PLUGT-001")
        assert v["reason_code"] == out[1] and v["details"] == {"k": 1}


def test_clock_invariants_run_after_every_advance(plugin_policy: Any) -> None:
    engine = LabEngine(plugin_policy)
    for k in range(1, 11):
        engine.tick(10.0 * k)  # nothing happens in an empty lab but time passing
    assert STATE["events"].count("CLOCK") == 10
    engine.tick(100.0)  # the clock is already there: no advance, no evaluation
    assert STATE["events"].count("CLOCK") == 10
    n = len(STATE["events"])
    out = engine.step(  # an event that advances the clock (no plugin invariant of its own)
        {
            "event_id": "m",
            "t_s": 110.0,
            "agent_id": "A_RUNNER_01",
            "action_type": "MOVE",
            "args": {"to_zone": "Z_CORRIDOR"},
        }
    )
    assert out["status"] == "ACCEPTED"
    assert STATE["events"][n:] == ["MOVE"]  # the CLOCK invariant, given the step's event


def test_a_clock_violation_in_an_idle_tick_reaches_the_audit_log(plugin_policy: Any) -> None:
    engine = LabEngine(plugin_policy)
    STATE["out"] = (False, None, None)
    n = len(engine.audit)
    res = engine.tick(10.0)
    assert [v["invariant_id"] for v in res["violations"]] == ["INV-PLUGC-001"]
    assert len(engine.audit) == n + 1
    assert b"INV-PLUGC-001" in engine.audit.record_bytes(n)


def test_a_plugins_clock_invariant_runs_in_every_env_step(plugin_policy: Any) -> None:
    # The case: a plugin CLOCK invariant ran 0 times in a 360-step episode.
    env = make_env("throughput_sla", policy=plugin_policy)
    env.reset(seed=0)
    while env.agents:
        env.step({})
    assert env.step_count == 360
    assert STATE["events"].count("CLOCK") >= 360
