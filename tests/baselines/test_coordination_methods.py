"""Every registered built-in coordination method really runs the lab (small_smoke)."""

from __future__ import annotations

from typing import Any

import pytest

from labtrust_gym.baselines.coordination import list_coordination_methods, load_catalogue
from labtrust_gym.baselines.coordination.registry import BUILTIN_METHODS
from labtrust_gym.benchmarks.runner import run_episode
from labtrust_gym.benchmarks.tasks import get_task

METHODS = sorted(BUILTIN_METHODS)
SEEDS = (1, 2, 3)


def test_registry_lists_every_builtin_and_the_catalogue_describes_it() -> None:
    ids = set(list_coordination_methods())
    catalogue = load_catalogue()
    for mid in METHODS:
        assert mid in ids
        assert mid in catalogue, f"{mid} missing from coordination_methods.v0.1.yaml"
        assert catalogue[mid]["description"]
    families = {catalogue[m]["family"] for m in METHODS}
    assert {"centralized", "routing", "market", "hierarchical", "decentralized", "swarm"} <= (
        families
    )


@pytest.fixture(scope="module")
def smoke_runs() -> dict[tuple[str, int], dict[str, Any]]:
    task = get_task("coord_scale")(scale_config="small_smoke")
    env = task.make_env()
    out = {}
    for mid in METHODS:
        for seed in SEEDS:
            m, _ = run_episode(task, seed, coord_method=mid, env=env)
            out[(mid, seed)] = m
    return out


@pytest.mark.parametrize("method_id", METHODS)
def test_method_releases_with_few_blocked_actions(
    method_id: str, smoke_runs: dict[tuple[str, int], dict[str, Any]]
) -> None:
    for seed in SEEDS:
        m = smoke_runs[(method_id, seed)]
        assert m["coord_method"] == method_id
        assert m["throughput"] > 0, f"{method_id} seed {seed}: nothing released"
        assert m["actions"] > 50
        assert m["blocked"] < 0.05 * m["actions"], (method_id, seed, m["blocked_by_reason_code"])


@pytest.mark.parametrize("method_id", METHODS)
def test_method_is_deterministic(method_id: str, smoke_runs: dict[Any, Any]) -> None:
    task = get_task("coord_scale")(scale_config="small_smoke")
    again, _ = run_episode(task, SEEDS[0], coord_method=method_id)
    assert again["episode_log_sha256"] == smoke_runs[(method_id, SEEDS[0])]["episode_log_sha256"]


def test_methods_really_differ() -> None:
    """The families make different decisions on the same contended world."""
    task = get_task("coord_scale")(scale_config="small_8")
    logs = {}
    for mid in METHODS:
        m, _ = run_episode(task, 5, coord_method=mid)
        logs[mid] = m["episode_log_sha256"]
    assert len(set(logs.values())) >= 4, logs


def test_narrow_corridors_are_shared_without_congestion_blocks() -> None:
    """With one agent at a time per corridor passage every method still releases and no
    proposed move is refused for congestion (the routers count what they propose)."""
    from labtrust_gym.benchmarks.coordination_scale import load_scale_config_by_id

    base = load_scale_config_by_id(None, "small_8").sanitized()
    base.pop("config_id", None)
    base.update(corridor_capacity=1, num_agents_total=12)
    task = get_task("coord_scale")(scale_config=base)
    for mid in METHODS:
        m, _ = run_episode(task, 4, coord_method=mid)
        assert m["throughput"] > 0, mid
        assert m["blocked_by_reason_code"].get("EDGE_CONGESTED", 0) == 0, (mid, m)
