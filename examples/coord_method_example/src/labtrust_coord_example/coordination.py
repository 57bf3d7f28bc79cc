"""``example_noop_coord``: the smallest coordination method, a template to copy.

Every step it proposes NOOP (action index 0) for every agent it coordinates, so the team
it replaces does nothing: a run shows the plugin is in control (no result is released by
the team) and gives the floor of any real method. It counts what it proposed and reports
the count through ``telemetry()``, which the runner adds to the episode metrics as
``coordination.method.noop_actions``.
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.coordination import CoordinationMethod

__all__ = ["ExampleNoopCoord", "make_example_noop_coord"]


class ExampleNoopCoord(CoordinationMethod):
    method_id = "example_noop_coord"

    def reset(self, seed: int, policy: Any, scale_config: Any) -> None:
        super().reset(seed, policy, scale_config)
        self.noop_actions = 0

    def propose_actions(
        self, obs: dict[str, Any], infos: dict[str, Any], t: float
    ) -> dict[str, dict[str, Any]]:
        self.noop_actions += len(obs)
        return {agent: {"action_index": 0, "action_info": {}} for agent in obs}

    def telemetry(self) -> dict[str, Any]:
        return {"noop_actions": self.noop_actions}


def make_example_noop_coord(
    policy: Any, repo_root: Any, scale_config: Any, params: dict[str, Any]
) -> ExampleNoopCoord:
    """The factory the entry point names: ``(policy, repo_root, scale_config, params)``."""
    return ExampleNoopCoord(policy, repo_root, scale_config, params)
