"""``labtrust bench llm``: the LLM agents' own cost per decision, model time excluded.

Runs episodes with agents under LLM control on the offline test double and reports, with
the backend's own time and the scripted fallback excluded:

* ``decision_ms`` — the agent layer's wall time per model decision: naming the allowed
  actions from the mask, the view and free text, building and hashing the prompt, then
  validating the reply, turning it into an action and the log record (target: < 2 ms);
* ``screen_ms`` — per agent and step, finding out whether it is at a decision point;
* ``overhead_ms_per_call`` — all of it (screening included) divided by the calls.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["bench_llm", "TARGET_MS_PER_DECISION"]

TARGET_MS_PER_DECISION = 2.0


def bench_llm(
    task: str = "throughput_sla",
    roles: tuple[str, ...] = ("all",),
    seed: int = 0,
    repeats: int = 3,
) -> dict[str, Any]:
    from labtrust_gym.benchmarks.runner import episode_seed, run_episode
    from labtrust_gym.benchmarks.tasks import get_task
    from labtrust_gym.llm import LLMConfig

    runs = []
    for i in range(max(1, repeats)):
        t = get_task(task)()
        t0 = time.perf_counter()
        m, _ = run_episode(
            t, episode_seed(seed, i), controller="llm", llm=LLMConfig("offline", roles=roles)
        )
        wall = time.perf_counter() - t0
        runs.append(
            {
                "calls": m["llm.calls"],
                "forced": m["llm.forced"],
                "tokens_in_per_call": round(m["llm.tokens_in"] / max(1, m["llm.calls"]), 1),
                "decision_ms": m["llm.decision_ms"],
                "screen_ms": m["llm.screen_ms"],
                "overhead_ms_per_call": m["llm.overhead_ms_per_call"],
                "episode_wall_s": round(wall, 3),
            }
        )
    dec = [r["decision_ms"] for r in runs if r["decision_ms"] is not None]
    return {
        "task": task,
        "roles": list(roles),
        "episodes": runs,
        "decision_ms_mean": round(sum(dec) / len(dec), 4) if dec else None,
        "decision_ms_max": max(dec) if dec else None,
        "target_ms": TARGET_MS_PER_DECISION,
        "within_target": bool(dec) and max(dec) < TARGET_MS_PER_DECISION,
    }
