"""The SkillOpt I/O types: :class:`Edit`, :class:`Patch`, :class:`RolloutResult`,
:class:`BatchSpec` and :class:`GateResult`, with the fields of SkillOpt's API reference
(``skillopt.types``, ``skillopt.datasets.base``, ``skillopt.evaluation.gate``) and
``to_dict`` / ``from_dict`` round trips, so patches and rollouts pass unchanged between
this package and a real SkillOpt trainer.

:class:`GateResult` keeps the reference's six fields and adds why (``reason``), the paired
comparison behind the decision and the vetoes (our gate, :mod:`.gate`, has two more
actions than SkillOpt's: ``reject_unverified`` and ``vetoed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from labtrust_gym.errors import ConfigError

__all__ = [
    "EDIT_OPS",
    "GATE_ACTIONS",
    "EditOp",
    "GateAction",
    "Edit",
    "Patch",
    "RolloutResult",
    "BatchSpec",
    "GateResult",
]

EditOp = Literal["append", "insert_after", "replace", "delete"]
EDIT_OPS: tuple[str, ...] = ("append", "insert_after", "replace", "delete")
GateAction = Literal["accept_new_best", "accept", "reject", "reject_unverified", "vetoed"]
GATE_ACTIONS: tuple[str, ...] = (
    "accept_new_best",
    "accept",
    "reject",
    "reject_unverified",
    "vetoed",
)
_SOURCES = ("failure", "success")


@dataclass(frozen=True)
class Edit:
    """One edit of a skill document (SkillOpt's ``Edit``).

    ``op``: ``append`` (``content`` at the end), ``insert_after`` (``content`` on a new
    line after the line holding ``target``), ``replace`` (first ``target`` by
    ``content``), ``delete`` (first ``target``). ``support_count``: how many episodes
    called for it; ``source_type``: from failed or successful episodes.
    """

    op: EditOp
    content: str = ""
    target: str = ""
    support_count: int | None = None
    source_type: Literal["failure", "success"] | None = None
    merge_level: int | None = None
    update_origin: str = ""
    update_target: str = ""

    def __post_init__(self) -> None:
        if self.op not in EDIT_OPS:
            raise ConfigError(f"edit op {self.op!r} is not one of {', '.join(EDIT_OPS)}")
        if self.source_type is not None and self.source_type not in _SOURCES:
            raise ConfigError(f"edit source_type {self.source_type!r}: use failure or success")

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes two edits the same edit: ``(op, target, content)``."""
        return (self.op, self.target, self.content)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Edit:
        if not isinstance(d, Mapping):
            raise ConfigError(f"an edit must be a mapping, not {type(d).__name__}")
        sc = d.get("support_count")
        ml = d.get("merge_level")
        return cls(
            op=d.get("op", "append"),
            content=str(d.get("content", "") or ""),
            target=str(d.get("target", "") or ""),
            support_count=None if sc is None else int(sc),
            source_type=d.get("source_type"),
            merge_level=None if ml is None else int(ml),
            update_origin=str(d.get("update_origin", "") or ""),
            update_target=str(d.get("update_target", "") or ""),
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"op": self.op, "content": self.content}
        if self.target:
            d["target"] = self.target
        if self.support_count is not None:
            d["support_count"] = self.support_count
        if self.source_type is not None:
            d["source_type"] = self.source_type
        if self.merge_level is not None:
            d["merge_level"] = self.merge_level
        if self.update_origin:
            d["update_origin"] = self.update_origin
        if self.update_target:
            d["update_target"] = self.update_target
        return d


@dataclass
class Patch:
    """A set of edits with the reasoning behind them (SkillOpt's ``Patch``)."""

    edits: list[Edit] = field(default_factory=list)
    reasoning: str = ""
    ranking_details: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Patch:
        if not isinstance(d, Mapping):
            raise ConfigError(f"a patch must be a mapping, not {type(d).__name__}")
        raw = d.get("edits", [])
        if not isinstance(raw, list):
            raise ConfigError("a patch's edits must be a list")
        return cls(
            edits=[e if isinstance(e, Edit) else Edit.from_dict(e) for e in raw],
            reasoning=str(d.get("reasoning", "") or ""),
            ranking_details=d.get("ranking_details"),
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "reasoning": self.reasoning,
            "edits": [e.to_dict() for e in self.edits],
        }
        if self.ranking_details is not None:
            d["ranking_details"] = self.ranking_details
        return d


_ROLLOUT_FIELDS = (
    "n_turns",
    "fail_reason",
    "task_type",
    "task_description",
    "predicted_answer",
    "question",
    "reference_text",
    "target_system_prompt",
    "target_user_prompt",
    "spreadsheet_preview",
)


@dataclass
class RolloutResult:
    """One episode's outcome (SkillOpt's ``RolloutResult``): ``id``, ``hard`` (0/1),
    ``soft`` ([0, 1]); every other key of the rollout dict lands in ``extras`` (here:
    ``seed``, ``split``, ``metrics``, ``reason_codes``, ``critical_violations``...)."""

    id: str
    hard: int
    soft: float
    n_turns: int = 0
    fail_reason: str = ""
    task_type: str = ""
    task_description: str = ""
    predicted_answer: str = ""
    question: str = ""
    reference_text: str = ""
    target_system_prompt: str = ""
    target_user_prompt: str = ""
    spreadsheet_preview: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RolloutResult:
        known = {"id", "hard", "soft", *_ROLLOUT_FIELDS}
        return cls(
            id=str(d.get("id", "")),
            hard=int(d.get("hard", 0)),
            soft=float(d.get("soft", 0.0)),
            n_turns=int(d.get("n_turns", 0)),
            **{k: str(d.get(k, "")) for k in _ROLLOUT_FIELDS if k != "n_turns"},
            extras={k: v for k, v in d.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "hard": self.hard, "soft": self.soft}
        for k in _ROLLOUT_FIELDS:
            v = getattr(self, k)
            if v:
                d[k] = v
        d.update(self.extras)
        return d


@dataclass(slots=True)
class BatchSpec:
    """One batch request (SkillOpt's ``BatchSpec``): ``phase`` (train / eval), ``split``
    (train, valid_seen, test), ``seed``, ``batch_size``; ``payload``: the episodes
    (:class:`~labtrust_gym.skillopt.splits.EpisodeSpec` list)."""

    phase: str
    split: str
    seed: int
    batch_size: int
    payload: object | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        """Episodes in the batch (SkillOpt sizes an environment manager with ``len``)."""
        return len(self.payload) if isinstance(self.payload, list) else self.batch_size

    def to_dict(self) -> dict[str, Any]:
        payload = self.payload
        if isinstance(payload, list):
            payload = [p.to_dict() if hasattr(p, "to_dict") else p for p in payload]
        return {
            "phase": self.phase,
            "split": self.split,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "payload": payload,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BatchSpec:
        return cls(
            phase=str(d["phase"]),
            split=str(d["split"]),
            seed=int(d["seed"]),
            batch_size=int(d["batch_size"]),
            payload=d.get("payload"),
            metadata=dict(d.get("metadata") or {}),
        )


@dataclass(frozen=True)
class GateResult:
    """The gate's decision (SkillOpt's ``GateResult`` plus why).

    The reference's fields: ``action``, ``current_skill``, ``current_score``,
    ``best_skill``, ``best_score``, ``best_step``. Ours: ``reason`` (one sentence),
    ``paired`` (mean paired delta on the selection episodes and its 95% CI),
    ``per_task`` (mean paired delta per task type), ``vetoes`` (episode id and what is
    new there).
    """

    action: GateAction
    current_skill: str
    current_score: float
    best_skill: str
    best_score: float
    best_step: int
    reason: str = ""
    paired: Mapping[str, Any] = field(default_factory=dict)
    per_task: Mapping[str, float] = field(default_factory=dict)
    vetoes: tuple[Mapping[str, Any], ...] = ()

    @property
    def accepted(self) -> bool:
        return self.action in ("accept_new_best", "accept")

    def to_dict(self, *, with_skills: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "action": self.action,
            "current_score": self.current_score,
            "best_score": self.best_score,
            "best_step": self.best_step,
            "reason": self.reason,
            "paired": dict(self.paired),
            "per_task": dict(self.per_task),
            "vetoes": [dict(v) for v in self.vetoes],
        }
        if with_skills:
            d["current_skill"] = self.current_skill
            d["best_skill"] = self.best_skill
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GateResult:
        action = d["action"]
        if action not in GATE_ACTIONS:
            raise ConfigError(f"gate action {action!r} is not one of {', '.join(GATE_ACTIONS)}")
        return cls(
            action=action,
            current_skill=str(d.get("current_skill", "")),
            current_score=float(d["current_score"]),
            best_skill=str(d.get("best_skill", "")),
            best_score=float(d["best_score"]),
            best_step=int(d["best_step"]),
            reason=str(d.get("reason", "")),
            paired=dict(d.get("paired") or {}),
            per_task=dict(d.get("per_task") or {}),
            vetoes=tuple(dict(v) for v in d.get("vetoes") or ()),
        )
