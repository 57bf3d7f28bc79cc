"""One model call: the request (hashed), the response, and a failed call.

The request key is the SHA-256 of the canonical JSON of ``{model, messages, params}``:
the same prompt to the same model with the same parameters has the same key in any
process. Cassettes are keyed by it and the episode log records it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from labtrust_gym.engine.canonical import canonical_json

__all__ = ["LLMRequest", "LLMResponse", "CallFailure", "sha256_text", "estimate_tokens"]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def estimate_tokens(text: str) -> int:
    """A deterministic token estimate (~4 characters a token) for backends that report
    no usage: the offline double, and servers that omit ``usage``."""
    return (len(text) + 3) // 4


@dataclass(frozen=True)
class LLMRequest:
    """A chat-completion request. ``messages`` are ``{"role", "content"}`` dicts; ``params``
    hold ``temperature``, ``max_tokens`` and ``response_format`` (JSON-ready). ``label``
    (who asks, at what time) is for error messages only and is not hashed."""

    model: str
    messages: tuple[dict[str, str], ...]
    params: dict[str, Any]
    label: str = ""
    key: str = field(init=False)

    def __post_init__(self) -> None:
        body = {"model": self.model, "messages": list(self.messages), "params": self.params}
        object.__setattr__(self, "key", hashlib.sha256(canonical_json(body)).hexdigest())

    def body(self) -> dict[str, Any]:
        return {"model": self.model, "messages": list(self.messages), "params": self.params}

    def prompt_chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)


@dataclass(frozen=True)
class LLMResponse:
    """The model's reply text and its usage. ``latency_ms`` is wall time (never logged);
    ``retries`` counts the attempts beyond the first."""

    text: str
    tokens_in: int
    tokens_out: int
    latency_ms: float = 0.0
    finish_reason: str | None = None
    retries: int = 0

    @property
    def sha256(self) -> str:
        return sha256_text(self.text)


@dataclass(frozen=True)
class CallFailure:
    """A call that got no reply after the bounded retries: ``code`` is ``TIMEOUT``,
    ``CONNECTION`` or ``HTTP_<status>``; ``detail`` says what happened."""

    code: str
    detail: str
    latency_ms: float = 0.0
    retries: int = 0
