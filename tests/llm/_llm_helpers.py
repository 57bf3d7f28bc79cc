"""Helpers of the LLM tests (the fake server's default answer, the prompt's state)."""

from __future__ import annotations

import json
from typing import Any

from labtrust_gym.llm.exchange import LLMRequest
from labtrust_gym.llm.offline import OfflineBackend

SECRET = "sk-test-SECRET-0123456789"


def double_answer(body: dict[str, Any]) -> str:
    """What the offline (resisting) double would answer to this request body."""
    req = LLMRequest(body["model"], tuple(body["messages"]), {})
    return OfflineBackend("resisting").complete(req).text  # type: ignore[union-attr]


def user_state(body: dict[str, Any]) -> dict[str, Any]:
    text = body["messages"][-1]["content"]
    at = text.index("### State (JSON)")
    return json.loads(text[text.index("{", at) :])
