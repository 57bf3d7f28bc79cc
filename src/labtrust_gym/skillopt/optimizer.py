"""Aggregate, select and update: from raw patches to a candidate skill.

* :func:`aggregate`: the edits of all raw patches, de-duplicated by ``(op, target,
  content)`` with their ``support_count`` summed; failure edits first (an edit proposed
  by both failed and successful episodes counts as a failure edit), then by support
  (highest first), then in first-seen order.
* :func:`edit_budget` / :class:`Schedule`: the edit budget (SkillOpt's learning rate) of a
  step under a ``constant``, ``linear`` or ``cosine`` schedule from ``max_edits`` down to
  ``min_edits``.
* :func:`select`: the first ``budget`` edits of the aggregate.
* :func:`update`: apply them (:func:`~labtrust_gym.skillopt.document.apply_patch`) with a
  per-edit report: applied, or skipped and why.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.skillopt.document import apply_patch
from labtrust_gym.skillopt.types import Edit, Patch

__all__ = ["SCHEDULES", "Schedule", "aggregate", "select", "update", "summarize_reports"]

SCHEDULES = ("constant", "linear", "cosine")


def aggregate(raw_patches: Iterable[Mapping[str, Any] | None]) -> Patch:
    """Merge raw patches (see the module docstring); ``None`` entries are skipped."""
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    order: list[tuple[str, str, str]] = []
    reasons = []
    for raw in raw_patches:
        if raw is None:
            continue
        src = raw.get("source_type", "failure")
        patch = Patch.from_dict(raw.get("patch") or {})
        if patch.reasoning:
            reasons.append(patch.reasoning)
        for e in patch.edits:
            k = e.key
            entry = merged.get(k)
            if entry is None:
                merged[k] = {
                    "edit": e,
                    "support": e.support_count or 1,
                    "failure": src == "failure",
                }
                order.append(k)
            else:
                entry["support"] += e.support_count or 1
                entry["failure"] = entry["failure"] or src == "failure"
    ranked = sorted(
        range(len(order)),
        key=lambda i: (not merged[order[i]]["failure"], -merged[order[i]]["support"], i),
    )
    edits = []
    for i in ranked:
        entry = merged[order[i]]
        first: Edit = entry["edit"]
        edits.append(
            Edit(
                first.op,
                first.content,
                first.target,
                entry["support"],
                "failure" if entry["failure"] else "success",
                first.merge_level,
                first.update_origin,
                first.update_target,
            )
        )
    return Patch(edits, " | ".join(dict.fromkeys(reasons)))


@dataclass(frozen=True)
class Schedule:
    """The edit budget per step: ``mode`` (constant, linear or cosine) from
    ``max_edits`` at step 1 to ``min_edits`` at ``total_steps``."""

    mode: str = "constant"
    max_edits: int = 2
    min_edits: int = 1
    total_steps: int = 1

    def __post_init__(self) -> None:
        if self.mode not in SCHEDULES:
            raise ConfigError(f"edit schedule {self.mode!r}: use one of {', '.join(SCHEDULES)}")
        if self.max_edits < 1 or self.min_edits < 1 or self.min_edits > self.max_edits:
            raise ConfigError(
                f"edit budget: need 1 <= min_edits <= max_edits, got {self.min_edits} and "
                f"{self.max_edits}"
            )
        if self.total_steps < 1:
            raise ConfigError(f"total_steps must be >= 1, got {self.total_steps}")

    def budget(self, step: int) -> int:
        """The budget of ``step`` (1-based; steps past the end keep the last budget)."""
        if self.mode == "constant" or self.total_steps == 1:
            return self.max_edits
        frac = min(1.0, max(0.0, (step - 1) / (self.total_steps - 1)))
        span = self.max_edits - self.min_edits
        if self.mode == "linear":
            value = self.max_edits - span * frac
        else:
            value = self.min_edits + span * 0.5 * (1.0 + math.cos(math.pi * frac))
        return max(self.min_edits, min(self.max_edits, round(value)))


def select(patch: Patch, budget: int) -> Patch:
    """The first ``budget`` edits of an aggregated patch."""
    if budget < 1:
        raise ConfigError(f"edit budget must be >= 1, got {budget}")
    return Patch(list(patch.edits[:budget]), patch.reasoning, patch.ranking_details)


def update(
    skill_text: str, patch: Patch, *, reference: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The candidate skill and one report per edit (``status`` applied / skipped,
    ``reason``). ``reference``: the seed skill whose protected regions must survive."""
    return apply_patch(skill_text, patch.edits, reference=reference)


def summarize_reports(reports: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    return {
        "total": len(reports),
        "applied": sum(1 for r in reports if r["status"] == "applied"),
        "skipped": sum(1 for r in reports if r["status"] == "skipped"),
    }
