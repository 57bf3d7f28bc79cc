"""Playing a skill on episodes, through the study executors.

:func:`run_skill_episode` plays one episode (a task type on a seed) with the scripted
team configured by a skill document (:class:`~labtrust_gym.baselines.skill_team.SkillTeam`)
and scores it (:func:`~labtrust_gym.skillopt.scoring.score_episode`). It is a plain
top-level function of plain arguments, so it runs in a worker process of a local pool or
on a Dask cluster (:func:`~labtrust_gym.studies.executors.open_executor`).
:func:`rollout` maps it over episodes with an executor and returns SkillOpt rollout
dicts (``id``, ``hard``, ``soft`` plus extras), in episode order whatever the executor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

from labtrust_gym.skillopt.splits import EpisodeSpec, TaskType

__all__ = [
    "EPISODE_METRICS",
    "annotate_violations",
    "run_skill_episode",
    "rollout",
    "invalid_skill_results",
]

#: Episode metrics a rollout dict carries (the rest of the episode's metrics are dropped
#: to keep logs small): flow, safety and the task metrics the objectives and rules read.
EPISODE_METRICS = (
    "throughput",
    "on_time_rate",
    "completion_rate",
    "orders_due",
    "backlog_at_end",
    "turnaround_p50_s",
    "critical_violations",
    "violations_total",
    "blocked",
    "stat_on_time_rate",
    "stat_tat_mean_s",
    "stat_tat_p50_s",
    "routine_tat_p50_s",
    "detection_delay_s",
    "wrongly_released",
    "results_held",
    "stockout_s",
    "runs_held_for_reagent",
    "acute_stat_tat_p50_s",
    "repairs_completed",
    "episode_log_sha256",
)


def run_skill_episode(
    task_type: str, seed: int, skill_text: str, split: str = ""
) -> dict[str, Any]:
    """Play ``task_type`` on ``seed`` with the team of ``skill_text``; the rollout dict."""
    from labtrust_gym.baselines.skill_team import parse_team_block, use_skill_team
    from labtrust_gym.benchmarks.runner import run_episode
    from labtrust_gym.skillopt.scoring import load_objectives, score_episode

    tt = TaskType.parse(task_type)
    task = tt.make_task()
    use_skill_team(task, parse_team_block(skill_text))
    metrics, env = run_episode(task, int(seed))
    annotate_violations(task.policy, metrics)
    score = score_episode(tt.task, metrics, load_objectives(task.policy.policy_dir))
    spec = EpisodeSpec(tt, int(seed), split)
    return {
        "id": spec.id,
        "hard": score["hard"],
        "soft": score["soft"],
        "task_type": tt.name,
        "seed": int(seed),
        "split": split,
        "sla_met": score["sla_met"],
        "safety": score["safety"],
        "terms": score["terms"],
        "metrics": {k: metrics.get(k) for k in EPISODE_METRICS if k in metrics},
        "reason_codes": dict(sorted((metrics.get("blocked_by_reason_code") or {}).items())),
        "violation_reason_codes": metrics["violation_reason_codes"],
        "violations_by_invariant": dict(metrics.get("violations_by_invariant") or {}),
        "fail_reason": _fail_reason(score),
    }


def annotate_violations(policy: Any, metrics: dict[str, Any]) -> dict[str, Any]:
    """Add what scoring needs to an episode's metrics, from the invariant registry:
    ``violation_reason_codes`` (``{code: count}`` of the violations) and
    ``violation_severities`` (``{invariant: {severity, count}}``, so a critical violation
    is seen whatever its reason code's priority). Returns ``metrics``."""
    invs = {i["invariant_id"]: i for i in policy["invariant_registry"]["invariants"]}
    codes: dict[str, int] = {}
    sev: dict[str, dict[str, Any]] = {}
    for inv, n in (metrics.get("violations_by_invariant") or {}).items():
        entry = invs.get(inv, {})
        code = entry.get("reason_code", inv)
        codes[code] = codes.get(code, 0) + int(n)
        sev[inv] = {"severity": entry.get("severity"), "count": int(n)}
    metrics["violation_reason_codes"] = dict(sorted(codes.items()))
    metrics["violation_severities"] = dict(sorted(sev.items()))
    return metrics


def _fail_reason(score: Mapping[str, Any]) -> str:
    if score["hard"]:
        return ""
    parts = [f"safety: {k} x{n}" for k, n in score["safety"].items()]
    parts += [
        f"{r['metric']}={r['value']:.4g} misses its target"
        for r in score["terms"]
        if r.get("holds") is False
    ]
    return "; ".join(parts) or "SLA not met"


def invalid_skill_results(episodes: Sequence[EpisodeSpec], reason: str) -> list[dict[str, Any]]:
    """The rollout of a skill that cannot be played (its block does not parse, a
    protected region changed): every episode fails with ``reason``, nothing is run."""
    return [
        {
            "id": e.id,
            "hard": 0,
            "soft": 0.0,
            "task_type": e.task_type.name,
            "seed": e.seed,
            "split": e.split,
            "invalid_skill": True,
            "fail_reason": reason,
            "safety": {},
            "metrics": {},
            "reason_codes": {},
            "violation_reason_codes": {},
            "violations_by_invariant": {},
        }
        for e in episodes
    ]


def rollout(
    episodes: Sequence[EpisodeSpec],
    skill_text: str,
    executor: Executor | None = None,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """Play ``episodes`` with the skill; results in episode order. ``executor``: any
    :class:`concurrent.futures.Executor` (None: in this process). ``progress(done,
    total)`` is called as episodes finish."""
    n = len(episodes)
    if executor is None:
        out = []
        for i, e in enumerate(episodes, 1):
            out.append(run_skill_episode(e.task_type.name, e.seed, skill_text, e.split))
            if progress is not None:
                progress(i, n)
        return out
    futs = [
        executor.submit(run_skill_episode, e.task_type.name, e.seed, skill_text, e.split)
        for e in episodes
    ]
    results: list[dict[str, Any]] = []
    for i, f in enumerate(futs, 1):
        results.append(f.result())
        if progress is not None:
            progress(i, n)
    return results
