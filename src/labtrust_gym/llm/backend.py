"""The backend contract and the factory that turns a spec string into a backend.

A backend answers :class:`~labtrust_gym.llm.exchange.LLMRequest` objects with an
:class:`~labtrust_gym.llm.exchange.LLMResponse`, or a
:class:`~labtrust_gym.llm.exchange.CallFailure` when a call got no reply after its bounded
retries (the caller falls back and counts it). A request the backend can never serve (a
model the server does not have, bad credentials) raises
:class:`~labtrust_gym.errors.LLMBackendError` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labtrust_gym.llm.exchange import CallFailure, LLMRequest, LLMResponse
from labtrust_gym.llm.spec import parse_spec

__all__ = ["Backend", "Outcome", "make_backend"]

Outcome = LLMResponse | CallFailure


class Backend:
    """Base class of backends. ``name`` is the spec text (never a secret); ``model`` is
    the model name requests carry (hashed into their keys)."""

    name: str = ""
    model: str = ""

    def complete(self, request: LLMRequest) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def complete_many(self, requests: Sequence[LLMRequest]) -> list[Outcome]:
        """Answers in request order (backends that can, run the calls concurrently)."""
        return [self.complete(r) for r in requests]

    def close(self) -> None:
        """Release connections and threads."""


def make_backend(spec: str, **options: Any) -> Backend:
    """The backend of ``spec``; ``options`` are the openai backend's keyword arguments
    (``base_url``, ``api_key``, ``timeout_s``, ``max_retries``, ``concurrency``,
    ``response_format``); the other backends ignore them."""
    bs = parse_spec(spec)
    if bs.kind == "offline":
        from labtrust_gym.llm.offline import OfflineBackend

        return OfflineBackend(bs.variant)
    if bs.kind == "replay":
        from labtrust_gym.llm.cassette import ReplayBackend

        assert bs.path is not None
        return ReplayBackend(bs.path)
    from labtrust_gym.llm.openai_backend import OpenAIBackend

    opts = dict(options)
    if bs.base_url is not None:
        opts["base_url"] = bs.base_url
    return OpenAIBackend(bs.model, **opts)
