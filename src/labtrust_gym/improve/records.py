"""Record types passed between the stages: :class:`Proposal`, :class:`EvalReport`,
:class:`CheckpointRecord` (leagents' names; here a checkpoint is a skill document by
content hash). All are frozen and round-trip through ``to_dict`` / ``from_dict``, which is
how the stages' outputs are stored (``jobs.output_json``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from labtrust_gym.errors import ConfigError

__all__ = ["PROPOSAL_SOURCES", "Proposal", "EvalReport", "CheckpointRecord"]

#: ``deterministic`` (the rule proposer), ``llm`` (advisory), ``scripted`` (a config's
#: ``scripted_proposals``: demos and red-team tests).
PROPOSAL_SOURCES = ("deterministic", "llm", "scripted")


@dataclass(frozen=True)
class Proposal:
    """What a cycle should try: the ``focus_task`` (collected more), the ``method``
    (ladder rung), extra ``edits`` (``{file, op, target, content}``; the deterministic
    proposer adds none, the rule library reflects on the collected episodes), the number
    of episodes to collect, optional training seeds for the focus task, the evidence
    (``reason_codes``) and a ``rationale``."""

    cycle: int
    source: str
    focus_task: str
    method: str
    collect_episodes: int
    edits: tuple[dict[str, Any], ...] = ()
    train_seeds: tuple[int, ...] = ()
    reason_codes: dict[str, int] = field(default_factory=dict)
    rationale: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        if self.source not in PROPOSAL_SOURCES:
            raise ConfigError(f"proposal source {self.source!r}: use {', '.join(PROPOSAL_SOURCES)}")
        if self.collect_episodes < 1:
            raise ConfigError(
                f"proposal collect_episodes must be >= 1, got {self.collect_episodes}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "source": self.source,
            "name": self.name,
            "focus_task": self.focus_task,
            "method": self.method,
            "collect_episodes": self.collect_episodes,
            "edits": [dict(e) for e in self.edits],
            "train_seeds": list(self.train_seeds),
            "reason_codes": dict(self.reason_codes),
            "rationale": self.rationale,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Proposal:
        return cls(
            int(d["cycle"]),
            str(d["source"]),
            str(d["focus_task"]),
            str(d["method"]),
            int(d["collect_episodes"]),
            tuple(dict(e) for e in d.get("edits") or ()),
            tuple(int(s) for s in d.get("train_seeds") or ()),
            {str(k): int(v) for k, v in (d.get("reason_codes") or {}).items()},
            str(d.get("rationale", "")),
            str(d.get("name", "")),
        )


@dataclass(frozen=True)
class CheckpointRecord:
    """A skill version: its content ``hash``, the run-relative ``path`` of its text, the
    cycle that produced it and its parent."""

    hash: str
    path: str
    cycle: int
    parent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"hash": self.hash, "path": self.path, "cycle": self.cycle, "parent": self.parent}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CheckpointRecord:
        return cls(str(d["hash"]), str(d["path"]), int(d["cycle"]), d.get("parent"))


@dataclass(frozen=True)
class EvalReport:
    """A paired evaluation: the candidate and the champion on the same selection (or
    test) episodes, their mean scores, and the gate result."""

    cycle: int
    split: str
    candidate: str
    champion: str
    episodes: int
    candidate_score: float
    champion_score: float
    gate: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "split": self.split,
            "candidate": self.candidate,
            "champion": self.champion,
            "episodes": self.episodes,
            "candidate_score": self.candidate_score,
            "champion_score": self.champion_score,
            "gate": dict(self.gate),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvalReport:
        return cls(
            int(d["cycle"]),
            str(d["split"]),
            str(d["candidate"]),
            str(d["champion"]),
            int(d["episodes"]),
            float(d["candidate_score"]),
            float(d["champion_score"]),
            dict(d["gate"]),
        )
