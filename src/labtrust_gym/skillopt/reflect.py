"""Reflect: rollout results -> raw patches (SkillOpt's ``{"patch": {"edits": [...]},
"source_type": ...}``).

Two reflectors:

* :func:`rule_reflect`, deterministic: a rule library maps metric breaches and reason
  codes of the episodes to edits of the team block, each with ``support_count`` = the
  number of episodes that called for it (:data:`RULE_LIBRARY` lists them: late STAT ->
  the STAT rules; QC detected late or results wrongly released -> patient-based QC and a
  shorter QC interval; a stock-out -> restock, a larger restock margin; turnaround
  breaches -> spin sooner; and safety repairs: a propped door, a release of a held
  result or a run on a QC-failed analyzer -> delete the practice that caused it).
* :func:`llm_reflect`: the same results and the skill sent to an LLM backend
  (:mod:`labtrust_gym.llm`) asking for SkillOpt's patch JSON; every edit is validated
  (it must parse as an :class:`~labtrust_gym.skillopt.types.Edit` and apply to the skill
  without touching a protected region or breaking the block). A failed call, a reply that
  is not the patch JSON, or no valid edit falls back to the rules, with an event.

Both skip edits already rejected by the gate (``rejected``: the buffer of rejected edit
keys), so the next step proposes something else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labtrust_gym.baselines.skill_team import find_team_block, parse_team_block
from labtrust_gym.errors import ConfigError, LabTrustError
from labtrust_gym.skillopt.types import Edit, Patch

__all__ = ["Rule", "RULE_LIBRARY", "rule_reflect", "llm_reflect", "REFLECT_PROMPT"]

Result = Mapping[str, Any]


def _m(r: Result, k: str) -> float | None:
    v = (r.get("metrics") or {}).get(k)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _codes(r: Result) -> set[str]:
    return set(r.get("reason_codes") or {}) | set(r.get("violation_reason_codes") or {})


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


class _Block:
    """The team block of a skill text: where it is, its lines, its parsed values."""

    def __init__(self, text: str) -> None:
        span = find_team_block(text)
        if span is None:
            raise ConfigError("skill has no team block")
        self.text = text
        self.start, self.end = span
        self.team = parse_team_block(text)
        self._rules_line_added = False

    def line(self, key: str) -> str | None:
        """The block's line ``key: value`` exactly as written (None: not set)."""
        m = re.search(rf"(?m)^{re.escape(key)}:[^\n]*$", self.text[self.start : self.end])
        return m.group(0) if m else None

    def first_in_block(self, needle: str) -> bool:
        at = self.text.find(needle)
        return self.start <= at < self.end

    def add_rule(self, rule: str) -> Edit | None:
        if rule in self.team.rules:
            return None
        if self.line("rules") is not None and self.first_in_block("rules:"):
            return Edit("insert_after", f"- {rule}", "rules:")
        if self.line("rules") is None:
            if self._rules_line_added:  # applies once the edit adding `rules:` did
                return Edit("insert_after", f"- {rule}", "rules:")
            last = self.text[self.start : self.end].rstrip("\n").rsplit("\n", 1)[-1]
            if last and self.first_in_block(last):
                self._rules_line_added = True
                return Edit("insert_after", f"rules:\n- {rule}", last)
        return None

    def drop_rule(self, rule: str) -> Edit | None:
        needle = f"- {rule}"
        if rule in self.team.rules and self.first_in_block(needle):
            return Edit("delete", "", needle)
        return None

    def set_value(self, key: str, value: float) -> Edit | None:
        line = self.line(key)
        new = f"{key}: {_fmt(value)}"
        if line is None:
            anchor = self.text[self.start : self.end].split("\n", 1)[0]
            return (
                Edit("insert_after", new, anchor)
                if anchor and self.first_in_block(anchor)
                else None
            )
        if line.strip() == new or not self.first_in_block(line):
            return None
        return Edit("replace", new, line)

    def value(self, key: str) -> float:
        from labtrust_gym.baselines.scripted.team import DEFAULT_PARAMS

        return float(self.team.params.get(key, DEFAULT_PARAMS[key]))


@dataclass(frozen=True)
class Rule:
    """One entry of the rule library: ``name``, when an episode calls for it
    (``applies``), and the edits it proposes on the current block (``edits``)."""

    name: str
    description: str
    applies: Callable[[Result], bool]
    edits: Callable[[_Block], list[Edit | None]]


def _late_stat(r: Result) -> bool:
    stat = _m(r, "stat_on_time_rate")
    acute = _m(r, "acute_stat_tat_p50_s")
    return (stat is not None and stat < 0.9) or (acute is not None and acute > 1200)


def _late_qc(r: Result) -> bool:
    delay, wrong = _m(r, "detection_delay_s"), _m(r, "wrongly_released")
    return (delay is not None and delay > 600) or (wrong is not None and wrong > 0)


def _stockout(r: Result) -> bool:
    s, held = _m(r, "stockout_s"), _m(r, "runs_held_for_reagent")
    return (
        (s is not None and s > 120)
        or (held is not None and held > 0)
        or bool(_codes(r) & {"REAGENT_STOCKOUT", "REAGENT_BELOW_REORDER"})
    )


def _late_results(r: Result) -> bool:
    otr = _m(r, "on_time_rate")
    return otr is not None and otr < 0.95 and not _late_stat(r)


RULE_LIBRARY: tuple[Rule, ...] = (
    Rule(
        "late_stat",
        "STAT results late -> STAT tactics, then a centrifuge reserved for STAT",
        _late_stat,
        lambda b: [b.add_rule("stat_first"), b.add_rule("reserve_centrifuge_for_stat")],
    ),
    Rule(
        "late_qc",
        "QC detected a drift late or drifted results were released -> patient-based QC, "
        "then a shorter QC interval (halved, not below 600 s)",
        _late_qc,
        lambda b: [
            b.add_rule("patient_based_qc"),
            b.set_value("qc_interval_s", max(600.0, b.value("qc_interval_s") / 2))
            if b.value("qc_interval_s") > 600
            else None,
        ],
    ),
    Rule(
        "stockout",
        "a reagent ran out or fell below its reorder level -> restock, a larger restock "
        "margin (+2 runs, up to 4)",
        _stockout,
        lambda b: [
            b.add_rule("restock"),
            b.set_value("restock_margin_runs", min(4.0, b.value("restock_margin_runs") + 2))
            if b.value("restock_margin_runs") < 4
            else None,
        ],
    ),
    Rule(
        "late_results",
        "results late without a STAT cause -> spin centrifuges sooner (wait halved, not "
        "below 20 s)",
        _late_results,
        lambda b: [
            b.set_value("centrifuge_max_wait_s", max(20.0, b.value("centrifuge_max_wait_s") / 2))
            if b.value("centrifuge_max_wait_s") > 20
            else None
        ],
    ),
    Rule(
        "propped_door",
        "a door stayed open too long -> delete the practice of propping doors open",
        lambda r: "DOOR_OPEN_TOO_LONG" in _codes(r),
        lambda b: [b.drop_rule("prop_doors_open")],
    ),
    Rule(
        "held_release",
        "a release of a QC-held result was blocked -> delete the practice",
        lambda r: "QC_HOLD_ACTIVE" in _codes(r),
        lambda b: [b.drop_rule("release_held_results")],
    ),
    Rule(
        "run_on_failed_qc",
        "a run started on an analyzer failing QC -> delete the practice",
        lambda r: "QC_RUN_ON_FAILED_DEVICE" in _codes(r),
        lambda b: [b.drop_rule("skip_qc_before_release")],
    ),
)


def rule_reflect(
    results: Sequence[Result],
    skill_text: str,
    rejected: Collection[tuple[str, str, str]] = (),
) -> list[dict[str, Any]]:
    """Raw patches from the rule library: one failure patch (edits called for by failed
    episodes) and one success patch (by episodes that passed yet breached a rule), each
    edit with its ``support_count``; none when nothing applies. Edits whose key is in
    ``rejected`` are left out (the patch's ``reasoning`` says how many)."""
    block = _Block(skill_text)
    out = []
    for source in ("failure", "success"):
        eps = [r for r in results if bool(r.get("hard")) == (source == "success")]
        edits: dict[tuple[str, str, str], Edit] = {}
        names: dict[tuple[str, str, str], str] = {}
        suppressed = 0
        for rule in RULE_LIBRARY:
            support = sum(1 for r in eps if rule.applies(r))
            if not support:
                continue
            for e in rule.edits(block):
                if e is None:
                    continue
                if e.key in rejected:
                    suppressed += 1
                    continue
                prev = edits.get(e.key)
                n = support + ((prev.support_count or 0) if prev else 0)
                edits[e.key] = Edit(e.op, e.content, e.target, n, source)
                names[e.key] = rule.name
        if edits:
            why = sorted(set(names.values()))
            reasoning = f"rules: {', '.join(why)}"
            if suppressed:
                reasoning += f"; {suppressed} edit(s) left out (rejected before)"
            out.append(
                {"patch": Patch(list(edits.values()), reasoning).to_dict(), "source_type": source}
            )
    return out


REFLECT_PROMPT = """You improve the team playbook of a hospital pathology lab.
The playbook's `yaml labtrust-team` block configures the team: tunables (scripted-team
parameters) and `rules` (named practices, one `- name` per line). Read the episode
results below (which failed, why, their reason codes) and propose edits to the playbook.

Answer with one JSON object and nothing else:
{"reasoning": "...", "edits": [{"op": "append|insert_after|replace|delete",
  "target": "exact text of the playbook", "content": "new text"}]}

Rules: `target` must be copied exactly from the playbook; never touch the protected
safety section; keep the block valid YAML (one `key: value` or `- rule` per line); at
most {budget} edits. Known rules: {rules}. Do not propose these rejected edits again:
{rejected}
"""


def _summary(results: Sequence[Result]) -> list[dict[str, Any]]:
    return [
        {
            "id": r.get("id"),
            "hard": r.get("hard"),
            "soft": r.get("soft"),
            "fail_reason": r.get("fail_reason", ""),
            "reason_codes": r.get("reason_codes") or {},
            "violation_reason_codes": r.get("violation_reason_codes") or {},
            "metrics": r.get("metrics") or {},
        }
        for r in results
    ]


def llm_reflect(
    results: Sequence[Result],
    skill_text: str,
    backend: Any,
    *,
    rejected: Collection[tuple[str, str, str]] = (),
    budget: int = 4,
    reference: str | None = None,
    events: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Raw patches from an LLM backend (see the module docstring); on any failure the
    rule library's, and an event ``{"event": "llm_reflect_fallback", "reason": ...}`` is
    appended to ``events``."""
    from labtrust_gym.baselines.skill_team import RULES
    from labtrust_gym.llm.exchange import CallFailure, LLMRequest
    from labtrust_gym.llm.reply import extract_json
    from labtrust_gym.skillopt.document import apply_edit, check_protected

    def fallback(reason: str) -> list[dict[str, Any]]:
        if events is not None:
            events.append({"event": "llm_reflect_fallback", "reason": reason[:300]})
        return rule_reflect(results, skill_text, rejected)

    system = (
        REFLECT_PROMPT.replace("{budget}", str(budget))
        .replace("{rules}", ", ".join(RULES))
        .replace("{rejected}", json.dumps([list(k) for k in sorted(rejected)]) or "[]")
    )
    user = (
        "## Playbook\n"
        + skill_text
        + "\n\n## Episode results\n"
        + json.dumps(_summary(results), sort_keys=True)
    )
    req = LLMRequest(
        backend.model or backend.name,
        ({"role": "system", "content": system}, {"role": "user", "content": user}),
        {"temperature": 0.0, "max_tokens": 2048},
        label="skillopt reflect",
    )
    try:
        out = backend.complete(req)
    except (LabTrustError, ValueError) as exc:
        return fallback(f"backend error: {exc}")
    if isinstance(out, CallFailure):
        return fallback(f"call failed: {out.code} {out.detail}")
    check = extract_json(out.text)
    doc = check.value if check.ok else None
    if not isinstance(doc, dict) or not isinstance(doc.get("edits"), list):
        return fallback("the reply is not a patch object with an edits list")
    valid: list[Edit] = []
    problems = []
    failed = any(not r.get("hard") for r in results)
    for i, raw in enumerate(doc["edits"][: max(1, budget)]):
        try:
            e = Edit.from_dict(raw)
        except (ConfigError, TypeError, ValueError) as exc:
            problems.append(f"edit {i}: {exc}")
            continue
        if e.key in rejected:
            problems.append(f"edit {i}: rejected before")
            continue
        new, rep = apply_edit(skill_text, e)
        if rep["status"] != "applied":
            problems.append(f"edit {i}: {rep['reason']}")
            continue
        problem = check_protected(reference or skill_text, new)
        if problem is None:
            try:
                parse_team_block(new)
            except ConfigError as exc:
                problem = f"block would not parse ({exc})"
        if problem is not None:
            problems.append(f"edit {i}: {problem}")
            continue
        valid.append(
            Edit(e.op, e.content, e.target, len(results), "failure" if failed else "success")
        )
    if not valid:
        return fallback(
            "no valid edit in the reply" + (f" ({'; '.join(problems)})" if problems else "")
        )
    if problems and events is not None:
        events.append({"event": "llm_reflect_dropped_edits", "problems": problems[:10]})
    patch = Patch(valid, str(doc.get("reasoning", ""))[:2000])
    return [{"patch": patch.to_dict(), "source_type": "failure" if failed else "success"}]
