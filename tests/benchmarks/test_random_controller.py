"""``--controller random`` replaces the lab team only: the task's attackers keep attacking."""

from __future__ import annotations

from typing import Any

import pytest

from labtrust_gym.benchmarks.runner import RandomPolicy, run_benchmark, run_episode
from labtrust_gym.benchmarks.tasks import get_task


@pytest.mark.parametrize(
    ("task", "attacker"),
    [("adversarial_disruption", "A_ADVERSARY_01"), ("insider_key_misuse", "A_INSIDER_01")],
)
def test_random_controller_keeps_the_attackers(task: str, attacker: str) -> None:
    res = run_benchmark(task, 1, 0, controller="random")
    m = res["episodes"][0]["metrics"]
    assert m["attack_attempts"] > 20
    assert m["attacks_blocked"] > 0
    assert res["controller"] == "random"


def test_random_policy_drives_only_the_team() -> None:
    t = get_task("adversarial_disruption")()
    seen: dict[str, int] = {}

    orig = RandomPolicy.propose

    def spy(self: RandomPolicy, engine: Any, t_s: float) -> dict[str, Any]:
        out = orig(self, engine, t_s)
        for k in out:
            seen[k] = seen.get(k, 0) + 1
        return out

    RandomPolicy.propose = spy  # type: ignore[method-assign]
    try:
        run_episode(t, 3, controller="random")
    finally:
        RandomPolicy.propose = orig  # type: ignore[method-assign]
    env = t.make_env()
    team = {env.pz_id[a] for a in t.scripted_agents}
    assert seen and set(seen) == team  # every team agent, never the adversary


def test_random_controller_reports_paired_impact_for_the_attack_task() -> None:
    m = run_benchmark("adversarial_disruption", 1, 0, controller="random")["episodes"][0]["metrics"]
    assert "baseline_throughput" in m and "throughput_impact" in m
