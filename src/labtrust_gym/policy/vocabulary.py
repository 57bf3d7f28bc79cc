"""The engine's action vocabulary (policy-layer data: the validator checks RBAC, tokens
and invariant triggers against it; :mod:`labtrust_gym.engine.action_types` re-exports it)."""

from __future__ import annotations

__all__ = ["ACTION_TYPES", "MUTATING_ACTION_TYPES", "NON_MUTATING_ACTION_TYPES", "CLOCK_TRIGGER"]

#: Every action type the engine accepts; anything else is BLOCKED with ARGS_UNKNOWN_ACTION.
ACTION_TYPES: tuple[str, ...] = (
    "NOOP",
    "TICK",
    "MOVE",
    "OPEN_DOOR",
    "CLOSE_DOOR",
    "ACCESSION",
    "RESOLVE_HOLD",
    "PICK_UP",
    "DROP_OFF",
    "QUEUE_RUN",
    "START_RUN",
    "REQUEST_RERUN",
    "RELEASE_RESULT",
    "RUN_QC",
    "CALIBRATE",
    "REPAIR_DEVICE",
    "RESTOCK_REAGENT",
    "NOTIFY_CRITICAL",
    "ACK_CRITICAL",
    "SET_DOWNTIME",
    "DISPATCH_TRANSPORT",
    "RECEIVE_TRANSPORT",
    "ISSUE_TOKEN",
    "REVOKE_TOKEN",
    "REVOKE_KEY",
    "CLEAR_FREEZE",
    "VERIFY_AUDIT",
)

NON_MUTATING_ACTION_TYPES: frozenset[str] = frozenset({"NOOP", "TICK", "VERIFY_AUDIT"})
MUTATING_ACTION_TYPES: frozenset[str] = frozenset(ACTION_TYPES) - NON_MUTATING_ACTION_TYPES

#: Pseudo action type of invariants evaluated whenever the clock advanced.
CLOCK_TRIGGER = "CLOCK"
