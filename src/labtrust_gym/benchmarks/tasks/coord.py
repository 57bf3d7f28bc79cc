"""coord_scale and coord_risk."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labtrust_gym.benchmarks.coordination_scale import (
    CoordinationScaleConfig,
    generate_scaled_initial_state,
    load_scale_config_by_id,
    scale_state_digest,
)
from labtrust_gym.benchmarks.tasks.base import BenchmarkTask
from labtrust_gym.engine.signatures import public_key_hex
from labtrust_gym.rng import derive_seed, stream

if TYPE_CHECKING:
    from labtrust_gym.coordination.injections import InjectionContext, RiskInjection

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
    ``scale_state_digest`` of the generated initial state; the runner adds the message
    bus's ``comm.*`` telemetry and ``coordination.stale_action_rate``.
    Risk injections (``params.injection``, an id of the injection registry, with
    ``params.injection_params`` over its catalogue defaults) may be applied here too; see
    ``coord_risk``.
    """

    name = "coord_scale"
    #: The runner builds a network and signed message bus for every episode.
    uses_bus = True
    #: ``params.injection`` / ``run_benchmark(injection=...)`` are accepted.
    supports_injections = True
    #: The coordination method of the task's own team (the runner uses it when no
    #: ``coord_method`` is given): the scripted team, dispatching over the bus.
    default_coord_method = "scripted_team"

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
        #: The injection of the current episode (the runner makes a fresh one per episode).
        self.injection: RiskInjection | None = self.make_injection()
        self._probe = self._generate(0)

    def injection_id(self) -> str | None:
        inj = self.params.get("injection")
        return None if inj in (None, "none") else str(inj)

    def make_injection(self) -> RiskInjection | None:
        """A fresh injection for ``params.injection`` (None when there is none)."""
        iid = self.injection_id()
        if iid is None:
            return None
        from labtrust_gym.coordination.injections import make_injection

        return make_injection(
            iid, self.params.get("injection_params"), repo_root=self.policy.policy_dir
        )

    def injection_context(self, seed: int, agents: list[dict[str, Any]]) -> InjectionContext:
        """The context of the hooks that run before the env exists (``on_initial_state``)."""
        from labtrust_gym.coordination.injections import InjectionContext

        return InjectionContext(
            task=self,
            seed=seed,
            rng=stream(derive_seed(seed, "on_initial_state"), "injection"),
            dt_s=self.dt_s,
            max_steps=self.max_steps,
            agent_ids=[a["agent_id"] for a in agents],
            roles={a["agent_id"]: a.get("role") for a in agents},
        )

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
        if self.injection is not None:
            self.injection.on_initial_state(init, self.injection_context(seed, init["agents"]))
        init["keys"] = {
            kid: {"agent_id": aid, "public_key": public_key_hex(pk)}
            for aid, (kid, pk) in self.agent_keys(seed).items()
        }
        return init

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        state = {k: v for k, v in env.initial_state.items() if k != "keys"}
        return {
            "scale_config_id": self.scale_config.config_id,
            "num_agents": len(self.agent_ids()),
            "scale_state_digest": scale_state_digest(state),
        }


class CoordRisk(CoordScale):
    """Coordination at scale under an injected risk.

    Description: ``coord_scale`` plus a risk injection from the injection registry
    (``params.injection`` or ``labtrust run-benchmark --injection ID``; default
    ``INJ-DEVICE-FAULT-001``: the first chemistry analyzer faults a third of the way
    through the episode). Network injections (partition, reorder, drop spike, delay) act
    on the coordination network and show in ``comm.*``; message, identity and collusion
    injections attack the bus or the engine and must be rejected or blocked.
    Agents, observation, actions, rewards, termination: as ``coord_scale``.
    Metrics: as ``coord_scale`` plus ``injection_id``, ``runs_aborted``,
    ``device_faults`` and the injection's ``injection.*`` metrics (runner).
    """

    name = "coord_risk"

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        out = super().episode_metrics(env)
        out["injection_id"] = self.injection_id()
        out["runs_aborted"] = env.counters["emits"].get("RUN_ABORTED", 0)
        out["device_faults"] = env.counters["emits"].get("DEVICE_FAULT", 0)
        return out
