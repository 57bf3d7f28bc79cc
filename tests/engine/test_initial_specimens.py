"""Initial specimens that are already in the lab: ``centrifuged: true`` and past times.

A warm-started lab holds tubes that were accepted and spun before t=0. The spec field
``centrifuged`` says so; it is only valid on an ACCEPTED specimen whose panels need a
centrifuge. ``arrival_t`` / ``collected_t`` may be negative (before the episode began).
"""

from __future__ import annotations

from typing import Any

import pytest

from labtrust_gym.engine import LabEngine
from labtrust_gym.engine.actions_devices import specimen_stage
from labtrust_gym.errors import ConfigError


def _reset(*specs: dict[str, Any]) -> LabEngine:
    e = LabEngine()
    e.reset({"specimens": list(specs)}, seed=4)
    return e


def _step(e: LabEngine, n: int, agent: str, action: str, **args: Any) -> dict[str, Any]:
    return e.step(
        {"event_id": f"e{n}", "t_s": e.now, "agent_id": agent, "action_type": action, "args": args}
    )


def test_a_spun_backlog_tube_goes_straight_to_the_aliquoter() -> None:
    e = _reset(
        {
            "specimen_id": "B1",
            "panels": ["UE", "LFT"],
            "status": "ACCEPTED",
            "centrifuged": True,
            "zone": "Z_PREANALYTICS",
            "arrival_t": -240.0,
            "collected_t": -1500.0,
        },
        {"specimen_id": "B2", "panels": ["UE"], "status": "ACCEPTED", "zone": "Z_PREANALYTICS"},
    )
    b1, b2 = e.specimens["B1"], e.specimens["B2"]
    assert (b1.centrifuged, b1.arrival_t, b1.collected_t) == (True, -240.0, -1500.0)
    assert b1.expires_t == -1500.0 + 14400.0  # stability counts from the true collection
    assert specimen_stage(b1) == "aliquoter" and specimen_stage(b2) == "centrifuge"
    a = "A_PREANA_01"
    out = _step(e, 1, a, "QUEUE_RUN", device_id="DEV_CENTRIFUGE_0001", specimen_id="B1")
    assert out["blocked_reason_code"] == "SPEC_NOT_READY"  # no second spin
    out = _step(e, 2, a, "QUEUE_RUN", device_id="DEV_ALIQUOTER_0001", specimen_id="B1")
    assert out["status"] == "ACCEPTED"
    out = _step(e, 3, a, "QUEUE_RUN", device_id="DEV_ALIQUOTER_0001", specimen_id="B2")
    assert out["blocked_reason_code"] == "SPEC_NOT_READY"  # B2 still needs its spin
    assert _step(e, 4, a, "START_RUN", device_id="DEV_ALIQUOTER_0001")["status"] == "ACCEPTED"
    e.tick(30.0)
    kids = sorted(k for k in e.specimens if k.startswith("B1-A"))
    assert kids == ["B1-A1", "B1-A2"]
    for k in kids:
        child = e.specimens[k]
        assert (child.centrifuged, child.arrival_t, child.status) == (True, -240.0, "ACCEPTED")
        assert specimen_stage(child) == "analyzer"


def test_a_spun_tube_without_centrifuge_panels_or_not_accepted_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"specimen F1: centrifuged: true, but its panels"):
        _reset({"specimen_id": "F1", "panels": ["FBC"], "status": "ACCEPTED", "centrifuged": True})
    for status in (None, "ARRIVED", "HELD", "REJECTED"):
        spec: dict[str, Any] = {"specimen_id": "S1", "panels": ["UE"], "centrifuged": True}
        if status is not None:
            spec["status"] = status
        with pytest.raises(ConfigError, match=r"specimen S1: centrifuged: true needs status"):
            _reset(spec)
    with pytest.raises(ConfigError, match=r"specimen S1: centrifuged must be true or false"):
        _reset({"specimen_id": "S1", "panels": ["UE"], "status": "ACCEPTED", "centrifuged": 1})
    # The same check guards scheduled arrivals.
    e = LabEngine()
    with pytest.raises(ConfigError, match=r"specimen S9: centrifuged: true needs status"):
        e.reset(
            {
                "arrival_schedule": [
                    {
                        "t_s": 5,
                        "specimen": {"specimen_id": "S9", "panels": ["UE"], "centrifuged": True},
                    }
                ]
            }
        )
    # centrifuged: false is the default and always fine.
    e = _reset({"specimen_id": "F2", "panels": ["FBC"], "centrifuged": False})
    assert e.specimens["F2"].centrifuged is False


@pytest.mark.parametrize("field", ["arrival_t", "collected_t"])
@pytest.mark.parametrize("bad", ["-5", float("nan"), float("inf"), True])
def test_times_must_be_finite_numbers(field: str, bad: Any) -> None:
    with pytest.raises(ConfigError, match=rf"specimen S1: {field} must be a finite number"):
        _reset({"specimen_id": "S1", "panels": ["UE"], field: bad})
