"""The lab engine: world state, actions, trust skeleton and audit chain."""

from labtrust_gym.engine.action_types import ACTION_TYPES
from labtrust_gym.engine.actions_results import critical_readback
from labtrust_gym.engine.audit_log import AuditLog
from labtrust_gym.engine.core_env import LabEngine
from labtrust_gym.engine.signatures import KeyRegistry, sign_event

__all__ = [
    "ACTION_TYPES",
    "AuditLog",
    "KeyRegistry",
    "LabEngine",
    "critical_readback",
    "sign_event",
]
