"""Site layouts of generated scenarios: the standard plan and long narrow passages."""

from __future__ import annotations

import pytest

from labtrust_gym.benchmarks.coordination_scale import (
    CoordinationScaleConfig,
    generate_scaled_initial_state,
    load_scale_config_by_id,
)
from labtrust_gym.errors import ConfigError


def _edges(cfg: CoordinationScaleConfig) -> dict[tuple[str, str], dict[str, int]]:
    init = generate_scaled_initial_state(cfg, None, 1)
    return {
        (e["a"].split("_", 2)[2], e["b"].split("_", 2)[2]): e
        for e in init["effective_policy"]["zone_layout"]["edges"]
    }


def test_long_passages_are_narrow_and_slow_with_a_wide_detour() -> None:
    cfg = load_scale_config_by_id(None, "long_passages")
    assert cfg.layout == "long_passages" and cfg.corridor_capacity == 1
    edges = _edges(cfg)
    narrow = {k for k, e in edges.items() if "capacity" in e}
    assert narrow == {("CORRIDOR", "PREANALYTICS"), ("CORRIDOR", "ANALYTICS")}
    for k in narrow:
        assert edges[k]["capacity"] == 1 and edges[k]["travel_s"] == 60
    detour = (
        edges[("CORRIDOR", "SERVICE")]["travel_s"] + edges[("SERVICE", "PREANALYTICS")]["travel_s"]
    )
    assert detour == edges[("CORRIDOR", "PREANALYTICS")]["travel_s"] + 10
    zones = generate_scaled_initial_state(cfg, None, 1)["effective_policy"]["zone_layout"]
    kinds = {z["zone_id"]: z["kind"] for z in zones["zones"]}
    assert kinds["Z_S001_SERVICE"] == "corridor"


def test_the_standard_layout_is_unchanged_and_layouts_are_validated() -> None:
    cfg = load_scale_config_by_id(None, "corridor_heavy")
    assert cfg.layout == "standard"
    edges = _edges(cfg)
    assert ("CORRIDOR", "SERVICE") not in edges
    assert all(e.get("capacity") == 2 for k, e in edges.items() if "CORRIDOR" in k)
    doc = {**cfg.sanitized(), "layout": "maze"}
    doc.pop("config_id")
    bad = CoordinationScaleConfig.from_dict(doc)
    with pytest.raises(ConfigError, match="layout must be one of standard, long_passages"):
        bad.validate()
