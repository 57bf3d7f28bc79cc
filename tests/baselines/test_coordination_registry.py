from __future__ import annotations

from typing import Any

import pytest

from labtrust_gym.baselines.coordination import (
    CoordinationMethod,
    list_coordination_methods,
    make_coordination_method,
    register_coordination_method,
)
from labtrust_gym.benchmarks.runner import run_benchmark
from labtrust_gym.errors import RegistryError, UnknownIdError


class _Shuttle(CoordinationMethod):
    """Test method: every runner shuttles corridor <-> reception via action_index MOVE."""

    def propose_actions(
        self, obs: dict[str, Any], infos: dict[str, Any], t: float
    ) -> dict[str, dict[str, Any]]:
        out = {}
        for pz, info in infos.items():
            view = info.get("view") or {}
            if view.get("role") == "ROLE_RUNNER" and view.get("zone") in (
                "Z_RECEPTION",
                "Z_CORRIDOR",
            ):
                to = "Z_CORRIDOR" if view["zone"] == "Z_RECEPTION" else "Z_RECEPTION"
                out[pz] = {"action_index": 3, "action_info": {"to_zone": to}}
        return out


def test_registry_rules() -> None:
    assert "scripted_team" in list_coordination_methods()
    with pytest.raises(RegistryError, match="already registered"):
        register_coordination_method("scripted_team", lambda p, r, s, q: None)
    with pytest.raises(RegistryError, match="policy, repo_root, scale_config, params"):
        register_coordination_method("bad_sig", lambda p: None)
    with pytest.raises(UnknownIdError, match="scripted_team"):
        make_coordination_method("no_such_method")


def test_custom_method_drives_the_team_through_the_contract() -> None:
    register_coordination_method(
        "test_shuttle", lambda p, r, s, q: _Shuttle(p, r, s, q), override=True
    )
    res = run_benchmark("throughput_sla", 1, 0, coord_method="test_shuttle")
    m = res["episodes"][0]["metrics"]
    assert res["coord_method"] == "test_shuttle"
    assert m["actions"] > 100 and m["blocked"] == 0  # every shuttle move is legal
    assert m["throughput"] == 0  # nobody accessions: the method really replaced the team


def test_scripted_team_method_matches_the_scripted_baseline() -> None:
    a = run_benchmark("coord_scale", 1, 3)["episodes"][0]["metrics"]
    b = run_benchmark("coord_scale", 1, 3, coord_method="scripted_team")["episodes"][0]["metrics"]
    assert a["throughput"] == b["throughput"] > 0
    assert a["episode_log_sha256"] == b["episode_log_sha256"]
