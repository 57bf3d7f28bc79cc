"""Proposers: what a cycle should try.

* :func:`propose_deterministic` works from the last evaluation of the champion (its
  selection episodes): the weakest task type (lowest mean score, ties by name) becomes
  the focus (its training episodes are collected more), and the reason codes seen on
  its episodes are the evidence. It proposes no edits itself: the rule library reflects
  on the collected training episodes in the train stage, and the rejected-edit buffer
  keeps refused edits out there.
* :func:`propose_llm` asks an LLM backend (any spec of ``labtrust_gym.llm``) for an
  advisory proposal: a focus task and skill edits as JSON. Every field is checked; a
  failed call, a timeout, a reply that is not the JSON asked for, an unknown task or an
  invalid edit gives ``None`` and a reason, and the caller falls back to the
  deterministic proposer with an ``llm_proposer_fallback`` event.
* :func:`scripted_proposals` turns a config's ``scripted_proposals`` into proposals
  (demos and red-team tests: they go through the constitution like any other).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from labtrust_gym.errors import ConfigError, LabTrustError
from labtrust_gym.improve.records import Proposal

__all__ = [
    "weakest_task",
    "reason_codes_of",
    "propose_deterministic",
    "propose_llm",
    "scripted_proposals",
    "LLM_SYSTEM",
]


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def weakest_task(
    results: Sequence[Mapping[str, Any]], task_types: Sequence[str], score_key: str = "score"
) -> str:
    """The task type with the lowest mean score on ``results`` (ties: the first by
    name; a task type without episodes is skipped)."""
    per: dict[str, list[float]] = {}
    for r in results:
        per.setdefault(str(r["task_type"]), []).append(float(r[score_key]))
    scored = [(_mean(per[t]), t) for t in sorted(task_types) if t in per]
    if not scored:
        return sorted(task_types)[0]
    return min(scored)[1]


def reason_codes_of(results: Sequence[Mapping[str, Any]], task_type: str) -> dict[str, int]:
    """Blocked-action and violation reason codes summed over ``task_type``'s episodes."""
    out: dict[str, int] = {}
    for r in results:
        if r["task_type"] != task_type:
            continue
        for key in ("reason_codes", "violation_reason_codes"):
            for code, n in (r.get(key) or {}).items():
                out[code] = out.get(code, 0) + int(n)
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def propose_deterministic(
    cycle: int,
    last_eval: Sequence[Mapping[str, Any]],
    task_types: Sequence[str],
    *,
    method: str,
    collect_episodes: int,
    rejected: Collection[tuple[str, str, str]] = (),
) -> Proposal:
    """The deterministic proposal of ``cycle`` (see the module docstring).
    ``last_eval``: the champion's selection episodes with a ``score`` each."""
    focus = weakest_task(last_eval, task_types)
    codes = reason_codes_of(last_eval, focus)
    scores = [float(r["score"]) for r in last_eval if r["task_type"] == focus]
    top = ", ".join(f"{c} x{n}" for c, n in list(codes.items())[:5]) or "none"
    return Proposal(
        cycle,
        "deterministic",
        focus,
        method,
        collect_episodes,
        reason_codes=dict(list(codes.items())[:10]),
        rationale=(
            f"weakest task {focus} (mean selection score {_mean(scores):.4f}); reason codes "
            f"{top}; {len(rejected)} edit(s) in the rejected buffer stay excluded"
        ),
        name="weakest-task",
    )


LLM_SYSTEM = (
    "You propose the next experiment of a lab team's skill optimizer. Reply with one JSON "
    'object only: {"focus_task": one of the task types given, "edits": a list of at most '
    'N edits {"op": "replace"|"insert_after"|"append"|"delete", "target": exact text of '
    'the skill, "content": new text}, "rationale": one sentence}. Never edit text between '
    "labtrust:protected markers and never repeat a rejected edit."
)


def propose_llm(
    backend: Any,
    cycle: int,
    *,
    skill_text: str,
    last_eval: Sequence[Mapping[str, Any]],
    task_types: Sequence[str],
    method: str,
    collect_episodes: int,
    rejected: Collection[tuple[str, str, str]],
    max_edits: int,
    max_tokens: int = 1024,
) -> tuple[Proposal | None, str, dict[str, int]]:
    """``(proposal, why, usage)``: the proposal, or None with why it was not usable;
    ``usage``: ``{calls, tokens}`` spent (for the constitution's LLM budget)."""
    from labtrust_gym.llm.exchange import CallFailure, LLMRequest
    from labtrust_gym.llm.reply import extract_json
    from labtrust_gym.skillopt.document import apply_edit, check_protected
    from labtrust_gym.skillopt.types import Edit

    per: dict[str, list[float]] = {}
    for r in last_eval:
        per.setdefault(str(r["task_type"]), []).append(float(r["score"]))
    user = json.dumps(
        {
            "task_types": list(task_types),
            "mean_selection_score": {t: round(_mean(v), 4) for t, v in sorted(per.items())},
            "reason_codes": {t: reason_codes_of(last_eval, t) for t in sorted(per)},
            "rejected_edits": [list(k) for k in sorted(rejected)][:20],
            "max_edits": max_edits,
            "skill": skill_text,
        },
        sort_keys=True,
    )
    req = LLMRequest(
        backend.model or backend.name,
        (
            {"role": "system", "content": LLM_SYSTEM.replace("N edits", f"{max_edits} edits")},
            {"role": "user", "content": user},
        ),
        {"temperature": 0.0, "max_tokens": int(max_tokens)},
        label=f"improve proposer cycle {cycle}",
    )
    usage = {"calls": 1, "tokens": 0}
    try:
        out = backend.complete(req)
    except (LabTrustError, ValueError) as exc:
        return None, f"backend error: {exc}", usage
    if isinstance(out, CallFailure):
        return None, f"call failed: {out.code} {out.detail}"[:300], usage
    usage["tokens"] = int(out.tokens_in) + int(out.tokens_out)
    check = extract_json(out.text)
    doc = check.value if check.ok else None
    if not isinstance(doc, dict):
        return None, f"reply is not a JSON object ({check.error or 'not an object'})", usage
    focus = doc.get("focus_task")
    if focus not in task_types:
        return None, f"focus_task {focus!r} is not one of {list(task_types)}", usage
    raw_edits = doc.get("edits", [])
    if not isinstance(raw_edits, list) or len(raw_edits) > max_edits:
        return None, f"edits must be a list of at most {max_edits}", usage
    edits: list[dict[str, Any]] = []
    for i, d in enumerate(raw_edits):
        try:
            e = Edit.from_dict(d)
        except ConfigError as exc:
            return None, f"edit {i}: {exc}", usage
        if e.key in rejected:
            return None, f"edit {i} repeats a rejected edit", usage
        new_text, rep = apply_edit(skill_text, e)
        if rep["status"] != "applied":
            return None, f"edit {i} does not apply: {rep.get('reason', '')}", usage
        if check_protected(skill_text, new_text) is not None:
            return None, f"edit {i} changes a protected region", usage
        edits.append({"file": "skill", "op": e.op, "target": e.target, "content": e.content})
    return (
        Proposal(
            cycle,
            "llm",
            str(focus),
            method,
            collect_episodes,
            tuple(edits),
            rationale=str(doc.get("rationale", ""))[:500],
            name="llm",
        ),
        "ok",
        usage,
    )


def scripted_proposals(
    entries: Sequence[Mapping[str, Any]],
    cycle: int,
    *,
    focus_task: str,
    method: str,
    collect_episodes: int,
) -> list[Proposal]:
    """The config's scripted proposals for ``cycle``, in config order."""
    out = []
    for i, p in enumerate(entries):
        if int(p["cycle"]) != cycle:
            continue
        out.append(
            Proposal(
                cycle,
                "scripted",
                focus_task,
                method,
                int(p.get("collect_episodes", collect_episodes)),
                tuple(
                    {
                        "file": str(e.get("file", "skill")),
                        **{k: v for k, v in e.items() if k != "file"},
                    }
                    for e in p.get("edits") or ()
                ),
                tuple(int(s) for s in p.get("train_seeds") or ()),
                rationale=str(p.get("rationale", "")),
                name=str(p.get("name", f"scripted-{i}")),
            )
        )
    return out
