"""``llm_dispatcher``: a model assigns transport jobs every K steps."""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.coordination import list_coordination_methods, load_catalogue
from labtrust_gym.benchmarks.runner import run_episode
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.llm import LLMConfig


def episode(llm: Any = None, seed: int = 2, **params: Any) -> tuple[dict[str, Any], Any]:
    t = get_task("throughput_sla")(params={"max_steps": 150})
    return run_episode(
        t,
        seed,
        coord_method="llm_dispatcher",
        method_params=params or None,
        llm=llm,
        record_log=True,
    )


def calls(env: Any) -> list[dict[str, Any]]:
    return [r for r in env.log if r["type"] == "llm" and r["kind"] == "call"]


def test_registered_and_catalogued_with_an_offline_default() -> None:
    assert "llm_dispatcher" in list_coordination_methods()
    entry = load_catalogue()["llm_dispatcher"]
    assert entry["default_params"]["llm"] == "offline" and entry["family"] == "llm"


def test_the_model_dispatches_every_k_steps() -> None:
    m, env = episode(every_steps=4)
    assert m["throughput"] > 0 and m["llm.calls"] > 0 and m["llm.invalid_outputs"] == 0
    recs = calls(env)
    assert len(recs) == m["llm.calls"]
    assert all(r["step"] % 4 == 0 for r in recs)
    assert all(r["agent_id"].startswith("dispatcher:SITE_") for r in recs)
    assert sum(r["assignments"] for r in recs) > 0


def test_invalid_answers_assign_nobody_and_are_counted() -> None:
    good, _ = episode()
    bad, env = episode(LLMConfig(spec="offline:invalid"))
    assert bad["llm.invalid_outputs"] == bad["llm.calls"] > 0
    assert all(r["assignments"] == 0 for r in calls(env))
    assert bad["episode_log_sha256"] != good["episode_log_sha256"]


def test_spent_budget_falls_back_to_the_team_dispatch() -> None:
    m, env = episode(LLMConfig(spec="offline", max_calls=2))
    assert m["llm.calls"] == 2 and m["llm.budget_exhausted"] == 1 and m["llm.fallbacks"] >= 1
    assert [r["event"] for r in env.log if r["type"] == "llm" and r["kind"] == "event"] == [
        "LLM_BUDGET_EXHAUSTED"
    ]
    assert m["throughput"] > 0  # the greedy dispatch keeps the lab running
