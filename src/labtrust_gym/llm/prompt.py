"""The prompt format (stable: playbook writers rely on it; see docs/llm_agents.md).

Two messages:

* **system** — the playbook, verbatim;
* **user** — one line saying who decides and how to answer, then the line
  ``### State (JSON)`` and one JSON object: for an agent ``{"view", "free_text",
  "allowed_actions", "output_schema"}``; for the transport dispatcher ``{"site", "t_s",
  "runners", "jobs", "output_schema"}``. The state is the last thing in the message.

Free text written by people outside the team (order comments, specimen labels, courier
notes) appears only inside ``free_text`` as ``{"ref", "field", "text"}`` records, never
mixed into the instructions.

Request parameters: ``temperature``, ``max_tokens`` and, by ``response_format``, a strict
JSON schema (``json_schema``: the allowed actions as an ``enum``), JSON mode
(``json_object``) or nothing (``none``).
"""

from __future__ import annotations

from typing import Any

import orjson

from labtrust_gym.llm.exchange import LLMRequest

__all__ = [
    "STATE_MARKER",
    "agent_output_schema",
    "agent_request",
    "dispatcher_output_schema",
    "make_request",
]

STATE_MARKER = "### State (JSON)"

_AGENT_LINE = (
    "You are agent {agent} ({role}). Choose your next action. Answer with one JSON object "
    "matching output_schema: 'action' is one entry of allowed_actions, copied exactly; "
    "'reason' is one short sentence."
)


def agent_output_schema(allowed: list[str] | None = None) -> dict[str, Any]:
    """The reply schema of an agent; with ``allowed`` the action is an ``enum`` of it
    (sent to servers), without it the prompt's compact form."""
    action: dict[str, Any] = {"type": "string"}
    if allowed is not None:
        action["enum"] = list(allowed)
    else:
        action["description"] = "one entry of allowed_actions"
    return {
        "type": "object",
        "properties": {"action": action, "reason": {"type": "string"}},
        "required": ["action", "reason"],
        "additionalProperties": False,
    }


def dispatcher_output_schema() -> dict[str, Any]:
    pair = {
        "type": "object",
        "properties": {"runner": {"type": "string"}, "job": {"type": "string"}},
        "required": ["runner", "job"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "assignments": {"type": "array", "items": pair},
            "reason": {"type": "string"},
        },
        "required": ["assignments", "reason"],
        "additionalProperties": False,
    }


def _response_format(mode: str, name: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": True},
        }
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def make_request(
    *,
    model: str,
    playbook: str,
    instruction: str,
    state: dict[str, Any],
    schema_name: str,
    schema: dict[str, Any],
    config: Any,
    label: str,
) -> LLMRequest:
    """A request in the format of the module docstring (``config``: an LLMConfig)."""
    user = f"{instruction}\n{STATE_MARKER}\n" + orjson.dumps(state).decode("utf-8")
    params: dict[str, Any] = {
        "temperature": float(config.temperature),
        "max_tokens": int(config.max_output_tokens),
    }
    fmt = _response_format(config.response_format, schema_name, schema)
    if fmt is not None:
        params["response_format"] = fmt
    return LLMRequest(
        model=model,
        messages=({"role": "system", "content": playbook}, {"role": "user", "content": user}),
        params=params,
        label=label,
    )


def agent_request(
    *,
    model: str,
    playbook: str,
    agent_id: str,
    role: str,
    view: dict[str, Any],
    free_text: list[dict[str, str]],
    allowed: list[str],
    config: Any,
    label: str,
) -> LLMRequest:
    state = {
        "view": view,
        "free_text": free_text,
        "allowed_actions": allowed,
        "output_schema": agent_output_schema(),
    }
    return make_request(
        model=model,
        playbook=playbook,
        instruction=_AGENT_LINE.format(agent=agent_id, role=role),
        state=state,
        schema_name="agent_action",
        schema=agent_output_schema(allowed),
        config=config,
        label=label,
    )
