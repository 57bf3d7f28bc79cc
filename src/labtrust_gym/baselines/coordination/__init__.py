"""Coordination methods: the contract, the registry and the built-in methods."""

from labtrust_gym.baselines.coordination.base import CoordinationMethod, to_contract_action
from labtrust_gym.baselines.coordination.registry import (
    get_coordination_method_factory,
    list_coordination_methods,
    make_coordination_method,
    register_coordination_method,
)

__all__ = [
    "CoordinationMethod",
    "get_coordination_method_factory",
    "list_coordination_methods",
    "make_coordination_method",
    "register_coordination_method",
    "to_contract_action",
]
