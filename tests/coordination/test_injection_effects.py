"""Every network injection changes what happens, for every built-in method, at every
preset of the default study: the event history (audit chain head) of an injected episode
differs from the paired episode without it (same seed). Short episodes keep it fast; the
injection windows are fractions of the horizon, so they still fall inside."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from labtrust_gym.baselines.coordination.registry import BUILTIN_METHODS
from labtrust_gym.benchmarks.coordination_scale import load_scale_config_by_id
from labtrust_gym.benchmarks.runner import run_episode
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.coordination.injections import injection_catalogue, list_injections
from labtrust_gym.studies import load_study_spec

NETWORK = [i for i in list_injections() if injection_catalogue()[i]["family"] == "network"]
PRESETS = list(
    next(d.values for d in load_study_spec("coord_default").scales if d.name == "scale_preset")
)
METHODS = sorted(BUILTIN_METHODS)
#: Episode length per preset (steps); small_8 runs whole (two runners talk little).
STEPS = {"small_8": 120}
SHORT = 40
SEEDS = (1, 2)


@cache
def _history(preset: str, method: str, injection: str, seed: int) -> tuple[str, dict[str, Any]]:
    cfg = load_scale_config_by_id(None, preset).sanitized()
    cfg.pop("config_id")
    cfg.pop("description")
    cfg["horizon_steps"] = STEPS.get(preset, SHORT)
    task = get_task("coord_risk")(scale_config=cfg, params={"injection": injection})
    m, _ = run_episode(task, seed, coord_method=method)
    return m["audit_head_hash"], m


def test_the_matrix_covers_the_network_injections_and_the_default_study() -> None:
    assert set(NETWORK) == {
        "INJ-NET-PARTITION-001",
        "INJ-NET-REORDER-001",
        "INJ-NET-DROP-SPIKE-001",
        "INJ-NET-DELAY-001",
    }
    assert PRESETS == ["small_8", "medium_stress_signed_bus", "corridor_heavy"]


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("injection", NETWORK)
@pytest.mark.parametrize("method", METHODS)
def test_network_injection_changes_what_happens(preset: str, injection: str, method: str) -> None:
    seen = []
    for seed in SEEDS:
        base, _ = _history(preset, method, "none", seed)
        hist, m = _history(preset, method, injection, seed)
        assert m["injection_id"] == injection
        seen.append(m)
        if hist != base:
            break
    else:
        pytest.fail(f"{injection} changed nothing for {method} at {preset}: {seen[-1]}")
    if injection == "INJ-NET-PARTITION-001":
        assert m["comm.partition_events"] > 0  # the window met traffic
