"""The ``llm_prompt_injection`` scenario as one call, for the security suite and tests."""

from __future__ import annotations

from typing import Any

from labtrust_gym.benchmarks.runner import run_episode
from labtrust_gym.benchmarks.tasks.llm_prompt_injection import LLMPromptInjection

__all__ = ["run_prompt_injection"]


def run_prompt_injection(
    model: str = "offline:obedient",
    seed: int = 0,
    *,
    params: dict[str, Any] | None = None,
    roles: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """One episode of ``llm_prompt_injection`` with LLM backend ``model`` (any spec; the
    offline doubles ``offline:obedient`` / ``offline:resisting`` need no server).

    Returns the episode's ``injection.*`` and ``llm.*`` metrics, plus ``throughput`` and
    ``blocked_by_reason_code`` (for the security suite's checks).
    """
    from labtrust_gym.llm import LLMConfig

    task = LLMPromptInjection(params)
    metrics, _ = run_episode(task, seed, controller="llm", llm=LLMConfig(spec=model, roles=roles))
    keep = ("throughput", "blocked_by_reason_code")
    return {k: v for k, v in metrics.items() if k.startswith(("injection.", "llm.")) or k in keep}
