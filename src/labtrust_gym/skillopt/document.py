"""Skill documents: loading, protected regions, and applying edits with a report.

A team skill document is a Markdown playbook (artifact kind ``skills``) with one
``yaml labtrust-team`` block (:mod:`labtrust_gym.baselines.skill_team`) and protected
regions: text between ``<!-- labtrust:protected begin ID -->`` and
``<!-- labtrust:protected end ID -->``. The safety rules live there.

Edits follow SkillOpt's semantics (``append``, ``insert_after``, ``replace``,
``delete``; text targets, first occurrence) with one difference: nothing may change a
protected region. An edit whose target lies in one, or whose content carries a protected
marker, is skipped with the reason; ``append`` goes before the first protected region
only if the document ends inside one (never the case for a well-formed document), and
after a candidate is built :func:`check_protected` compares its regions with the seed's
byte for byte. A candidate whose block no longer parses is rejected the same way
(:func:`apply_patch` reports it and returns the document unchanged).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from labtrust_gym.baselines.skill_team import TeamSkill, parse_team_block
from labtrust_gym.errors import ConfigError
from labtrust_gym.skillopt.types import Edit

__all__ = [
    "PROTECTED_BEGIN",
    "PROTECTED_END",
    "SkillDoc",
    "load_skill",
    "skill_hash",
    "protected_regions",
    "check_protected",
    "apply_edit",
    "apply_patch",
]

PROTECTED_BEGIN = "<!-- labtrust:protected begin {id} -->"
PROTECTED_END = "<!-- labtrust:protected end {id} -->"
_MARK = re.compile(r"<!--\s*labtrust:protected\s+(begin|end)\s+([A-Za-z0-9_.-]+)\s*-->")


def skill_hash(text: str) -> str:
    """The content hash of a skill version (SHA-256 of its UTF-8 text, first 16 hex)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def protected_regions(text: str, source: str = "skill document") -> dict[str, tuple[int, int]]:
    """``{id: (start, end)}``: character spans of the protected regions, markers included.

    Raises ConfigError for an unbalanced, nested or duplicated marker."""
    out: dict[str, tuple[int, int]] = {}
    open_id: str | None = None
    open_at = 0
    for m in _MARK.finditer(text):
        kind, rid = m.group(1), m.group(2)
        if kind == "begin":
            if open_id is not None:
                raise ConfigError(f"{source}: protected region {rid!r} opens inside {open_id!r}")
            if rid in out:
                raise ConfigError(f"{source}: protected region {rid!r} appears twice")
            open_id, open_at = rid, m.start()
        else:
            if open_id != rid:
                raise ConfigError(
                    f"{source}: protected region end {rid!r} without its begin marker"
                )
            out[rid] = (open_at, m.end())
            open_id = None
    if open_id is not None:
        raise ConfigError(f"{source}: protected region {open_id!r} is never closed")
    return out


def _region_texts(text: str, source: str) -> dict[str, str]:
    return {rid: text[a:b] for rid, (a, b) in protected_regions(text, source).items()}


def check_protected(reference: str, candidate: str) -> str | None:
    """None when ``candidate`` has exactly ``reference``'s protected regions, unchanged;
    else what differs (one sentence)."""
    try:
        ref = _region_texts(reference, "reference skill")
        cand = _region_texts(candidate, "candidate skill")
    except ConfigError as exc:
        return str(exc)
    if set(ref) != set(cand):
        return f"protected regions {sorted(ref)} became {sorted(cand)}"
    for rid in sorted(ref):
        if ref[rid] != cand[rid]:
            return f"protected region {rid!r} was changed"
    return None


@dataclass(frozen=True)
class SkillDoc:
    """A loaded team skill: ``name`` (artifact name or file name), ``text``, its hash and
    parsed team block."""

    name: str
    text: str
    sha: str
    team: TeamSkill

    @classmethod
    def from_text(cls, text: str, name: str = "skill") -> SkillDoc:
        protected_regions(text, name)
        return cls(name, text, skill_hash(text), parse_team_block(text, name))


def load_skill(ref: str) -> SkillDoc:
    """A team skill by ``skills`` artifact name or by path (like playbooks, see
    :func:`labtrust_gym.llm.load_playbook`); its block must parse."""
    from labtrust_gym.llm.playbook import load_playbook

    pb = load_playbook(ref)
    return SkillDoc.from_text(pb.text, pb.name)


def _in_protected(spans: Iterable[tuple[int, int]], at: int) -> bool:
    return any(a <= at < b for a, b in spans)


def apply_edit(text: str, edit: Edit) -> tuple[str, dict[str, Any]]:
    """Apply one edit; returns the new text and a report ``{op, target, content,
    status, reason}`` (``status``: ``applied`` or ``skipped``)."""
    report: dict[str, Any] = {
        "op": edit.op,
        "target": edit.target[:200],
        "content": edit.content[:200],
        "support_count": edit.support_count,
    }

    def skip(reason: str) -> tuple[str, dict[str, Any]]:
        report.update(status="skipped", reason=reason)
        return text, report

    spans = list(protected_regions(text).values())
    content = edit.content.strip()
    if _MARK.search(edit.content) or _MARK.search(edit.target):
        return skip("touches a protected-region marker")
    if edit.op == "append":
        if not content:
            return skip("empty content")
        report.update(status="applied", reason="appended at the end")
        return text.rstrip() + "\n\n" + content + "\n", report
    if not edit.target:
        if edit.op == "insert_after":
            return skip("insert_after needs a target")
        return skip(f"{edit.op} needs a target")
    at = text.find(edit.target)
    if at < 0:
        return skip("target not found")
    end = at + len(edit.target)
    if (
        _in_protected(spans, at)
        or _in_protected(spans, end - 1)
        or any(at < a < end for a, _ in spans)
    ):
        return skip("target lies in a protected region")
    if edit.op == "insert_after":
        if not content:
            return skip("empty content")
        nl = text.find("\n", end)
        pos = nl + 1 if nl >= 0 else len(text)
        if _in_protected(spans, pos) and pos != len(text):
            return skip("insertion point lies in a protected region")
        report.update(status="applied", reason="inserted after the target's line")
        ins = content + "\n" if nl >= 0 else "\n" + content + "\n"
        return text[:pos] + ins + text[pos:], report
    if edit.op == "replace":
        report.update(status="applied", reason="replaced the first occurrence")
        return text[:at] + edit.content + text[end:], report
    report.update(status="applied", reason="deleted the first occurrence")
    # Deleting a whole line leaves no blank line behind.
    if (at == 0 or text[at - 1] == "\n") and text[end : end + 1] == "\n":
        end += 1
    return text[:at] + text[end:], report


def apply_patch(
    text: str, edits: Iterable[Edit], *, reference: str | None = None, source: str = "candidate"
) -> tuple[str, list[dict[str, Any]]]:
    """Apply ``edits`` in order, each checked on its own: an edit that would leave the
    team block unparsable, or (with ``reference``) change a protected region, is skipped
    with the reason and the next one applies to the text before it. Returns the new
    text and one report per edit (with ``index``)."""
    reports: list[dict[str, Any]] = []
    for i, edit in enumerate(edits, 1):
        new, rep = apply_edit(text, edit)
        if rep["status"] == "applied" and new != text:
            problem = check_protected(reference, new) if reference is not None else None
            if problem is None:
                try:
                    parse_team_block(new, source)
                except ConfigError as exc:
                    problem = f"the team block would not parse: {exc}"
            if problem is not None:
                rep.update(status="skipped", reason=problem)
                new = text
        elif rep["status"] == "applied":
            rep.update(status="skipped", reason="no change")
        rep["index"] = i
        reports.append(rep)
        text = new
    return text, reports


def edits_from_dicts(raw: Iterable[Mapping[str, Any]]) -> list[Edit]:
    """Edits from plain dicts (a patch's ``edits``), each validated."""
    return [Edit.from_dict(d) for d in raw]
