"""The skill-driven scripted team: the scripted baseline configured by a skill document.

A team skill document (``policy/skills/*.md``, artifact kind ``skills``) is Markdown for
LLM agents with one machine-readable block, a fenced code block whose info string is
``yaml labtrust-team``. The block is a flat YAML mapping:

* tunables: any scripted-team parameter of
  :data:`~labtrust_gym.baselines.scripted.team.DEFAULT_PARAMS` that is not set by a rule
  (``qc_interval_s: 1200``, ``restock_margin_runs: 2``, ``skip_actions: [...]``...);
* ``rules``: the team's named practices, one per line (a zero-indented YAML list, so that
  line edits keep it valid). :data:`RULES` lists them. A practice the list does not name is
  off: ``stat_first`` absent means the team treats every tube alike.

The flat layout is deliberate: edits are line edits (SkillOpt's ``replace`` of
``qc_interval_s: 3600`` by ``qc_interval_s: 1200``, ``insert_after`` of ``- stat_first``
after ``rules:``), and a flat mapping stays valid YAML whatever the indentation of the
inserted line.

Some practices are unsafe (``release_held_results``, ``prop_doors_open``,
``skip_qc_before_release``). The team follows them when the document says so: that is
how the optimizer's safety veto is tested against edits that would do harm
(docs/skill_optimization.md). The engine's trust skeleton still blocks what it must, and
the episode records the reason codes and violations.

:class:`SkillTeam` is a :class:`~labtrust_gym.baselines.scripted.ScriptedTeam` with the
block's parameters plus those unsafe practices; :func:`use_skill_team` makes a task's
scripted baseline a skill team.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from labtrust_gym.baselines.scripted.common import act
from labtrust_gym.baselines.scripted.team import DEFAULT_PARAMS, ScriptedTeam
from labtrust_gym.errors import ConfigError

__all__ = [
    "BLOCK_INFO",
    "RULES",
    "UNSAFE_RULES",
    "TeamSkill",
    "SkillTeam",
    "find_team_block",
    "parse_team_block",
    "use_skill_team",
]

#: The info string of the fenced block that holds the team configuration.
BLOCK_INFO = "yaml labtrust-team"

#: Rules (named practices): rule id -> (scripted-team parameter it switches on, meaning).
#: A parameter of a rule the block does not list is switched off. Rules without a
#: parameter are practices :class:`SkillTeam` implements itself.
RULES: Mapping[str, tuple[str | None, str]] = {
    "stat_first": (
        "stat_tactics",
        "STAT tubes first everywhere: carrying, STAT calls, channel hold, just-in-time loading",
    ),
    "reserve_centrifuge_for_stat": (
        "centrifuge_reserve",
        "keep the last idle centrifuge of a bench for STAT tubes",
    ),
    "patient_based_qc": (
        "pbrtqc",
        "check an analyzer at once when its patient results drift from the population",
    ),
    "restock": ("restock", "fetch reagent packs from the stores before a reagent runs out"),
    "audit_review": ("audit_review", "the supervisor reviews the audit log and revokes keys"),
    "release_held_results": (
        None,
        "UNSAFE: results held by a QC failure are released instead of re-run",
    ),
    "prop_doors_open": (
        None,
        "UNSAFE: standard doors are propped open for the trolleys and never closed",
    ),
    "skip_qc_before_release": (
        None,
        "UNSAFE: analyzers keep running after a QC failure, without waiting for QC clearance",
    ),
}
UNSAFE_RULES = frozenset(r for r, (param, _) in RULES.items() if param is None)
_RULE_PARAMS = frozenset(p for p, _ in RULES.values() if p is not None)
#: Team parameters a skill document may not set (objects, or set by rules).
_NOT_TUNABLE = _RULE_PARAMS | {"signers"}
_FENCE = re.compile(r"^```[ \t]*(?P<info>[^\n`]*)$", re.MULTILINE)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice (PyYAML keeps the last one silently,
    which would let a second ``rules:`` line hide the first)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class TeamSkill:
    """The parsed block of a team skill document.

    ``tunables``: the parameters the block sets; ``rules``: the practices it lists (in
    order); ``params``: the scripted-team overrides they make together;
    ``practices``: the unsafe practices among the rules.
    """

    tunables: Mapping[str, Any]
    rules: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    practices: frozenset[str] = frozenset()


def find_team_block(text: str, source: str = "skill document") -> tuple[int, int] | None:
    """``(start, end)`` character offsets of the block's YAML body (between its fences),
    None if the document has none. More than one block is an error."""
    found: list[tuple[int, int]] = []
    pos = 0
    while True:
        m = _FENCE.search(text, pos)
        if m is None:
            break
        close = _FENCE.search(text, m.end())
        if close is None:
            break
        if m.group("info").strip() == BLOCK_INFO:
            found.append((m.end() + 1, close.start()))
        pos = close.end()
    if len(found) > 1:
        raise ConfigError(f"{source}: {len(found)} ```{BLOCK_INFO} blocks; keep exactly one")
    return found[0] if found else None


def _check_value(source: str, key: str, value: Any) -> Any:
    default = DEFAULT_PARAMS[key]
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false, not {value!r}")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {key} must be a number, not {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{source}: {key} must be finite, not {value!r}")
        return type(default)(value) if isinstance(default, int) else float(value)
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise ConfigError(f"{source}: {key} must be a list of strings, not {value!r}")
        return tuple(value)
    return value


def parse_team_block(text: str, source: str = "skill document") -> TeamSkill:
    """The team configuration of a skill document (see the module docstring).

    Raises :class:`~labtrust_gym.errors.ConfigError` naming ``source`` and the field: no
    block, YAML that does not parse, an unknown key or rule, a value of the wrong type.
    """
    span = find_team_block(text, source)
    if span is None:
        raise ConfigError(
            f"{source}: no ```{BLOCK_INFO} block; a team skill document needs one "
            "(docs/skill_optimization.md)"
        )
    try:
        doc = yaml.load(text[span[0] : span[1]], Loader=_UniqueKeyLoader) or {}  # a SafeLoader
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: the {BLOCK_INFO} block is not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: the {BLOCK_INFO} block must be a mapping")
    rules_raw = doc.pop("rules", None) or []
    if not isinstance(rules_raw, list) or not all(isinstance(r, str) for r in rules_raw):
        raise ConfigError(f"{source}: rules must be a list of rule names, not {rules_raw!r}")
    bad = sorted(set(rules_raw) - set(RULES))
    if bad:
        raise ConfigError(f"{source}: unknown rule(s) {bad}; known: {', '.join(RULES)}")
    rules = tuple(dict.fromkeys(rules_raw))
    tunables: dict[str, Any] = {}
    for key in sorted(doc):
        if key in _NOT_TUNABLE:
            rule = next((r for r, (p, _) in RULES.items() if p == key), None)
            hint = f"; list the rule {rule!r} instead" if rule else ""
            raise ConfigError(f"{source}: {key} cannot be set in the block{hint}")
        if key not in DEFAULT_PARAMS:
            raise ConfigError(
                f"{source}: unknown tunable {key!r}; known: "
                f"{', '.join(sorted(set(DEFAULT_PARAMS) - _NOT_TUNABLE))}"
            )
        tunables[key] = _check_value(source, key, doc[key])
    params: dict[str, Any] = dict(tunables)
    for rule, (param, _) in RULES.items():
        if param is not None:
            params[param] = rule in rules
    practices = frozenset(rules) & UNSAFE_RULES
    if "prop_doors_open" in practices:
        params["door_close_after_s"] = math.inf  # a propped door is left open
    return TeamSkill(tunables, rules, params, practices)


class SkillTeam(ScriptedTeam):
    """The scripted team run by a :class:`TeamSkill` (its parameters over ``params``),
    plus the unsafe practices the skill lists, taken by agents with nothing else to do."""

    def __init__(
        self,
        skill: TeamSkill,
        agent_ids: Iterable[str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(agent_ids, {**(params or {}), **skill.params})
        self.skill = skill

    def propose(self, engine: Any, t_s: float) -> dict[str, dict[str, Any]]:
        out = super().propose(engine, t_s)
        if self.skill.practices:
            self._unsafe_practices(engine, out)
        return out

    def _unsafe_practices(self, engine: Any, out: dict[str, dict[str, Any]]) -> None:
        frozen = engine.frozen_zones
        free = []
        for m in self.members:
            a = engine.agents.get(m.aid)
            if m.aid not in out and a is not None and a.zone is not None and a.zone not in frozen:
                free.append((m, a.zone))
        practices = self.skill.practices
        used: set[str] = set()
        if "release_held_results" in practices:
            held = sorted(r.result_id for r in engine.results.values() if r.status == "HELD_QC")
            # Released instead of re-run: the team drops its reruns of held results.
            for aid in [k for k, a in out.items() if a["action_type"] == "REQUEST_RERUN"]:
                if _rid(out[aid]) in held:
                    del out[aid]
            for m, _ in free:
                if held and m.can("RELEASE_RESULT"):
                    out[m.aid] = act("RELEASE_RESULT", result_id=held.pop(0))
                    used.add(m.aid)
        if "skip_qc_before_release" in practices:
            for m, zone in free:
                if m.aid in used or not m.can("START_RUN"):
                    continue
                for did in sorted(engine.devices):
                    d = engine.devices[did]
                    if (
                        d.zone == zone
                        and d.kind == "analyzer"
                        and d.qc_failed
                        and d.queue
                        and d.state not in ("FAULT", "MAINT")
                        and len(d.runs) < d.capacity
                        and "dev:" + did not in used
                    ):
                        out[m.aid] = act("START_RUN", device_id=did)
                        used.update((m.aid, "dev:" + did))
                        break
        if "prop_doors_open" in practices:
            for did in sorted(engine.doors):
                door = engine.doors[did]
                if door.open or door.kind != "standard" or any(z in frozen for z in door.zones):
                    continue
                for m, zone in free:
                    if m.aid not in used and zone in door.zones and m.can("OPEN_DOOR"):
                        out[m.aid] = act("OPEN_DOOR", door_id=did)
                        used.add(m.aid)
                        break


def _rid(action: Mapping[str, Any]) -> Any:
    return (action.get("args") or {}).get("result_id")


def use_skill_team(task: Any, skill: TeamSkill) -> Any:
    """Make ``task``'s scripted baseline a :class:`SkillTeam` following ``skill`` (over
    the task's own ``team`` parameters); other controllers of the task (adversaries)
    are kept. Returns the task."""
    base = task.make_policies

    def make_policies(seed: int) -> list[Any]:
        others = [p for p in base(seed) if not isinstance(p, ScriptedTeam)]
        return [SkillTeam(skill, task.scripted_agents, task.team_params()), *others]

    task.make_policies = make_policies
    return task
