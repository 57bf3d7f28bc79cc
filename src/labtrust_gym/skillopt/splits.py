"""Task types and the train / selection / test splits of the skill optimizer.

A *task type* is a task, optionally crossed with a scale preset and a risk injection:
``TASK[@SCALE][+INJECTION]`` (``stat_insertion``,
``coord_risk@small_smoke+INJ-NET-DROP-SPIKE-001``).
An *episode* is one task type played on one seed.

Splits are disjoint seed ranges, the same for every task type: ``train`` (the pool the
training batches are drawn from), ``valid_seen`` (the selection split the gate compares
candidates on, always the same episodes, so comparisons are paired) and ``test`` (held
out: only the final report plays it). :class:`SplitPlan` checks the ranges are disjoint;
the gate checks again that the episodes actually played in training and selection do not
overlap (``reject_unverified``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labtrust_gym.errors import ConfigError
from labtrust_gym.rng import derive_seed

__all__ = [
    "SPLITS",
    "TaskType",
    "EpisodeSpec",
    "SplitPlan",
    "parse_task_types",
    "DEFAULT_TASK_TYPES",
    "episode_keys",
]

SPLITS = ("train", "valid_seen", "test")
#: The task types of ``labtrust optimize-skill`` when ``--tasks`` is not given: the tasks
#: whose outcome the team skill decides (priorities, QC, restocking, the whole journey).
DEFAULT_TASK_TYPES = ("stat_insertion", "qc_cascade", "reagent_stockout", "throughput_sla")
_TYPE = re.compile(
    r"^(?P<task>[a-z][a-z0-9_]*)(?:@(?P<scale>[A-Za-z0-9_.-]+))?(?:\+(?P<inj>[A-Za-z0-9_.-]+))?$"
)


@dataclass(frozen=True)
class TaskType:
    """``task`` with an optional scale preset and risk injection."""

    task: str
    scale: str | None = None
    injection: str | None = None

    @property
    def name(self) -> str:
        return (
            self.task
            + (f"@{self.scale}" if self.scale else "")
            + (f"+{self.injection}" if self.injection else "")
        )

    @classmethod
    def parse(cls, text: str) -> TaskType:
        m = _TYPE.match(text.strip())
        if m is None:
            raise ConfigError(
                f"task type {text!r}: expected TASK[@SCALE][+INJECTION], e.g. stat_insertion "
                "or coord_risk@small_smoke+INJ-DEVICE-FAULT-001"
            )
        return cls(m.group("task"), m.group("scale"), m.group("inj"))

    def make_task(self) -> Any:
        """A fresh task instance (scale preset and injection applied)."""
        from labtrust_gym.benchmarks.tasks import get_task

        cls = get_task(self.task)
        kw: dict[str, Any] = {}
        if self.injection:
            if not getattr(cls, "supports_injections", False):
                raise ConfigError(
                    f"task type {self.name}: task {self.task} takes no risk injection"
                )
            kw["params"] = {"injection": self.injection}
        if self.scale:
            kw["scale_config"] = self.scale  # a task without scale presets says so
        return cls(**kw)


def parse_task_types(items: Iterable[str]) -> tuple[TaskType, ...]:
    """Task types from strings (comma-separated lists allowed); each task must exist and
    be played by the team alone (a task with an adversary mixes the attacker's reason
    codes into the episode's, which the hard score must not blame on the skill)."""
    from labtrust_gym.benchmarks.tasks import get_task

    out: list[TaskType] = []
    for item in items:
        for part in str(item).split(","):
            if not part.strip():
                continue
            tt = TaskType.parse(part)
            cls = get_task(tt.task)
            if cls().extra_agents():
                raise ConfigError(
                    f"task type {tt.name}: task {tt.task} has agents outside the team "
                    "(adversaries); their blocked actions would count against the skill. "
                    "Choose tasks the team plays alone."
                )
            if tt not in out:
                out.append(tt)
    if not out:
        raise ConfigError("no task types given")
    return tuple(out)


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode: a task type on a seed, in a split. ``id`` is stable and readable."""

    task_type: TaskType
    seed: int
    split: str

    @property
    def id(self) -> str:
        return f"{self.task_type.name}/{self.split}/{self.seed}"

    @property
    def key(self) -> tuple[str, int]:
        """What identifies the scenario (task type and seed), whatever the split."""
        return (self.task_type.name, self.seed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task_type": self.task_type.name,
            "seed": self.seed,
            "split": self.split,
        }


@dataclass(frozen=True)
class SplitPlan:
    """Seed ranges ``[start, start + size)`` per split, the same for every task type.

    Defaults: train 100 seeds from 1000, selection (``valid_seen``) 100 from 2000, test
    100 from 3000 (a run plays only as many as it asks for).
    """

    task_types: tuple[TaskType, ...]
    ranges: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {
            "train": (1000, 100),
            "valid_seen": (2000, 100),
            "test": (3000, 100),
        }
    )

    def __post_init__(self) -> None:
        if not self.task_types:
            raise ConfigError("a split plan needs at least one task type")
        if set(self.ranges) != set(SPLITS):
            raise ConfigError(f"split ranges must name exactly {', '.join(SPLITS)}")
        spans = sorted((a, a + n, s) for s, (a, n) in self.ranges.items())
        for (a1, b1, s1), (a2, _, s2) in zip(spans, spans[1:], strict=False):
            if a2 < b1:
                raise ConfigError(
                    f"split seed ranges overlap: {s1} [{a1}, {b1}) and {s2} starts at {a2}; "
                    "train, selection and test must be disjoint"
                )
        for s, (_, n) in self.ranges.items():
            if n < 1:
                raise ConfigError(f"split {s}: size must be >= 1, got {n}")

    def seeds(self, split: str) -> range:
        if split not in self.ranges:
            raise ConfigError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
        a, n = self.ranges[split]
        return range(a, a + n)

    def eval_episodes(self, split: str, n: int) -> list[EpisodeSpec]:
        """The first ``n`` episodes of a split, task types in turn (so every task type
        gets ``n // types`` or one more); the same every call."""
        if n < 1:
            raise ConfigError(f"{split}: the number of episodes must be >= 1, got {n}")
        seeds = self.seeds(split)
        per = -(-n // len(self.task_types))
        if per > len(seeds):
            raise ConfigError(
                f"{split}: {n} episodes need {per} seeds per task type, the split has "
                f"{len(seeds)}; widen its range"
            )
        out: list[EpisodeSpec] = []
        for i in range(per):
            for tt in self.task_types:
                if len(out) < n:
                    out.append(EpisodeSpec(tt, seeds[i], split))
        return out

    def train_batch(self, batch_size: int, seed: int) -> list[EpisodeSpec]:
        """``batch_size`` training episodes drawn from the train pool, stratified by task
        type (task types in turn, a seed of the pool drawn for each from a generator
        seeded with ``derive_seed(seed, "skillopt-batch")``, no episode twice)."""
        if batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {batch_size}")
        pool = self.seeds("train")
        if batch_size > len(pool) * len(self.task_types):
            raise ConfigError(f"batch size {batch_size} exceeds the train pool")
        rng = np.random.Generator(np.random.PCG64(derive_seed(seed, "skillopt-batch")))
        picks: dict[str, list[int]] = {}
        out: list[EpisodeSpec] = []
        k = 0
        while len(out) < batch_size:
            tt = self.task_types[k % len(self.task_types)]
            k += 1
            taken = picks.setdefault(tt.name, [])
            if len(taken) >= len(pool):
                continue
            while True:
                s = pool[int(rng.integers(len(pool)))]
                if s not in taken:
                    break
            taken.append(s)
            out.append(EpisodeSpec(tt, s, "train"))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_types": [t.name for t in self.task_types],
            "ranges": {s: list(v) for s, v in self.ranges.items()},
        }


def episode_keys(episodes: Sequence[EpisodeSpec]) -> set[tuple[str, int]]:
    return {e.key for e in episodes}
