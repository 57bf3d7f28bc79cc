"""Skill and policy optimization behind a gate with a safety veto (the SkillOpt contract).

* :mod:`~labtrust_gym.skillopt.types`: ``Edit``, ``Patch``, ``RolloutResult``,
  ``BatchSpec``, ``GateResult`` (SkillOpt's fields, ``to_dict`` / ``from_dict``);
* :mod:`~labtrust_gym.skillopt.document`: skill documents, protected regions, edits;
* :mod:`~labtrust_gym.skillopt.splits`: task types and disjoint seed splits;
* :mod:`~labtrust_gym.skillopt.scoring`: ``hard`` / ``soft`` of an episode (objectives
  in ``policy/skillopt``, reason-code priorities);
* :mod:`~labtrust_gym.skillopt.rollout`: episodes played through the study executors;
* :mod:`~labtrust_gym.skillopt.reflect`: the rule library and the LLM reflect;
* :mod:`~labtrust_gym.skillopt.optimizer`: aggregate, edit-budget schedules, select,
  update;
* :mod:`~labtrust_gym.skillopt.gate`: the gate, a pure function;
* :mod:`~labtrust_gym.skillopt.adapter`: the SkillOpt ``EnvAdapter``;
* :mod:`~labtrust_gym.skillopt.loop`: ``optimize_skill``, ``evaluate_skill``, reports;
* :mod:`~labtrust_gym.skillopt.params`: Optuna tuning of coordination-method parameters.

Layering: above benchmarks and studies (it runs episodes through the study executors),
below the CLI. See ``docs/skill_optimization.md``.
"""

from labtrust_gym.skillopt.adapter import HAVE_SKILLOPT, LabTrustSkillAdapter
from labtrust_gym.skillopt.document import SkillDoc, apply_patch, check_protected, load_skill
from labtrust_gym.skillopt.gate import GateConfig, gate_decision
from labtrust_gym.skillopt.loop import (
    OptimizeConfig,
    evaluate_skill,
    optimize_skill,
    paired_report,
    train_step,
)
from labtrust_gym.skillopt.optimizer import Schedule, aggregate, select, update
from labtrust_gym.skillopt.reflect import llm_reflect, rule_reflect
from labtrust_gym.skillopt.splits import EpisodeSpec, SplitPlan, TaskType, parse_task_types
from labtrust_gym.skillopt.types import BatchSpec, Edit, GateResult, Patch, RolloutResult

__all__ = [
    "HAVE_SKILLOPT",
    "BatchSpec",
    "Edit",
    "EpisodeSpec",
    "GateConfig",
    "GateResult",
    "LabTrustSkillAdapter",
    "OptimizeConfig",
    "Patch",
    "RolloutResult",
    "Schedule",
    "SkillDoc",
    "SplitPlan",
    "TaskType",
    "aggregate",
    "apply_patch",
    "check_protected",
    "evaluate_skill",
    "gate_decision",
    "llm_reflect",
    "load_skill",
    "optimize_skill",
    "paired_report",
    "parse_task_types",
    "rule_reflect",
    "select",
    "train_step",
    "update",
]
