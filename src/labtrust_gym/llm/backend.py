"""The backend contract (the factory that turns a spec string into a backend is
:func:`labtrust_gym.llm.factory.make_backend`).

A backend answers :class:`~labtrust_gym.llm.exchange.LLMRequest` objects with an
:class:`~labtrust_gym.llm.exchange.LLMResponse`, or a
:class:`~labtrust_gym.llm.exchange.CallFailure` when a call got no reply after its bounded
retries (the caller falls back and counts it). A request the backend can never serve (a
model the server does not have, bad credentials) raises
:class:`~labtrust_gym.errors.LLMBackendError` instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from labtrust_gym.llm.exchange import CallFailure, LLMRequest, LLMResponse

__all__ = ["Backend", "Outcome"]

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
