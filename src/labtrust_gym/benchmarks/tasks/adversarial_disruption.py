"""adversarial_disruption."""

from __future__ import annotations

from typing import Any

from labtrust_gym.benchmarks.tasks.base import BenchmarkTask
from labtrust_gym.rng import stream

__all__ = ["AdversarialDisruption"]


class AdversarialDisruption(BenchmarkTask):
    """An insider with a runner's badge tries to disrupt the lab during normal demand.

    Description: ``throughput_sla`` demand plus ``A_ADVERSARY_01`` (ROLE_RUNNER), who
    every minute tries one disruptive action: entering zones its role may not enter,
    releasing a result, starting an analyzer, issuing itself a token, opening the
    restricted airlock without a token, jumping the queue (claiming STAT for a routine
    tube it picked up) and propping a door open. The engine must block what is forbidden;
    a propped door is allowed but raises the alarm and the kill switch.
    Agents: the lab team (scripted) plus the adversary (scripted attacker).
    Observation, actions, rewards, termination: as ``throughput_sla``.
    Metrics: ``attack_attempts``, ``attacks_blocked``, ``attacks_accepted`` (by kind),
    ``door_alarms``; the runner adds ``throughput_impact`` against a paired episode with
    the same seed and the adversary idle.
    """

    name = "adversarial_disruption"
    paired_baseline = True
    optional_params = frozenset({"adversary.enabled"})

    def extra_agents(self) -> list[dict[str, Any]]:
        adv = self.params["adversary"]
        if not adv.get("enabled", True):
            return [{"agent_id": adv["agent_id"], "role": adv["role"], "zone": adv["zone"]}]
        return [{"agent_id": adv["agent_id"], "role": adv["role"], "zone": adv["zone"]}]

    def make_policies(self, seed: int) -> list[Any]:
        from labtrust_gym.baselines.adversaries import DisruptiveInsider

        policies = super().make_policies(seed)
        adv = self.params["adversary"]
        self.adversary: DisruptiveInsider | None
        if adv.get("enabled", True):
            self.adversary = DisruptiveInsider(
                adv["agent_id"], adv["attack_every_s"], stream(seed, "adversary")
            )
            policies.append(self.adversary)
        else:
            self.adversary = None
        return policies

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"door_alarms": env.counters["emits"].get("DOOR_ALARM", 0)}
        adv = getattr(self, "adversary", None)
        if adv is not None:
            out.update(adv.summary())
        return out
