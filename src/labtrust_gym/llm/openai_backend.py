"""The ``openai`` backend: chat completions on any OpenAI-compatible server.

Uses the official ``openai`` client (install the ``[llm]`` extra). The client's own
retries are off: this backend retries itself, a bounded number of times, on timeouts,
connection errors, HTTP 408/409/429 and 5xx, waiting ``Retry-After`` (or
``retry-after-ms``) when the server sends it and an exponential backoff otherwise
(``backoff_s * 2**attempt``, capped at ``max_backoff_s``). A ``Retry-After`` longer than
``max_retry_after_s`` is not waited for: the call fails at once. Other HTTP errors (400,
401, 403, 404, 422) mean the run is misconfigured and raise
:class:`~labtrust_gym.errors.LLMBackendError` naming the server's message.

Independent requests of one step (:meth:`OpenAIBackend.complete_many`) run concurrently
on a thread pool of ``concurrency`` threads; answers come back in request order.
"""

from __future__ import annotations

import email.utils
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from labtrust_gym.errors import ConfigError, LLMBackendError
from labtrust_gym.llm.backend import Backend, Outcome
from labtrust_gym.llm.exchange import CallFailure, LLMRequest, LLMResponse, estimate_tokens

__all__ = ["OpenAIBackend", "RETRY_STATUSES", "NO_KEY"]

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
#: Sent as the API key when none is configured (local servers ignore it).
NO_KEY = "sk-no-key-configured"


def _retry_after(headers: Any) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``retry-after`` as
    seconds or an HTTP date), or None."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAIBackend(Backend):
    """Chat completions through ``openai.OpenAI`` (see the module docstring).

    ``base_url``: the server (default ``OPENAI_BASE_URL``, else the client's default);
    ``api_key``: default ``LABTRUST_LLM_API_KEY``, then ``OPENAI_API_KEY``, else a
    placeholder that local servers ignore. ``timeout_s`` bounds each attempt.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_retry_after_s: float = 60.0,
        concurrency: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        try:
            import openai
        except ModuleNotFoundError:
            raise ConfigError(
                "the openai LLM backend needs the openai package: pip install 'labtrust-gym[llm]'"
            ) from None
        if timeout_s <= 0 or max_retries < 0 or concurrency < 1:
            raise ConfigError(
                f"openai backend: timeout_s must be > 0 (got {timeout_s}), max_retries >= 0 "
                f"(got {max_retries}), concurrency >= 1 (got {concurrency})"
            )
        self._openai = openai
        key = api_key or os.environ.get("LABTRUST_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
        url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.client = openai.OpenAI(
            base_url=url, api_key=key or NO_KEY, timeout=timeout_s, max_retries=0
        )
        self.model = model
        self.base_url = str(self.client.base_url).rstrip("/")
        self.name = f"openai:{model}@{self.base_url}"
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.max_retry_after_s = float(max_retry_after_s)
        self.concurrency = int(concurrency)
        self.sleep = sleep
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ calls ----------
    def _create(self, request: LLMRequest) -> Any:
        p = request.params
        kw: dict[str, Any] = {
            "model": request.model,
            "messages": list(request.messages),
            "temperature": p.get("temperature", 0.0),
            "max_tokens": p.get("max_tokens", 256),
        }
        if p.get("response_format") is not None:
            kw["response_format"] = p["response_format"]
        return self.client.chat.completions.create(**kw)

    def complete(self, request: LLMRequest) -> Outcome:
        oa = self._openai
        t0 = time.perf_counter()
        attempt = 0
        while True:
            wait: float | None = None
            try:
                resp = self._create(request)
            except oa.APITimeoutError:
                code, detail = "TIMEOUT", f"no reply within {self.timeout_s:g} s"
            except oa.APIConnectionError as exc:
                code, detail = "CONNECTION", f"cannot reach {self.base_url} ({exc})"
            except oa.APIStatusError as exc:
                status = int(exc.status_code)
                if status not in RETRY_STATUSES:
                    raise LLMBackendError(
                        f"{self.name}: HTTP {status} for request {request.key[:16]} "
                        f"({request.label}): {exc.message}; check the model name, the API key "
                        "and the server's support of the request (try --llm-response-format "
                        "json_object or none)"
                    ) from None
                code, detail = f"HTTP_{status}", str(exc.message)
                wait = _retry_after(exc.response.headers if exc.response is not None else None)
                if wait is not None and wait > self.max_retry_after_s:
                    return CallFailure(
                        code,
                        f"{detail}; Retry-After {wait:g} s exceeds {self.max_retry_after_s:g} s",
                        (time.perf_counter() - t0) * 1000.0,
                        attempt,
                    )
            else:
                return self._response(resp, request, t0, attempt)
            if attempt >= self.max_retries:
                return CallFailure(code, detail, (time.perf_counter() - t0) * 1000.0, attempt)
            if wait is None:
                wait = min(self.max_backoff_s, self.backoff_s * (2.0**attempt))
            if math.isfinite(wait) and wait > 0:
                self.sleep(wait)
            attempt += 1

    def _response(self, resp: Any, request: LLMRequest, t0: float, attempt: int) -> LLMResponse:
        choice = resp.choices[0] if getattr(resp, "choices", None) else None
        text = ""
        finish = None
        if choice is not None:
            text = (choice.message.content if choice.message is not None else None) or ""
            finish = choice.finish_reason
        usage = getattr(resp, "usage", None)
        tin = getattr(usage, "prompt_tokens", None) if usage is not None else None
        tout = getattr(usage, "completion_tokens", None) if usage is not None else None
        prompt = "".join(m["content"] for m in request.messages)
        return LLMResponse(
            text=text,
            tokens_in=int(tin) if tin is not None else estimate_tokens(prompt),
            tokens_out=int(tout) if tout is not None else estimate_tokens(text),
            latency_ms=(time.perf_counter() - t0) * 1000.0,
            finish_reason=str(finish) if finish is not None else None,
            retries=attempt,
        )

    def complete_many(self, requests: Sequence[LLMRequest]) -> list[Outcome]:
        if len(requests) <= 1 or self.concurrency == 1:
            return [self.complete(r) for r in requests]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="labtrust-llm")
        return list(self._pool.map(self.complete, requests))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.client.close()
