from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from _fake_openai import FakeOpenAI

from labtrust_gym.llm.exchange import LLMRequest
from labtrust_gym.llm.offline import OfflineBackend

SECRET = "sk-test-SECRET-0123456789"


def double_answer(body: dict[str, Any]) -> str:
    """What the offline (resisting) double would answer to this request body."""
    req = LLMRequest(body["model"], tuple(body["messages"]), {})
    return OfflineBackend("resisting").complete(req).text  # type: ignore[union-attr]


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAI]:
    """A fake OpenAI-compatible server answering like the offline double."""
    srv = FakeOpenAI(double_answer, max_life_s=120).start()
    try:
        yield srv
    finally:
        srv.stop()


def user_state(body: dict[str, Any]) -> dict[str, Any]:
    text = body["messages"][-1]["content"]
    at = text.index("### State (JSON)")
    return json.loads(text[text.index("{", at) :])
