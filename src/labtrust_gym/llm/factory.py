"""The backend of a spec string (``offline``, ``replay:PATH``, ``openai:MODEL@URL``)."""

from __future__ import annotations

from typing import Any

from labtrust_gym.llm.backend import Backend
from labtrust_gym.llm.spec import parse_spec

__all__ = ["make_backend"]


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
