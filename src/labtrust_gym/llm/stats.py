"""Per-episode LLM accounting: calls, tokens, latency, invalid replies, fallbacks, budget.

Metrics (:meth:`LLMStats.metrics`):

* ``llm.calls`` — requests sent (failed ones included); ``llm.tokens_in`` /
  ``llm.tokens_out`` — usage the backend reported (estimated at ~4 characters a token
  when it reports none);
* ``llm.latency_p50_ms`` / ``llm.latency_p95_ms`` — wall time per call, retries
  included (None without calls; never in the episode log);
* ``llm.invalid_outputs`` — replies that failed validation (the agent did NOOP);
* ``llm.failures`` — calls with no reply after the bounded retries; ``llm.retries``;
* ``llm.fallbacks`` — decisions handed to the scripted role (budget exhausted or a failed
  call); ``llm.budget_exhausted`` — 1 once a budget ran out, else 0;
* ``llm.forced`` — decisions with one useful action, taken without a call;
* ``llm.cost`` — with a price table, in its currency;
* ``llm.decision_ms`` — wall time the agent layer spends on one model decision, model
  excluded: naming its allowed actions, its view and free text, building and hashing the
  prompt, then validating the reply and turning it into an action (mean per call);
* ``llm.screen_ms`` — mean wall time to check whether an agent standing in a zone is at
  a decision point (every LLM agent, every step); ``llm.overhead_ms_per_call`` — all the
  agent layer's time (screening included, model and fallback scripts excluded) divided
  by the calls. ``labtrust bench llm`` reports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labtrust_gym.numeric import percentile

__all__ = ["LLMStats", "Budget"]


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


@dataclass
class Budget:
    """Per-episode limits; None is unlimited. Checked before each call: a step's calls go
    out while fewer than ``max_calls`` were made and fewer than ``max_tokens`` tokens (in
    plus out) were used when the step began."""

    max_calls: int | None = None
    max_tokens: int | None = None

    def calls_left(self, stats: LLMStats) -> int | None:
        """How many calls may go out now (None: no limit)."""
        if self.max_tokens is not None and stats.tokens_in + stats.tokens_out >= self.max_tokens:
            return 0
        if self.max_calls is None:
            return None
        return max(0, self.max_calls - stats.calls)


@dataclass
class LLMStats:
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    invalid_outputs: int = 0
    failures: int = 0
    retries: int = 0
    fallbacks: int = 0
    forced: int = 0
    budget_exhausted: bool = False
    #: wall time of the agent layer, model calls and fallback scripts excluded
    overhead_s: float = 0.0
    #: ... of which spent on the agents that made a call (their screening included)
    decide_s: float = 0.0
    #: agent-steps screened for a decision point
    screened: int = 0

    def metrics(self, prices: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "llm.calls": self.calls,
            "llm.tokens_in": self.tokens_in,
            "llm.tokens_out": self.tokens_out,
            "llm.latency_p50_ms": _round(percentile(self.latencies_ms, 50)),
            "llm.latency_p95_ms": _round(percentile(self.latencies_ms, 95)),
            "llm.invalid_outputs": self.invalid_outputs,
            "llm.failures": self.failures,
            "llm.retries": self.retries,
            "llm.fallbacks": self.fallbacks,
            "llm.forced": self.forced,
            "llm.budget_exhausted": int(self.budget_exhausted),
            "llm.decision_ms": round(1000.0 * self.decide_s / self.calls, 4)
            if self.calls
            else None,
            "llm.screen_ms": (
                round(
                    1000.0 * (self.overhead_s - self.decide_s) / max(1, self.screened - self.calls),
                    4,
                )
                if self.screened
                else None
            ),
            "llm.overhead_ms_per_call": (
                round(1000.0 * self.overhead_s / self.calls, 4) if self.calls else None
            ),
        }
        if prices is not None:
            out["llm.cost"] = round(prices.cost(self.tokens_in, self.tokens_out), 6)
        return out
