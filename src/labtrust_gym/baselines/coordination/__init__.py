"""Coordination methods: the contract, the registry and the built-in methods.

Built-ins (one module each): ``scripted_team``, ``centralized_planner``
(:mod:`.centralized`), ``whca_router`` (:mod:`.whca`), ``market_auction`` (:mod:`.market`),
``hierarchical_hub`` (:mod:`.hierarchical`), ``gossip_consensus`` (:mod:`.gossip`) and
``swarm_stigmergy`` (:mod:`.swarm`); they share the role skills through
:class:`~labtrust_gym.baselines.coordination.team_method.TeamMethod`.
"""

from labtrust_gym.baselines.coordination.base import CoordinationMethod, to_contract_action
from labtrust_gym.baselines.coordination.registry import (
    BUILTIN_METHODS,
    get_coordination_method_factory,
    list_coordination_methods,
    load_catalogue,
    make_coordination_method,
    register_coordination_method,
)
from labtrust_gym.baselines.coordination.team_method import TeamMethod

__all__ = [
    "BUILTIN_METHODS",
    "CoordinationMethod",
    "TeamMethod",
    "get_coordination_method_factory",
    "list_coordination_methods",
    "load_catalogue",
    "make_coordination_method",
    "register_coordination_method",
    "to_contract_action",
]
