"""The openai backend against a fake OpenAI-compatible server, over real HTTP."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _fake_openai import FakeOpenAI
from _llm_helpers import SECRET, double_answer, user_state

from labtrust_gym.benchmarks.runner import run_episode
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.errors import LLMBackendError
from labtrust_gym.llm import LLMConfig, LLMRequest, LLMResponse
from labtrust_gym.llm.exchange import CallFailure
from labtrust_gym.llm.openai_backend import OpenAIBackend

REQ = LLMRequest("m", ({"role": "user", "content": "hello"},), {"max_tokens": 8}, label="t")


def backend(srv: FakeOpenAI, sleeps: list[float] | None = None, **kw: Any) -> OpenAIBackend:
    kw.setdefault("timeout_s", 5.0)
    kw.setdefault("max_retries", 2)
    return OpenAIBackend(
        "m",
        base_url=srv.url,
        api_key=SECRET,
        sleep=(sleeps.append if sleeps is not None else time.sleep),
        **kw,
    )


def short_task() -> Any:
    return get_task("throughput_sla")(params={"max_steps": 90})


def llm_episode(srv: FakeOpenAI, **kw: Any) -> tuple[dict[str, Any], Any]:
    cfg = LLMConfig(
        spec=f"openai:test-model@{srv.url}",
        roles=("supervisor", "qc"),
        api_key=SECRET,
        **{"timeout_s": 5.0, "max_retries": 1, **kw},
    )
    return run_episode(short_task(), 3, controller="llm", llm=cfg, record_log=True)


def llm_records(env: Any, kind: str = "call") -> list[dict[str, Any]]:
    return [r for r in env.log if r["type"] == "llm" and r["kind"] == kind]


# ---------------------------------------------------------------------- backend ------------
def test_valid_reply_with_usage(fake_server: FakeOpenAI) -> None:
    fake_server.script.append(("ok", '{"action": "NOOP", "reason": "idle"}'))
    b = backend(fake_server)
    out = b.complete(REQ)
    b.close()
    assert isinstance(out, LLMResponse)
    assert out.text == '{"action": "NOOP", "reason": "idle"}'
    assert out.tokens_in > 0 and out.tokens_out > 0 and out.retries == 0
    sent = fake_server.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["messages"] == [{"role": "user", "content": "hello"}]
    assert sent["headers"].get("authorization", sent["headers"].get("Authorization")) == (
        f"Bearer {SECRET}"
    )


def test_http_500_is_retried_then_given_up(fake_server: FakeOpenAI) -> None:
    sleeps: list[float] = []
    fake_server.script.extend([("status", 500), ("ok", "fine")])
    b = backend(fake_server, sleeps, max_retries=2, backoff_s=0.25)
    out = b.complete(REQ)
    assert isinstance(out, LLMResponse) and out.text == "fine" and out.retries == 1
    assert sleeps == [0.25]
    fake_server.script.extend([("status", 503)] * 3)
    out = b.complete(REQ)
    b.close()
    assert isinstance(out, CallFailure) and out.code == "HTTP_503" and out.retries == 2
    assert sleeps == [0.25, 0.25, 0.5]  # exponential backoff, bounded attempts
    assert len(fake_server.requests) == 2 + 3


def test_429_waits_as_long_as_retry_after_says(fake_server: FakeOpenAI) -> None:
    sleeps: list[float] = []
    fake_server.script.extend(
        [
            ("status", 429, {"Retry-After": "2"}),
            ("status", 429, {"retry-after-ms": "1500"}),
            ("ok", "done"),
        ]
    )
    b = backend(fake_server, sleeps, max_retries=3)
    out = b.complete(REQ)
    assert isinstance(out, LLMResponse) and out.text == "done" and out.retries == 2
    assert sleeps == [2.0, 1.5]
    # A Retry-After beyond the limit is not waited for: the call fails at once.
    fake_server.script.append(("status", 429, {"Retry-After": "3600"}))
    out = b.complete(REQ)
    b.close()
    assert isinstance(out, CallFailure) and out.code == "HTTP_429" and "exceeds" in out.detail
    assert sleeps == [2.0, 1.5]


def test_a_reply_slower_than_the_timeout_fails_the_call(fake_server: FakeOpenAI) -> None:
    fake_server.script.extend([("delay", 1.5, "late"), ("delay", 1.5, "late")])
    b = backend(fake_server, [], timeout_s=0.3, max_retries=1)
    out = b.complete(REQ)
    b.close()
    assert isinstance(out, CallFailure) and out.code == "TIMEOUT" and out.retries == 1
    assert len(fake_server.requests) == 2


def test_a_request_the_server_refuses_is_an_error_naming_it(fake_server: FakeOpenAI) -> None:
    fake_server.script.append(("status", 404))
    b = backend(fake_server)
    with pytest.raises(LLMBackendError, match=r"HTTP 404 for request [0-9a-f]{16} \(t\)"):
        b.complete(REQ)
    b.close()


def test_independent_calls_run_concurrently_and_answer_in_order() -> None:
    inflight = [0, 0]  # now, max
    lock = threading.Lock()

    def slow(body: dict[str, Any]) -> str:
        with lock:
            inflight[0] += 1
            inflight[1] = max(inflight[1], inflight[0])
        time.sleep(0.3)
        with lock:
            inflight[0] -= 1
        return body["messages"][0]["content"].upper()

    srv = FakeOpenAI(slow, max_life_s=60).start()
    try:
        b = backend(srv, concurrency=4)
        reqs = [
            LLMRequest("m", ({"role": "user", "content": f"q{i}"},), {}, label=str(i))
            for i in range(4)
        ]
        outs = b.complete_many(reqs)
        b.close()
    finally:
        srv.stop()
    assert [o.text for o in outs] == ["Q0", "Q1", "Q2", "Q3"]  # type: ignore[union-attr]
    assert inflight[1] >= 2


# ---------------------------------------------------------------------- agents -------------
_ABS_PATH = re.compile(r"(?<![\w.])/(?:home|tmp|work|usr|root|Users|var|opt)/")


def test_agents_prompts_carry_view_and_playbook_but_no_secret_or_path(
    fake_server: FakeOpenAI,
) -> None:
    m, env = llm_episode(fake_server)
    assert m["llm.calls"] > 0 and m["llm.invalid_outputs"] == 0 and m["llm.failures"] == 0
    assert m["llm.calls"] == len(fake_server.requests)
    playbook = (Path(__file__).parents[2] / "policy" / "skills" / "lab_agent.md").read_text()
    agents = set()
    for r in fake_server.requests:
        body = r["body"]
        raw = json.dumps(body)
        assert SECRET not in raw
        assert not _ABS_PATH.search(raw), _ABS_PATH.search(raw)
        assert body["messages"][0] == {"role": "system", "content": playbook}
        state = user_state(body)
        assert state["view"]["agent_id"] in ("A_SUPERVISOR_01", "A_QC_01")
        assert state["view"]["role"] in ("ROLE_SUPERVISOR", "ROLE_QC")
        assert "NOOP" in state["allowed_actions"]
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema"
        assert (
            fmt["json_schema"]["schema"]["properties"]["action"]["enum"]
            == (state["allowed_actions"])
        )
        agents.add(state["view"]["agent_id"])
    assert agents == {"A_SUPERVISOR_01", "A_QC_01"}
    assert all(r["outcome"] == "valid" for r in llm_records(env))


@pytest.mark.parametrize(
    "wrap",
    [
        lambda s: f"Here is my decision:\n```json\n{s}\n```\nThanks.",
        lambda s: f"I choose {s} because it is the safest.",
    ],
    ids=["code-fence", "prose"],
)
def test_json_in_a_code_fence_or_prose_is_parsed(wrap: Any) -> None:
    srv = FakeOpenAI(lambda body: wrap(double_answer(body)), max_life_s=120).start()
    try:
        m, env = llm_episode(srv)
    finally:
        srv.stop()
    assert m["llm.calls"] > 0 and m["llm.invalid_outputs"] == 0


def test_a_malformed_reply_is_a_counted_noop_never_repaired() -> None:
    # Valid but for a trailing comma: the reply is void, not fixed.
    srv = FakeOpenAI(lambda body: double_answer(body)[:-1] + ", }", max_life_s=120).start()
    try:
        m, env = llm_episode(srv)
    finally:
        srv.stop()
    calls = llm_records(env)
    assert m["llm.calls"] == len(calls) > 0
    assert m["llm.invalid_outputs"] == m["llm.calls"]
    assert {r["outcome"] for r in calls} == {"invalid:NO_JSON"}
    assert {r["action"] for r in calls} == {"NOOP"}


def test_failed_calls_fall_back_to_the_scripted_role_with_an_event() -> None:
    srv = FakeOpenAI(double_answer, max_life_s=120).start()
    srv.script.extend([("status", 500), ("status", 500)])  # the first call, and its retry
    try:
        m, env = llm_episode(srv, max_retries=1, concurrency=1)
    finally:
        srv.stop()
    assert m["llm.failures"] == 1 and m["llm.fallbacks"] >= 1 and m["llm.retries"] >= 1
    events = llm_records(env, "event")
    assert events[0]["event"] == "LLM_FALLBACK" and events[0]["reason"] == "failure:HTTP_500"
    assert llm_records(env)[0]["outcome"] == "failure:HTTP_500"


def test_a_server_that_keeps_timing_out_stops_the_run() -> None:
    srv = FakeOpenAI(lambda body: (time.sleep(1.0), "late")[1], max_life_s=120).start()
    try:
        with pytest.raises(LLMBackendError, match="calls in a row got no reply.*TIMEOUT"):
            llm_episode(srv, timeout_s=0.2, max_retries=0, max_consecutive_failures=2)
    finally:
        srv.stop()


def test_an_exhausted_budget_hands_over_to_the_scripted_roles(fake_server: FakeOpenAI) -> None:
    m, env = llm_episode(fake_server, max_calls=3)
    assert m["llm.calls"] == 3 == len(fake_server.requests)
    assert m["llm.budget_exhausted"] == 1 and m["llm.fallbacks"] > 0
    events = [e["event"] for e in llm_records(env, "event")]
    assert events == ["LLM_BUDGET_EXHAUSTED"]
    # After the hand-over the QC officer still works (its scripted role decides: QC runs).
    step = llm_records(env, "event")[0]["step"]
    later = [
        r
        for r in env.log
        if r["type"] == "event"
        and r["event"]["agent_id"] == "A_QC_01"
        and int(r["event"]["event_id"].split(":")[0]) > step
    ]
    assert any(r["event"]["action_type"] == "RUN_QC" for r in later)


def test_a_token_budget_stops_calls_once_spent(fake_server: FakeOpenAI) -> None:
    m, _ = llm_episode(fake_server, max_tokens=1)
    assert m["llm.budget_exhausted"] == 1
    assert 0 < m["llm.calls"] <= 2  # only the first step's calls went out
    assert m["llm.calls"] == len(fake_server.requests)
