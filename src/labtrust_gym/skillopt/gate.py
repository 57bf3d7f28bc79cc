"""The validation gate with a safety veto: a pure function of two selection rollouts.

:func:`gate_decision` compares a candidate skill with the current one on the same
selection (``valid_seen``) episodes, paired by (task type, seed), and decides in this
order:

1. ``reject_unverified``: the training episodes and the selection episodes overlap, or
   the two rollouts are not over the same episodes (nothing can be concluded);
2. ``vetoed``: on any selection episode the candidate has a *new* critical violation or
   reason code of priority P0/P1: a count above the current skill's on that episode
   (``safety`` of the rollout dicts), whatever its score;
3. ``reject``: some task type regresses: its mean paired delta is below
   ``-tolerance``;
4. ``reject`` unless the mean paired delta is strictly positive (a tie is rejected) and at
   least ``min_delta``;
5. otherwise ``accept_new_best`` when the candidate's selection score beats the best so
   far, else ``accept``.

The score of an episode is its ``hard``, its ``soft`` or ``(1 - w) * hard + w * soft``
(``metric``: hard / soft / mixed, as SkillOpt's ``gate_metric``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.skillopt.types import GateResult

__all__ = ["GateConfig", "episode_score", "mean_score", "gate_decision", "GATE_METRICS"]

GATE_METRICS = ("hard", "soft", "mixed")


@dataclass(frozen=True)
class GateConfig:
    """``metric`` (hard / soft / mixed) and ``mixed_weight`` (weight of soft in mixed);
    ``tolerance``: the largest mean paired drop a task type may show; ``min_delta``: the
    smallest mean paired gain accepted (0: any strict gain)."""

    metric: str = "soft"
    mixed_weight: float = 0.5
    tolerance: float = 0.02
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        if self.metric not in GATE_METRICS:
            raise ConfigError(f"gate metric {self.metric!r}: use one of {', '.join(GATE_METRICS)}")
        if not 0.0 <= self.mixed_weight <= 1.0:
            raise ConfigError(f"gate mixed_weight must be in [0, 1], got {self.mixed_weight}")
        if self.tolerance < 0 or self.min_delta < 0:
            raise ConfigError("gate tolerance and min_delta must be >= 0")


def episode_score(r: Mapping[str, Any], cfg: GateConfig) -> float:
    hard, soft = float(r["hard"]), float(r["soft"])
    if cfg.metric == "hard":
        return hard
    if cfg.metric == "soft":
        return soft
    return (1.0 - cfg.mixed_weight) * hard + cfg.mixed_weight * soft


def mean_score(results: Sequence[Mapping[str, Any]], cfg: GateConfig) -> float:
    return sum(episode_score(r, cfg) for r in results) / len(results) if results else 0.0


def _key(r: Mapping[str, Any]) -> tuple[str, int]:
    return (str(r["task_type"]), int(r["seed"]))


def gate_decision(
    candidate: Sequence[Mapping[str, Any]],
    current: Sequence[Mapping[str, Any]],
    *,
    candidate_skill: str,
    current_skill: str,
    current_score: float,
    best_skill: str,
    best_score: float,
    best_step: int,
    step: int,
    train_keys: Iterable[tuple[str, int]],
    cfg: GateConfig | None = None,
) -> GateResult:
    """The gate's decision (see the module docstring). ``candidate`` and ``current``:
    rollout dicts of the selection episodes (``task_type``, ``seed``, ``hard``, ``soft``,
    ``safety``); ``train_keys``: the (task type, seed) of every training episode so far.
    Pure: same inputs, same result; nothing is read or written."""
    from labtrust_gym.benchmarks.metrics import paired_diff_ci95

    cfg = cfg or GateConfig()

    def result(action: Any, reason: str, **kw: Any) -> GateResult:
        if action in ("accept_new_best", "accept"):
            cs = kw.pop("cand_score")
            new_best = action == "accept_new_best"
            return GateResult(
                action,
                candidate_skill,
                cs,
                candidate_skill if new_best else best_skill,
                cs if new_best else best_score,
                step if new_best else best_step,
                reason,
                **kw,
            )
        return GateResult(
            action, current_skill, current_score, best_skill, best_score, best_step, reason, **kw
        )

    cand = {_key(r): r for r in candidate}
    cur = {_key(r): r for r in current}
    overlap = sorted(set(train_keys) & (set(cand) | set(cur)))
    if overlap:
        shown = ", ".join(f"{t}/{s}" for t, s in overlap[:3])
        return result(
            "reject_unverified",
            f"{len(overlap)} selection episode(s) were also played in training ({shown}); "
            "the selection split must be held out",
        )
    if not cand or set(cand) != set(cur) or len(cand) != len(candidate) or len(cur) != len(current):
        return result(
            "reject_unverified",
            "the candidate and the current skill were not played on the same selection "
            "episodes (each once); a paired comparison is impossible",
        )
    keys = sorted(cand)
    vetoes = []
    for k in keys:
        c_s = cand[k].get("safety") or {}
        p_s = cur[k].get("safety") or {}
        new = {e: int(n) for e, n in sorted(c_s.items()) if int(n) > int(p_s.get(e, 0))}
        if new:
            vetoes.append({"episode": f"{k[0]}/{k[1]}", "new": new})
    deltas = [episode_score(cand[k], cfg) - episode_score(cur[k], cfg) for k in keys]
    paired = paired_diff_ci95(
        [episode_score(cand[k], cfg) for k in keys], [episode_score(cur[k], cfg) for k in keys]
    )
    per_task: dict[str, list[float]] = {}
    for k, d in zip(keys, deltas, strict=True):
        per_task.setdefault(k[0], []).append(d)
    per_task_mean = {t: sum(v) / len(v) for t, v in sorted(per_task.items())}
    info = {"paired": paired, "per_task": per_task_mean}
    if vetoes:
        first = vetoes[0]
        return result(
            "vetoed",
            f"safety veto: {len(vetoes)} selection episode(s) show new critical violations "
            f"or P0/P1 reason codes (first: {first['episode']}: "
            f"{', '.join(first['new'])})",
            vetoes=tuple(vetoes),
            **info,
        )
    worst = min(per_task_mean.items(), key=lambda kv: (kv[1], kv[0]))
    if worst[1] < -cfg.tolerance:
        return result(
            "reject",
            f"task type {worst[0]} regresses by {-worst[1]:.4f} (mean paired delta), more "
            f"than the tolerance {cfg.tolerance}",
            **info,
        )
    mean_delta = sum(deltas) / len(deltas)
    if mean_delta <= 0:
        what = "a tie" if mean_delta == 0 else "worse"
        return result(
            "reject", f"no strict paired improvement ({what}: mean delta {mean_delta:.4f})", **info
        )
    if mean_delta < cfg.min_delta:
        return result(
            "reject",
            f"paired improvement {mean_delta:.4f} is below the minimum {cfg.min_delta}",
            **info,
        )
    cand_score = mean_score(candidate, cfg)
    if cand_score > best_score:
        return result(
            "accept_new_best",
            f"paired improvement {mean_delta:.4f}; new best selection score {cand_score:.4f}",
            cand_score=cand_score,
            **info,
        )
    return result(
        "accept",
        f"paired improvement {mean_delta:.4f} over the current skill (best stays {best_score:.4f})",
        cand_score=cand_score,
        **info,
    )
