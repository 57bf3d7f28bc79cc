"""Device queues serve by priority (the default) or first come, first served (policy:
``equipment_registry.device_types.<T>.queue_discipline``)."""

from __future__ import annotations

from typing import Any

import pytest

from labtrust_gym.engine import LabEngine
from labtrust_gym.errors import ConfigError

HAEM = "DEV_HAEM_0001"


def _engine(discipline: str | None) -> LabEngine:
    init: dict[str, Any] = {
        "specimens": [
            {
                "specimen_id": sid,
                "panels": ["FBC"],
                "priority": p,
                "status": "ACCEPTED",
                "zone": "Z_ANALYTICS",
            }
            for sid, p in (("R1", "ROUTINE"), ("U1", "URGENT"), ("S1", "STAT"))
        ]
    }
    if discipline is not None:
        init["effective_policy"] = {
            "equipment_registry": {"device_types": {"HAEM": {"queue_discipline": discipline}}}
        }
    e = LabEngine()
    e.reset(init, seed=0)
    for k, sid in enumerate(("R1", "U1", "S1")):
        out = e.step(
            {
                "event_id": f"q{k}",
                "t_s": 0.0,
                "agent_id": "A_ANALYTICS_01",
                "action_type": "QUEUE_RUN",
                "args": {"device_id": HAEM, "specimen_id": sid},
            }
        )
        assert out["status"] == "ACCEPTED"
    return e


def _order(e: LabEngine) -> list[str]:
    return [it["specimen_id"] for it in e.query("device", HAEM)["queue_items"]]


def test_priority_queue_is_the_default() -> None:
    e = _engine(None)
    assert _order(e) == ["S1", "U1", "R1"]
    assert e.world.device_types["HAEM"].get("queue_discipline", "priority") == "priority"


def test_fifo_queue_serves_in_arrival_order() -> None:
    e = _engine("fifo")
    assert _order(e) == ["R1", "U1", "S1"]
    out = e.step(
        {
            "event_id": "s",
            "t_s": 0.0,
            "agent_id": "A_ANALYTICS_01",
            "action_type": "START_RUN",
            "args": {"device_id": HAEM},
        }
    )
    assert out["status"] == "ACCEPTED"
    assert e.specimens["R1"].status == "IN_RUN" and e.specimens["S1"].status == "QUEUED"
    # A fault puts the run back at the head, still in arrival order.
    e._on_device_fault({"device_id": HAEM})  # noqa: SLF001 - drive the scheduled fault
    assert _order(e) == ["R1", "U1", "S1"]


def test_unknown_discipline_is_refused() -> None:
    with pytest.raises(ConfigError, match="queue_discipline"):
        _engine("lifo")
