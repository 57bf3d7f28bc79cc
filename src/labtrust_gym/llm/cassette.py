"""Cassettes: record every exchange with a model, and replay them with no network.

A cassette is JSONL. Line 1 is the header ``{"type": "cassette", "format":
"labtrust.llm_cassette.v0.1", "model", "backend"}``; every other line is one exchange
``{"type": "exchange", "key", "request": {model, messages, params}, "response": {text,
tokens_in, tokens_out, finish_reason, latency_ms, retries}}`` or, for a call that got no
reply, ``"failure": {code, detail, latency_ms, retries}`` instead of ``response``.
``key`` is the request's SHA-256 (:class:`~labtrust_gym.llm.exchange.LLMRequest`).

:class:`RecordingBackend` wraps any backend and keeps the exchanges in call order; the
cassette file is rewritten atomically by :meth:`RecordingBackend.flush` (after every
episode), so it always holds whole episodes. :class:`ReplayBackend` answers each request
with the recorded outcome of the same key (identical requests get their recorded
outcomes in order, the last one repeating). A request the cassette does not hold is a
:class:`~labtrust_gym.errors.ConfigError` naming the request: the run differs from the
recorded one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from labtrust_gym.errors import ConfigError
from labtrust_gym.llm.backend import Backend, Outcome
from labtrust_gym.llm.exchange import CallFailure, LLMRequest, LLMResponse
from labtrust_gym.outputs import atomic_write_bytes, check_output_file

__all__ = ["CASSETTE_FORMAT", "RecordingBackend", "ReplayBackend"]

CASSETTE_FORMAT = "labtrust.llm_cassette.v0.1"


def _outcome_record(request: LLMRequest, out: Outcome) -> dict[str, Any]:
    rec: dict[str, Any] = {"type": "exchange", "key": request.key, "request": request.body()}
    if isinstance(out, LLMResponse):
        rec["response"] = {
            "text": out.text,
            "tokens_in": out.tokens_in,
            "tokens_out": out.tokens_out,
            "finish_reason": out.finish_reason,
            "latency_ms": round(out.latency_ms, 3),
            "retries": out.retries,
        }
    else:
        rec["failure"] = {
            "code": out.code,
            "detail": out.detail,
            "latency_ms": round(out.latency_ms, 3),
            "retries": out.retries,
        }
    return rec


class RecordingBackend(Backend):
    """``inner`` with every exchange kept for the cassette at ``path``."""

    def __init__(self, inner: Backend, path: Path | str) -> None:
        self.inner = inner
        self.path = check_output_file(path, "LLM cassette")
        self.name = inner.name
        self.model = inner.model
        self.records: list[bytes] = []

    def complete(self, request: LLMRequest) -> Outcome:
        return self.complete_many([request])[0]

    def complete_many(self, requests: Sequence[LLMRequest]) -> list[Outcome]:
        outs = self.inner.complete_many(requests)
        for r, o in zip(requests, outs, strict=True):
            self.records.append(orjson.dumps(_outcome_record(r, o), option=orjson.OPT_SORT_KEYS))
        return outs

    def flush(self) -> None:
        """Write the cassette (header and every exchange so far) atomically."""
        head = {
            "type": "cassette",
            "format": CASSETTE_FORMAT,
            "model": self.model,
            "backend": self.name,
        }
        lines = [orjson.dumps(head, option=orjson.OPT_SORT_KEYS), *self.records]
        atomic_write_bytes(self.path, b"\n".join(lines) + b"\n")

    def close(self) -> None:
        self.flush()
        self.inner.close()


class ReplayBackend(Backend):
    """Answers from the cassette at ``path`` (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        p = Path(path)
        try:
            lines = p.read_bytes().splitlines()
        except OSError as exc:
            raise ConfigError(f"LLM cassette {p}: cannot read it ({exc.strerror})") from None
        if not lines:
            raise ConfigError(f"LLM cassette {p}: empty file")
        try:
            head = orjson.loads(lines[0])
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"LLM cassette {p}:1: not JSON ({exc})") from None
        if not isinstance(head, dict) or head.get("format") != CASSETTE_FORMAT:
            raise ConfigError(
                f"LLM cassette {p}:1: expected a header with format {CASSETTE_FORMAT!r}; "
                "record one with --llm-record"
            )
        self.path = p
        self.model = str(head.get("model", ""))
        self.name = f"replay:{p.name}"
        self.recorded_backend = str(head.get("backend", ""))
        self._queues: dict[str, list[Outcome]] = {}
        self._pos: dict[str, int] = {}
        for lineno, raw in enumerate(lines[1:], start=2):
            if not raw.strip():
                continue
            try:
                rec = orjson.loads(raw)
                key = rec["key"]
                if "response" in rec:
                    r = rec["response"]
                    out: Outcome = LLMResponse(
                        str(r["text"]),
                        int(r["tokens_in"]),
                        int(r["tokens_out"]),
                        float(r.get("latency_ms", 0.0)),
                        r.get("finish_reason"),
                        int(r.get("retries", 0)),
                    )
                else:
                    f = rec["failure"]
                    out = CallFailure(
                        str(f["code"]),
                        str(f["detail"]),
                        float(f.get("latency_ms", 0.0)),
                        int(f.get("retries", 0)),
                    )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ConfigError(
                    f"LLM cassette {p}:{lineno}: not an exchange record ({exc!r})"
                ) from None
            self._queues.setdefault(key, []).append(out)

    def complete(self, request: LLMRequest) -> Outcome:
        q = self._queues.get(request.key)
        if not q:
            raise ConfigError(
                f"LLM cassette {self.path} has no answer for request {request.key} "
                f"({request.label or 'unlabelled'}; model {request.model!r}): this run asked "
                "something the recorded run did not (different seed, task, code, playbook or "
                "options); record the cassette again with --llm-record"
            )
        i = self._pos.get(request.key, 0)
        self._pos[request.key] = i + 1
        return q[min(i, len(q) - 1)]
