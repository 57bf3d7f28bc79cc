"""Where reservations matter (long narrow passages with a wider detour) WHCA* beats the
scripted team's greedy passage rule, paired over seeds; elsewhere it is a shortest-path
router like the greedy one."""

from __future__ import annotations

from typing import Any

import pytest

from labtrust_gym.benchmarks.metrics import mean_ci95
from labtrust_gym.benchmarks.runner import run_episode
from labtrust_gym.benchmarks.tasks import get_task

SEEDS = (1, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def paired() -> dict[str, list[dict[str, Any]]]:
    task = get_task("coord_scale")(scale_config="long_passages")
    env = task.make_env()
    return {
        mid: [run_episode(task, s, coord_method=mid, env=env)[0] for s in SEEDS]
        for mid in ("scripted_team", "whca_router")
    }


def test_whca_releases_more_than_the_greedy_rule_with_a_paired_ci_above_zero(
    paired: dict[str, list[dict[str, Any]]],
) -> None:
    diff = [
        w["throughput"] - g["throughput"]
        for w, g in zip(paired["whca_router"], paired["scripted_team"], strict=True)
    ]
    ci = mean_ci95(diff)
    assert ci["mean"] > 0 and ci["ci95_low"] > 0, (diff, ci)


def test_whca_detours_and_reserves_instead_of_waiting(
    paired: dict[str, list[dict[str, Any]]],
) -> None:
    for w, g in zip(paired["whca_router"], paired["scripted_team"], strict=True):
        assert w["audit_head_hash"] != g["audit_head_hash"]
        assert w["coordination.method.reservations_sent"] > 0
        assert w["bus.published_by_type"]["RESERVE"] == w["coordination.method.reservations_sent"]
        assert w["blocked_by_reason_code"].get("EDGE_CONGESTED", 0) == 0
        assert w["coordination.method.route_waits"] < w["coordination.method.routes_planned"]


def test_without_narrow_passages_whca_is_the_shortest_path_router() -> None:
    task = get_task("coord_scale")(scale_config="small_8")
    a, _ = run_episode(task, 2, coord_method="whca_router")
    b, _ = run_episode(task, 2, coord_method="scripted_team")
    assert a["audit_head_hash"] == b["audit_head_hash"]
    assert a["coordination.method.reservations_sent"] == 0
