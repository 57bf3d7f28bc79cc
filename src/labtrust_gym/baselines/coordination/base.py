"""The CoordinationMethod contract.

A coordination method decides, each step, the actions of the agents it coordinates:
``propose_actions(obs, infos, t) -> {agent_id: {"action_index": 0..5, "action_info": {...}}}``
with the reference indices NOOP, TICK, QUEUE_RUN, MOVE, OPEN_DOOR, START_RUN; any other
engine action goes in ``action_info["action_type"]`` with its ``args``. ``reset(seed,
policy, scale_config)`` starts an episode; ``on_step_results`` and ``on_episode_end`` are
optional hooks. A method may read the engine's state through ``attach(env)`` (read-only):
the lab as its agents observe it. What its agents tell each other goes through the
episode's signed bus, ``method.bus`` (set by the runner before ``reset``).
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.envs.codec import CONTRACT_ACTIONS

__all__ = ["CoordinationMethod", "to_contract_action"]

_INDEX = {name: i for i, name in enumerate(CONTRACT_ACTIONS)}


def to_contract_action(
    action_type: str, args: dict[str, Any], token_refs: list[str] | None = None
) -> dict[str, Any]:
    """An engine action in the contract's ``{action_index, action_info}`` form."""
    info: dict[str, Any] = {"action_type": action_type, "args": dict(args)}
    if token_refs:
        info["token_refs"] = list(token_refs)
    return {"action_index": _INDEX.get(action_type, 0), "action_info": info}


class CoordinationMethod:
    """Base class of coordination methods (see the module docstring)."""

    method_id: str = ""
    bus: Any = None  # the episode's SignedMessageBus, set by the runner before reset()

    def __init__(
        self,
        policy: Any = None,
        repo_root: Any = None,
        scale_config: Any = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.policy = policy
        self.repo_root = repo_root
        self.scale_config = scale_config
        self.params = dict(params or {})
        self.env: Any = None

    def attach(self, env: Any) -> None:
        self.env = env

    def reset(self, seed: int, policy: Any, scale_config: Any) -> None:
        self.seed = seed

    def propose_actions(
        self, obs: dict[str, Any], infos: dict[str, Any], t: float
    ) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    def on_step_results(self, results: dict[str, Any]) -> None:
        """Called after each env step with ``{agent_id: step result}`` of the step."""

    def on_episode_end(self, metrics: dict[str, Any]) -> None:
        """Called once with the episode's metrics."""
