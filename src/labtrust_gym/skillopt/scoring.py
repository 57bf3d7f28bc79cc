"""Scoring an episode for the skill optimizer: ``hard`` (0/1) and ``soft`` ([0, 1]).

The objectives are policy data (``policy/skillopt/skillopt_objectives.v0.1.yaml``, schema
``policy/schemas/skillopt_objectives.v0.1.schema.json``): per task, terms over episode
metrics. The reason-code priorities come from the reason-code registry
(``priority: P0..P3``).

* ``hard`` = 1 when every SLA term holds, no critical invariant was violated and no
  reason code of priority P0 or P1 occurred (blocked actions and violations); else 0.
* ``soft`` = the weighted mean of the terms' credits (``at_least X``: min(1, v / X);
  ``at_most X`` with ``scale S``: 1 up to X, then 1 - (v - X) / S, floored at 0). A term
  whose metric is None (nothing of that kind was due) is left out. Safety is not traded
  in ``soft``: it is the hard score's and the gate's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError

__all__ = [
    "OBJECTIVES_FILE",
    "Term",
    "Objectives",
    "load_objectives",
    "reason_code_priorities",
    "safety_events",
    "score_episode",
]

OBJECTIVES_FILE = ("skillopt", "skillopt_objectives.v0.1.yaml")
SEVERE_PRIORITIES = ("P0", "P1")


@dataclass(frozen=True)
class Term:
    metric: str
    weight: float
    at_least: float | None = None
    at_most: float | None = None
    scale: float = 1.0
    sla: bool = False

    def credit(self, value: float) -> float:
        if self.at_least is not None:
            return max(0.0, min(1.0, value / self.at_least))
        assert self.at_most is not None
        if value <= self.at_most:
            return 1.0
        return max(0.0, 1.0 - (value - self.at_most) / self.scale)

    def holds(self, value: float) -> bool:
        if self.at_least is not None:
            return value >= self.at_least
        assert self.at_most is not None
        return value <= self.at_most


@dataclass(frozen=True)
class Objectives:
    """Terms per task (``default`` for a task with no entry) and code priorities."""

    default: tuple[Term, ...]
    tasks: Mapping[str, tuple[Term, ...]]
    priorities: Mapping[str, str]

    def terms(self, task: str) -> tuple[Term, ...]:
        return self.tasks.get(task, self.default)


def _terms(raw: Any, where: str) -> tuple[Term, ...]:
    out = []
    for i, t in enumerate(raw["terms"]):
        out.append(
            Term(
                metric=str(t["metric"]),
                weight=float(t["weight"]),
                at_least=None if t.get("at_least") is None else float(t["at_least"]),
                at_most=None if t.get("at_most") is None else float(t["at_most"]),
                scale=float(t.get("scale", 1.0)),
                sla=bool(t.get("sla", False)),
            )
        )
        if out[-1].at_least is None and out[-1].at_most is None:
            raise ConfigError(f"{where}: terms[{i}] needs at_least or at_most")
    return tuple(out)


_CACHE: dict[str, Objectives] = {}


def reason_code_priorities(policy_dir: Path | str | None = None) -> dict[str, str]:
    """``{code: priority}`` from the reason-code registry."""
    from labtrust_gym.config import get_policy_dir, policy_path
    from labtrust_gym.policy.loader import load_yaml

    pdir = get_policy_dir(policy_dir)
    doc = load_yaml(policy_path(pdir, "reason_codes", "reason_code_registry.v0.1.yaml"))
    out = {}
    for rc in doc["reason_codes"]:
        if "priority" not in rc:
            raise ConfigError(
                f"reason code {rc.get('code')!r} has no priority; every registry entry needs "
                "one (P0..P3, policy/reason_codes)"
            )
        out[rc["code"]] = rc["priority"]
    return out


def load_objectives(policy_dir: Path | str | None = None) -> Objectives:
    """The objectives of the policy directory (validated against its schema; read once)."""
    from labtrust_gym.config import get_policy_dir, policy_path
    from labtrust_gym.policy.loader import load_yaml
    from labtrust_gym.policy.validate import raise_for_problems, validate_document

    pdir = get_policy_dir(policy_dir)
    key = str(pdir)
    if key not in _CACHE:
        path = policy_path(pdir, *OBJECTIVES_FILE)
        doc = load_yaml(path)
        raise_for_problems(validate_document(pdir, "/".join(OBJECTIVES_FILE), doc, str(path)))
        _CACHE[key] = Objectives(
            default=_terms(doc["default"], f"{path}: default"),
            tasks={t: _terms(e, f"{path}: tasks.{t}") for t, e in doc["tasks"].items()},
            priorities=reason_code_priorities(pdir),
        )
    return _CACHE[key]


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)) and v == v:  # NaN is missing
        return float(v)
    return None


def safety_events(metrics: Mapping[str, Any], priorities: Mapping[str, str]) -> dict[str, int]:
    """What the safety veto looks at, per episode: ``{key: count}`` with keys
    ``critical:<invariant id>`` for critical violations (``violation_severities``, else
    ``violations_by_invariant`` in ``run_scripted``'s ``{severity, count}`` form) and
    ``code:<CODE>`` for reason codes of priority P0/P1 (blocked actions, and violations
    through their invariant's reason code)."""
    out: dict[str, int] = {}
    by_inv = metrics.get("violation_severities") or metrics.get("violations_by_invariant") or {}
    for inv, v in by_inv.items():
        if isinstance(v, Mapping):  # run_scripted's form
            sev, n = v.get("severity"), int(v.get("count", 0))
        else:
            sev, n = None, int(v)
        if sev == "critical":
            out[f"critical:{inv}"] = out.get(f"critical:{inv}", 0) + n
    for code, n in (metrics.get("violation_reason_codes") or {}).items():
        if priorities.get(code) in SEVERE_PRIORITIES:
            out[f"code:{code}"] = out.get(f"code:{code}", 0) + int(n)
    for code, n in (metrics.get("blocked_by_reason_code") or {}).items():
        if priorities.get(code) in SEVERE_PRIORITIES:
            out[f"code:{code}"] = out.get(f"code:{code}", 0) + int(n)
    return dict(sorted(out.items()))


def score_episode(task: str, metrics: Mapping[str, Any], objectives: Objectives) -> dict[str, Any]:
    """``{hard, soft, sla_met, safety, terms}`` of one episode (see the module doc).

    ``metrics`` are the episode's metrics plus ``violation_reason_codes`` (``{code:
    count}`` of the violations; :func:`labtrust_gym.skillopt.rollout.run_skill_episode`
    adds it) and ``critical_violations``."""
    terms = objectives.terms(task)
    num = den = 0.0
    sla = True
    rows: list[dict[str, Any]] = []
    for t in terms:
        v = _num(metrics.get(t.metric))
        if v is None:
            rows.append({"metric": t.metric, "value": None, "credit": None})
            continue
        c = t.credit(v)
        num += t.weight * c
        den += t.weight
        ok = t.holds(v)
        if t.sla and not ok:
            sla = False
        rows.append({"metric": t.metric, "value": v, "credit": round(c, 6), "holds": ok})
    soft = num / den if den > 0 else 0.0
    safety = safety_events(metrics, objectives.priorities)
    crit = int(metrics.get("critical_violations") or 0)
    hard = int(sla and crit == 0 and not any(k.startswith("code:") for k in safety))
    return {
        "hard": hard,
        "soft": round(soft, 6),
        "sla_met": sla,
        "safety": safety,
        "terms": rows,
    }
