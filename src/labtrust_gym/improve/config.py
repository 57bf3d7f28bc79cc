"""The configuration of an improvement run (``labtrust improve run -c improve.yaml``).

A YAML mapping read with the hostile-YAML loader; unknown keys and bad values are errors
naming the file and the key (see ``docs/improve.md`` for every field). The config is
frozen; its hash (SHA-256 of the canonical JSON of :meth:`ImproveConfig.to_dict`) and the
run id derived from it are in the run's manifest, so the same config gives the same run
id, seeds and decisions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.errors import ConfigError

__all__ = ["RUNGS", "ImproveConfig", "load_config"]

#: The method ladder's rungs: rule-library skill edits with a small or a wide edit
#: budget, and an Optuna search over the skill's numeric tunables.
RUNGS = ("skill_rules", "skill_rules_wide", "optuna_params")
_DEFAULT_RUNGS: dict[str, dict[str, int]] = {
    "skill_rules": {"max_edits": 2},
    "skill_rules_wide": {"max_edits": 4},
    "optuna_params": {"trials": 4, "max_edits": 3},
}
_TOP = {
    "version",
    "name",
    "seed",
    "skill",
    "task_types",
    "constitution",
    "lab_profile",
    "cycles",
    "collect_episodes",
    "focus_episodes",
    "selection_episodes",
    "test_episodes",
    "executor",
    "ladder",
    "rungs",
    "gate",
    "decide",
    "proposer",
    "scripted_proposals",
    "knowledge_dir",
}


def _sub(doc: Mapping[str, Any], key: str, allowed: set[str], source: str) -> dict[str, Any]:
    v = doc.get(key) or {}
    if not isinstance(v, Mapping):
        raise ConfigError(f"{source}: {key} must be a mapping")
    extra = sorted(set(v) - allowed)
    if extra:
        raise ConfigError(f"{source}: {key}: unknown key(s) {extra}; known: {sorted(allowed)}")
    return dict(v)


@dataclass(frozen=True)
class ImproveConfig:
    """An improvement run's configuration (see the module docstring)."""

    name: str = "improve"
    seed: int = 0
    skill: str = "lab_team_weak_seed"
    task_types: tuple[str, ...] = ("stat_insertion", "qc_cascade")
    constitution: str = "improve_constitution"
    lab_profile: str | None = None
    cycles: int = 3
    collect_episodes: int = 4
    focus_episodes: int = 2
    selection_episodes: int = 4
    test_episodes: int = 0
    executor: dict[str, Any] = field(default_factory=lambda: {"kind": "inline"})
    ladder: tuple[str, ...] = RUNGS
    rungs: dict[str, dict[str, int]] = field(default_factory=lambda: dict(_DEFAULT_RUNGS))
    gate: dict[str, Any] = field(default_factory=dict)
    decide: dict[str, Any] = field(default_factory=dict)
    proposer: dict[str, Any] = field(default_factory=dict)
    scripted_proposals: tuple[dict[str, Any], ...] = ()
    knowledge_dir: str | None = None

    def __post_init__(self) -> None:
        for k in ("cycles", "collect_episodes", "selection_episodes"):
            if int(getattr(self, k)) < 1:
                raise ConfigError(f"improve config: {k} must be >= 1, got {getattr(self, k)}")
        for k in ("focus_episodes", "test_episodes"):
            if int(getattr(self, k)) < 0:
                raise ConfigError(f"improve config: {k} must be >= 0, got {getattr(self, k)}")
        if not self.task_types:
            raise ConfigError("improve config: task_types must list at least one task type")
        if not self.ladder:
            raise ConfigError("improve config: ladder must list at least one rung")
        for r in self.ladder:
            if r not in RUNGS:
                raise ConfigError(f"improve config: ladder rung {r!r}; known: {', '.join(RUNGS)}")
        if self.executor.get("kind", "inline") not in ("inline", "local", "dask"):
            raise ConfigError(
                f"improve config: executor.kind {self.executor.get('kind')!r}: use inline, "
                "local or dask"
            )
        for p in self.scripted_proposals:
            if not isinstance(p, Mapping) or "cycle" not in p:
                raise ConfigError(
                    "improve config: each scripted_proposals entry must be a mapping with a cycle"
                )

    def rung_params(self, rung: str) -> dict[str, int]:
        return {**_DEFAULT_RUNGS[rung], **(self.rungs.get(rung) or {})}

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": "0.1",
            "name": self.name,
            "seed": self.seed,
            "skill": self.skill,
            "task_types": list(self.task_types),
            "constitution": self.constitution,
            "lab_profile": self.lab_profile,
            "cycles": self.cycles,
            "collect_episodes": self.collect_episodes,
            "focus_episodes": self.focus_episodes,
            "selection_episodes": self.selection_episodes,
            "test_episodes": self.test_episodes,
            "executor": dict(self.executor),
            "ladder": list(self.ladder),
            "rungs": {k: dict(v) for k, v in self.rungs.items()},
            "gate": dict(self.gate),
            "decide": dict(self.decide),
            "proposer": dict(self.proposer),
            "scripted_proposals": [dict(p) for p in self.scripted_proposals],
            "knowledge_dir": self.knowledge_dir,
        }

    @property
    def sha256(self) -> str:
        """SHA-256 of the canonical config without ``executor`` and ``knowledge_dir``
        (where episodes run and where pages go change no result)."""
        d = self.to_dict()
        d.pop("executor")
        d.pop("knowledge_dir")
        return hashlib.sha256(canonical_json(d)).hexdigest()

    @property
    def run_id(self) -> str:
        """``NAME-`` and 12 hex digits of the config hash: the same config, the same id."""
        return f"{self.name}-{self.sha256[:12]}"

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any], source: str = "<config>") -> ImproveConfig:
        if not isinstance(doc, Mapping):
            raise ConfigError(f"{source}: an improve config must be a mapping")
        extra = sorted(set(doc) - _TOP)
        if extra:
            raise ConfigError(f"{source}: unknown key(s) {extra}; known: {sorted(_TOP)}")
        if str(doc.get("version", "0.1")) != "0.1":
            raise ConfigError(f'{source}: version must be "0.1", got {doc.get("version")!r}')
        kw: dict[str, Any] = {}
        for k in ("name", "skill", "constitution"):
            if k in doc:
                kw[k] = str(doc[k])
        for k in (
            "seed",
            "cycles",
            "collect_episodes",
            "focus_episodes",
            "selection_episodes",
            "test_episodes",
        ):
            if k in doc:
                if not isinstance(doc[k], int) or isinstance(doc[k], bool):
                    raise ConfigError(f"{source}: {k} must be an integer, got {doc[k]!r}")
                kw[k] = int(doc[k])
        if "lab_profile" in doc:
            kw["lab_profile"] = (
                None if doc["lab_profile"] in (None, "") else str(doc["lab_profile"])
            )
        if "knowledge_dir" in doc:
            kw["knowledge_dir"] = (
                None if doc["knowledge_dir"] is None else str(doc["knowledge_dir"])
            )
        for k in ("task_types", "ladder"):
            if k in doc:
                v = doc[k]
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    raise ConfigError(f"{source}: {k} must be a list of strings")
                kw[k] = tuple(v)
        if "executor" in doc:
            kw["executor"] = _sub(doc, "executor", {"kind", "workers", "scheduler"}, source)
        if "rungs" in doc:
            rungs = _sub(doc, "rungs", set(RUNGS), source)
            kw["rungs"] = {
                r: _sub(rungs, r, {"max_edits", "trials"}, f"{source}: rungs") for r in rungs
            }
        if "gate" in doc:
            kw["gate"] = _sub(
                doc, "gate", {"metric", "tolerance", "min_delta", "mixed_weight"}, source
            )
        if "decide" in doc:
            kw["decide"] = _sub(
                doc, "decide", {"rollback_threshold", "plateau_cycles", "floor"}, source
            )
        if "proposer" in doc:
            kw["proposer"] = _sub(doc, "proposer", {"llm", "timeout_s", "max_tokens"}, source)
        if "scripted_proposals" in doc:
            sp = doc["scripted_proposals"] or []
            if not isinstance(sp, list):
                raise ConfigError(f"{source}: scripted_proposals must be a list")
            allowed = {"cycle", "name", "edits", "collect_episodes", "train_seeds", "rationale"}
            for i, p in enumerate(sp):
                if not isinstance(p, Mapping):
                    raise ConfigError(f"{source}: scripted_proposals[{i}] must be a mapping")
                bad = sorted(set(p) - allowed)
                if bad:
                    raise ConfigError(
                        f"{source}: scripted_proposals[{i}]: unknown key(s) {bad}; "
                        f"known: {sorted(allowed)}"
                    )
            kw["scripted_proposals"] = tuple(dict(p) for p in sp)
        return cls(**kw)


def load_config(path: Path | str) -> ImproveConfig:
    """Read and check an improve config file."""
    from labtrust_gym.policy.yaml_io import load_yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: improve config not found; give a YAML file (-c improve.yaml)")
    return ImproveConfig.from_mapping(load_yaml(p), str(p))
