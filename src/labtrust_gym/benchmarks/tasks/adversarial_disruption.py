"""adversarial_disruption."""

from __future__ import annotations

from typing import Any

from labtrust_gym.benchmarks.tasks.base import BenchmarkTask
from labtrust_gym.rng import stream

__all__ = ["AdversarialDisruption", "review_findings"]


def review_findings(policies: list[Any]) -> dict[str, float] | None:
    """Findings (``event_id -> time found``) of the audit review of the task's team, if
    it has one (the scripted team's supervisor; see baselines/scripted/security.py)."""
    for p in policies:
        review = getattr(p, "review", None)
        if review is not None and getattr(review, "enabled", False):
            return dict(review.findings)
    return None


class AdversarialDisruption(BenchmarkTask):
    """An insider with a runner's badge tries to disrupt the lab during normal demand.

    Description: ``throughput_sla`` demand plus ``A_ADVERSARY_01`` (ROLE_RUNNER), who
    every minute tries one disruptive action, the documented kinds in turn: entering zones
    its role may not enter, releasing a result, starting an analyzer, issuing itself a
    token, opening the restricted airlock without a token, jumping the queue (claiming
    STAT for a routine tube it picked up) and propping a door open. It walks to where each
    attack can be staged, so every kind is attempted in every episode. The engine must
    block what is forbidden; a propped door is allowed but raises the alarm and the kill
    switch if it stays open.
    What it exercises: the engine's deny-by-default checks (blocked vs succeeded) and the
    team's audit review (detected): the supervisor reads the audit log every minute and
    revokes the keys of an agent with repeated security denials. Without strict
    signatures here, a revocation stops only its signed actions: detection is what the
    team adds. The ablation ``team.audit_review: false`` detects nothing.
    Agents: the lab team (scripted) plus the adversary (scripted attacker).
    Observation, actions, rewards, termination: as ``throughput_sla``.
    Metrics: ``attack_attempts``, ``attacks_blocked``, ``attacks_accepted``,
    ``attacks_detected``; ``attacks_by_kind`` (per kind: attempted, blocked, succeeded,
    detected); ``attacks_not_attempted``; ``detection_latency_p50_s`` and
    ``attacker_detected_s`` (the team's review); ``attacker_blocked`` (every blocked
    action of the adversary, attacks and set-ups); ``door_alarms``; the runner adds
    ``baseline_throughput`` and ``throughput_impact`` against the paired episode (same seed
    and controller, the adversary idle).
    """

    name = "adversarial_disruption"
    paired_baseline = True
    optional_params = frozenset({"adversary.enabled"})

    def extra_agents(self) -> list[dict[str, Any]]:
        adv = self.params["adversary"]
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
        self._policies = policies
        return policies

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"door_alarms": env.counters["emits"].get("DOOR_ALARM", 0)}
        adv = getattr(self, "adversary", None)
        if adv is not None:
            findings = review_findings(getattr(self, "_policies", []))
            out.update(adv.summary(findings))
            out["attacker_detected_s"] = out.pop("first_detection_s")
            out["attacker_blocked"] = env.counters["blocked_by_agent"].get(adv.agent_id, 0)
        return out
