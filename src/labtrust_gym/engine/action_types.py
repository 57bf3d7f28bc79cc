"""The engine's action vocabulary (defined with the policy data it is checked against,
in :mod:`labtrust_gym.policy.vocabulary`, so the policy validator does not import the
engine)."""

from __future__ import annotations

from labtrust_gym.policy.vocabulary import (
    ACTION_TYPES,
    CLOCK_TRIGGER,
    MUTATING_ACTION_TYPES,
    NON_MUTATING_ACTION_TYPES,
)

__all__ = ["ACTION_TYPES", "MUTATING_ACTION_TYPES", "NON_MUTATING_ACTION_TYPES", "CLOCK_TRIGGER"]
