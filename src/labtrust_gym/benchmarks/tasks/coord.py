"""coord_scale and coord_risk."""

from __future__ import annotations

from typing import Any

from labtrust_gym.benchmarks.coordination_scale import (
    CoordinationScaleConfig,
    generate_scaled_initial_state,
    load_scale_config_by_id,
    scale_state_digest,
)
from labtrust_gym.benchmarks.tasks.base import BenchmarkTask
from labtrust_gym.engine.signatures import public_key_hex

__all__ = ["CoordScale", "CoordRisk"]


class CoordScale(BenchmarkTask):
    """Coordination at scale under nominal conditions.

    Description: a generated hospital network (``CoordinationScaleConfig``: agents
    ``A_WORKER_0001...`` with roles from ``role_mix``, devices per type, sites, arrival
    rate, horizon) runs for ``horizon_steps``. The default is the small preset
    ``coord_scale_default`` (10 agents, 2 CHEM, 1 site); ``scale_config`` (a preset id or
    a config) selects another.
    Agents: the generated workers. Observation, actions, rewards: as ``throughput_sla``
    over the generated world. Termination: truncation at ``horizon_steps``.
    Metrics: the common metrics plus ``scale_config_id``, ``num_agents`` and the
    ``scale_state_digest`` of the generated initial state.
    """

    name = "coord_scale"

    def __init__(self, params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        scale = kwargs.pop("scale_config", None)
        super().__init__(params, **kwargs)
        if scale is None:
            scale = self.params.get("scale_preset", "coord_scale_default")
        if isinstance(scale, str):
            scale = load_scale_config_by_id(self.policy.policy_dir, scale)
        elif isinstance(scale, dict):
            scale = CoordinationScaleConfig.from_dict(scale)
        self.scale_config: CoordinationScaleConfig = scale
        self.max_steps = int(scale.horizon_steps)
        if kwargs.get("timing_mode") is None:
            self.timing_mode = scale.timing_mode
        self._probe = self._generate(0)

    def _generate(self, seed: int) -> dict[str, Any]:
        cfg = self.scale_config
        if cfg.timing_mode != self.timing_mode:
            from dataclasses import replace

            cfg = replace(cfg, timing_mode=self.timing_mode)
        return generate_scaled_initial_state(cfg, self.policy.policy_dir, seed, policy=self.policy)

    def staff_agents(self) -> list[dict[str, Any]]:
        return [dict(a) for a in self._probe["agents"]]

    def world_docs(self) -> dict[str, Any]:
        return {}

    def get_initial_state(self, seed: int) -> dict[str, Any]:
        init = self._generate(seed)
        init["schedule"] = init["schedule"] + self.injection_schedule(init)
        init["keys"] = {
            kid: {"agent_id": aid, "public_key": public_key_hex(pk)}
            for aid, (kid, pk) in self.agent_keys(seed).items()
        }
        return init

    def injection_schedule(self, init: dict[str, Any]) -> list[dict[str, Any]]:
        return []

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        state = {k: v for k, v in env.initial_state.items() if k != "keys"}
        return {
            "scale_config_id": self.scale_config.config_id,
            "num_agents": len(self.agent_ids()),
            "scale_state_digest": scale_state_digest(state),
        }


class CoordRisk(CoordScale):
    """Coordination at scale under an injected risk.

    Description: ``coord_scale`` plus a risk injection (``params.injection``; default
    ``INJ-DEVICE-FAULT-001``: the first chemistry analyzer faults a third of the way
    through the episode). Agents, observation, actions, rewards, termination: as
    ``coord_scale``.
    Metrics: as ``coord_scale`` plus ``injection_id`` and ``runs_aborted``.
    """

    name = "coord_risk"

    def injection_schedule(self, init: dict[str, Any]) -> list[dict[str, Any]]:
        inj = self.params.get("injection")
        if inj in (None, "none"):
            return []
        if inj == "INJ-DEVICE-FAULT-001":
            chem = sorted(
                d["device_id"]
                for d in init["effective_policy"]["equipment_registry"]["devices"]
                if d["device_type"] == "CHEM"
            )
            if not chem:
                return []
            return [
                {
                    "t_s": round(self.max_steps * self.dt_s / 3.0, 1),
                    "kind": "DEVICE_FAULT",
                    "device_id": chem[0],
                }
            ]
        from labtrust_gym.errors import UnknownIdError

        raise UnknownIdError(f"unknown injection {inj!r}; known: INJ-DEVICE-FAULT-001, none")

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        out = super().episode_metrics(env)
        out["injection_id"] = self.params.get("injection")
        out["runs_aborted"] = env.counters["emits"].get("RUN_ABORTED", 0)
        out["device_faults"] = env.counters["emits"].get("DEVICE_FAULT", 0)
        return out
