"""The ``offline`` backend: a deterministic stand-in model. It is a TEST DOUBLE.

It exists so that every LLM code path (prompts, validation, budgets, logs, cassettes,
the prompt-injection task) runs in CI without a server. It is not a language model and
not a baseline: it reads the JSON state at the end of the user message (the structured
part of the prompt, :data:`~labtrust_gym.llm.prompt.STATE_MARKER`), ignores the
playbook, and answers by a fixed rule.

* Agents (``allowed_actions`` in the state): the first allowed action by a fixed order of
  action types — safety first (clear a freeze, close a door, reject a held tube), then
  criticals, releases, repairs, reruns, runs, receipts, accessioning, QC, the audit
  check — else NOOP. It never moves, opens doors, picks up, drops off or dispatches.
* The transport dispatcher (``jobs`` in the state): jobs in the given order, each to the
  free runner with the least travel time that may take it.

Variants: ``resisting`` (the default) never reads ``free_text``. ``obedient`` first
looks in each ``free_text`` record for an instruction it can act on: an allowed action
whose verb occurs in the text (open, close, accept/approve/override, reject, release,
rerun, notify, acknowledge, start, queue, pick up, drop off, dispatch, receive) and whose
object is named in the text or is the record's ``ref``; it takes the first such action.
``invalid`` answers in prose with no JSON at all. Token counts are estimates (~4
characters a token); latency is zero.
"""

from __future__ import annotations

import json
import re
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.llm.backend import Backend, Outcome
from labtrust_gym.llm.exchange import LLMRequest, LLMResponse, estimate_tokens
from labtrust_gym.llm.prompt import STATE_MARKER

__all__ = ["OfflineBackend", "PREFERENCE", "read_state"]

#: Action types the resisting agent takes, best first.
PREFERENCE = (
    "CLEAR_FREEZE",
    "CLOSE_DOOR",
    "RESOLVE_HOLD",
    "ACK_CRITICAL",
    "NOTIFY_CRITICAL",
    "RELEASE_RESULT",
    "REPAIR_DEVICE",
    "REQUEST_RERUN",
    "START_RUN",
    "QUEUE_RUN",
    "RECEIVE_TRANSPORT",
    "ACCESSION",
    "RUN_QC",
    "VERIFY_AUDIT",
)
_RANK = {a: i for i, a in enumerate(PREFERENCE)}

_VERBS: dict[str, tuple[str, ...]] = {
    "OPEN_DOOR": ("open",),
    "CLOSE_DOOR": ("close",),
    "RESOLVE_HOLD ACCEPT": ("accept", "approve", "override"),
    "RESOLVE_HOLD REJECT": ("reject",),
    "RELEASE_RESULT": ("release",),
    "REQUEST_RERUN": ("rerun", "re-run"),
    "NOTIFY_CRITICAL": ("notify",),
    "ACK_CRITICAL": ("acknowledge",),
    "START_RUN": ("start",),
    "QUEUE_RUN": ("queue",),
    "PICK_UP": ("pick up", "collect"),
    "DROP_OFF": ("drop off",),
    "DISPATCH_TRANSPORT": ("dispatch", "send"),
    "RECEIVE_TRANSPORT": ("receive",),
    "CLEAR_FREEZE": ("unfreeze", "clear"),
    "MOVE": ("go to", "move to", "walk to"),
}
_WORD = re.compile(r"[A-Za-z0-9_]+")


def read_state(request: LLMRequest) -> dict[str, Any]:
    """The JSON state at the end of the request's last user message."""
    text = request.messages[-1]["content"]
    at = text.rfind(STATE_MARKER)
    if at < 0:
        raise ConfigError(
            f"offline backend: request {request.key[:16]} has no {STATE_MARKER!r} section; "
            "it only answers the prompts of labtrust_gym.llm.prompt"
        )
    start = text.index("{", at)
    state, _ = json.JSONDecoder().raw_decode(text, start)
    if not isinstance(state, dict):
        raise ConfigError(f"offline backend: request {request.key[:16]}: state is not an object")
    return state


def _kind(action_id: str) -> str:
    parts = action_id.split(" ")
    if parts[0] == "RESOLVE_HOLD" and len(parts) == 3:
        return f"RESOLVE_HOLD {parts[2]}"
    return parts[0]


def _obey(state: dict[str, Any]) -> str | None:
    allowed: list[str] = state["allowed_actions"]
    for rec in state.get("free_text", ()):
        text = str(rec.get("text", ""))
        low = text.lower()
        named = set(_WORD.findall(text)) | {str(rec.get("ref", ""))}
        for aid in allowed:
            verbs = _VERBS.get(_kind(aid))
            if not verbs or not any(v in low for v in verbs):
                continue
            parts = aid.split(" ")
            if len(parts) > 1 and parts[1] in named:
                return aid
    return None


def _agent_answer(state: dict[str, Any], obedient: bool) -> dict[str, str]:
    if obedient:
        hit = _obey(state)
        if hit is not None:
            return {"action": hit, "reason": "As instructed in the note."}
    best: tuple[int, int, str] | None = None
    for i, aid in enumerate(state["allowed_actions"]):
        kind = _kind(aid)
        if kind == "RESOLVE_HOLD ACCEPT":
            continue
        r = _RANK.get(kind.split(" ")[0])
        if r is not None and (best is None or (r, i) < best[:2]):
            best = (r, i, aid)
    if best is None:
        return {"action": "NOOP", "reason": "Nothing to do here."}
    return {"action": best[2], "reason": f"Highest-priority allowed action ({_kind(best[2])})."}


def _dispatch_answer(state: dict[str, Any]) -> dict[str, Any]:
    taken: set[str] = set()
    out = []
    for job in state["jobs"]:
        best: tuple[float, str] | None = None
        for r in state["runners"]:
            t = r.get("travel_s", {}).get(job["job_id"])
            if r["runner_id"] in taken or t is None:
                continue
            if best is None or (float(t), r["runner_id"]) < best:
                best = (float(t), r["runner_id"])
        if best is not None:
            taken.add(best[1])
            out.append({"runner": best[1], "job": job["job_id"]})
    return {"assignments": out, "reason": "Most urgent jobs first, nearest free runner."}


class OfflineBackend(Backend):
    """The test double of the module docstring; ``variant`` is resisting, obedient or
    invalid."""

    def __init__(self, variant: str = "resisting") -> None:
        self.variant = variant
        self.model = self.name = f"offline:{variant}"

    def complete(self, request: LLMRequest) -> Outcome:
        prompt = "".join(m["content"] for m in request.messages)
        if self.variant == "invalid":
            text = "I would rather not choose an action right now."
        else:
            state = read_state(request)
            if "allowed_actions" in state:
                ans: dict[str, Any] = _agent_answer(state, self.variant == "obedient")
            elif "jobs" in state:
                ans = _dispatch_answer(state)
            else:
                raise ConfigError(
                    f"offline backend: request {request.key[:16]}: state has neither "
                    "allowed_actions nor jobs"
                )
            text = json.dumps(ans, sort_keys=True)
        return LLMResponse(text, estimate_tokens(prompt), estimate_tokens(text), 0.0, "stop")
