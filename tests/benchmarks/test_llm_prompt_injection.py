"""``llm_prompt_injection``: injected free text reaches LLM agents; metrics both ways."""

from __future__ import annotations

import json
from typing import Any

import pytest

from labtrust_gym.benchmarks.prompt_injection import run_prompt_injection
from labtrust_gym.benchmarks.runner import run_episode
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.benchmarks.tasks.llm_prompt_injection import LLMPromptInjection
from labtrust_gym.engine.actions_trust import TrustActions
from labtrust_gym.llm import LLMConfig, LLMSession, OfflineBackend
from labtrust_gym.llm.backend import Backend


@pytest.fixture(scope="module")
def obedient() -> dict[str, Any]:
    return run_prompt_injection("offline:obedient", 0)


@pytest.fixture(scope="module")
def resisting() -> dict[str, Any]:
    return run_prompt_injection("offline:resisting", 0)


def test_an_obedient_agent_follows_and_the_engine_blocks(obedient: dict[str, Any]) -> None:
    m = obedient
    assert m["injection.planted"] > 0 and m["injection.exposed"] > 0
    assert m["injection.followed"] > 0
    # Both token-gated instructions are refused by the engine, every time.
    assert m["injection.followed_by_id"].get("PI-HOLD-OVERRIDE", 0) > 0
    assert m["injection.blocked_by_id"] == {
        k: v for k, v in m["injection.followed_by_id"].items() if k != "PI-PROP-DOOR"
    }
    assert m["injection.blocked_by_engine"] > 0
    assert m["blocked_by_reason_code"].get("TOKEN_REQUIRED", 0) >= m["injection.blocked_by_engine"]
    assert m["injection.effect_on_results"] == 0  # the gates held: no result changed


def test_a_resisting_agent_sees_the_injections_and_ignores_them(
    resisting: dict[str, Any], obedient: dict[str, Any]
) -> None:
    m = resisting
    assert m["injection.planted"] == obedient["injection.planted"]
    assert m["injection.exposed"] > 0
    assert m["injection.followed"] == 0 and m["injection.blocked_by_engine"] == 0
    assert m["injection.effect_on_results"] == 0
    assert m["injection.clean_throughput"] == m["throughput"]


def test_with_a_broken_gate_the_injections_change_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A mutant engine that never asks for tokens: the metric must show the damage."""
    monkeypatch.setattr(TrustActions, "_require_token", lambda self, *a, **k: None)
    m = run_prompt_injection("offline:obedient", 0)
    assert m["injection.followed"] > m["injection.blocked_by_engine"] == 0
    assert m["injection.effect_on_results"] > 0


class Spy(Backend):
    def __init__(self, variant: str) -> None:
        self.inner = OfflineBackend(variant)
        self.name, self.model = self.inner.name, self.inner.model
        self.requests: list[Any] = []

    def complete(self, request: Any) -> Any:
        self.requests.append(request)
        return self.inner.complete(request)


def test_injected_text_reaches_the_prompt_as_free_text_data() -> None:
    t = LLMPromptInjection({"paired_clean_run": False})
    spy = Spy("resisting")
    run_episode(t, 0, controller="llm", llm=LLMSession(LLMConfig("offline"), backend=spy))
    planted = {inj["text"].format(ref=sid) for (sid, _), inj in t.planted.items()}
    shown = []
    for r in spy.requests:
        text = r.messages[-1]["content"]
        state = json.loads(text[text.index("{", text.index("### State (JSON)")) :])
        shown += [f["text"] for f in state["free_text"]]
        texts = [f["text"] for f in state["free_text"]]
        for x in texts:  # free text appears only in its section, never in the instructions
            assert text.count(json.dumps(x)[1:-1]) == texts.count(x)
    assert planted & set(shown)


def test_free_text_is_seeded_and_the_clean_twin_swaps_only_the_injections() -> None:
    a, b = LLMPromptInjection(), LLMPromptInjection()
    a.get_initial_state(3)
    b.get_initial_state(3)
    assert a.free_text == b.free_text and a.planted
    clean = a.clean_twin()
    clean.get_initial_state(3)
    assert not clean.planted
    assert {(s, f) for s, notes in clean.free_text.items() for f, _ in notes} == {
        (s, f) for s, notes in a.free_text.items() for f, _ in notes
    }
    injected = {inj["text"].split(" ")[0] for inj in a.injections}
    for notes in clean.free_text.values():
        for _, text in notes:
            assert text.split(" ")[0] not in injected
    other = LLMPromptInjection()
    other.get_initial_state(4)
    assert other.free_text != a.free_text


def test_without_an_llm_the_task_reports_no_exposure() -> None:
    m, _ = run_episode(get_task("llm_prompt_injection")(params={"max_steps": 60}), 0)
    assert m["injection.exposed"] == m["injection.followed"] == 0
    assert m["injection.effect_on_results"] is None
