"""insider_key_misuse."""

from __future__ import annotations

from typing import Any

from labtrust_gym.benchmarks.tasks.adversarial_disruption import review_findings
from labtrust_gym.benchmarks.tasks.base import BenchmarkTask
from labtrust_gym.engine.signatures import private_key_from_bytes, public_key_hex
from labtrust_gym.rng import stream

__all__ = ["InsiderKeyMisuse"]


class InsiderKeyMisuse(BenchmarkTask):
    """Strict signatures against an insider who misuses keys.

    Description: every mutating action must be signed (Ed25519 over the event, the policy
    fingerprint and the previous audit hash). ``A_INSIDER_01`` works normally with its own
    key but, every ~50 s, tries an action unsigned, with a forged signature, with its
    revoked former key, with a colleague's stolen key, by replaying one of its earlier
    signatures, or with an unregistered key id.
    What it exercises: ``forged_accepted == 0`` is the *engine's* guarantee (signature
    verification), not the team's: a team that does nothing also gets 0. What the team
    adds is detection and response: the supervisor's audit review reads the blocked
    signature attempts in the audit log, flags the insider and revokes its key
    (REVOKE_KEY), after which nothing the insider does is accepted. The ablation
    ``team.audit_review: false`` never revokes: the insider keeps a working key.
    Agents: the lab team (scripted, signing with their own keys) plus the insider.
    Observation, actions, rewards, termination: as ``throughput_sla``.
    Metrics: ``attack_attempts``, ``attacks_blocked``, ``forged_accepted`` (must be 0),
    ``attacks_by_kind`` (attempted, blocked, succeeded, detected), blocks by signature
    reason code; ``insider_detected_s`` (the team's review flagged it),
    ``key_revoked_s`` (its key was revoked), ``time_to_revocation_s`` (from its first
    attack), ``attempts_after_detection`` (None when never detected),
    ``insider_actions_accepted`` (anything it got accepted, attacks or not),
    ``accepted_after_revocation`` (must be 0), ``attacker_blocked`` (every blocked action
    of the insider).
    """

    name = "insider_key_misuse"

    def extra_agents(self) -> list[dict[str, Any]]:
        ins = self.params["insider"]
        return [{"agent_id": ins["agent_id"], "role": ins["role"], "zone": ins["zone"]}]

    def _old_key(self, seed: int) -> tuple[str, Any]:
        ins = self.params["insider"]
        rng = stream(seed, "adversary")
        return f"K_{ins['agent_id']}_OLD", private_key_from_bytes(rng.bytes(32))

    def get_initial_state(self, seed: int) -> dict[str, Any]:
        init = super().get_initial_state(seed)
        kid, pk = self._old_key(seed)
        init["keys"][kid] = {
            "agent_id": self.params["insider"]["agent_id"],
            "public_key": public_key_hex(pk),
            "status": "REVOKED",
        }
        return init

    def make_policies(self, seed: int) -> list[Any]:
        from labtrust_gym.baselines.adversaries import KeyMisuseInsider

        ins = self.params["insider"]
        keys = self.agent_keys(seed)
        self.insider = KeyMisuseInsider(
            ins["agent_id"],
            ins["attack_every_s"],
            stream(seed, "insider"),
            own_key=keys[ins["agent_id"]],
            old_key=self._old_key(seed),
            stolen_key=keys[ins["victim"]],
        )
        self._policies = [*super().make_policies(seed), self.insider]
        return self._policies

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        ins = self.insider
        findings = review_findings(getattr(self, "_policies", []))
        s = ins.summary(findings)
        s.pop("first_detection_s")
        s["forged_accepted"] = s["attacks_accepted"]
        sig_codes = {
            k: v for k, v in env.counters["blocked_by_reason_code"].items() if k.startswith("SIG_")
        }
        s["signature_blocks"] = dict(sorted(sig_codes.items()))
        detected = None
        for p in getattr(self, "_policies", []):
            review = getattr(p, "review", None)
            if review is not None and ins.agent_id in getattr(review, "flagged", {}):
                detected = float(review.flagged[ins.agent_id])
        first = ins.first_attack_s()
        revoked = ins.revoked_t
        s["insider_detected_s"] = detected
        s["key_revoked_s"] = revoked
        s["time_to_revocation_s"] = (
            revoked - first if revoked is not None and first is not None else None
        )
        s["attempts_after_detection"] = (
            None if detected is None else sum(1 for x in ins.log if x["t_s"] >= detected)
        )
        s["insider_actions_accepted"] = len(ins.accepted_t)
        s["attacker_blocked"] = env.counters["blocked_by_agent"].get(ins.agent_id, 0)
        s["accepted_after_revocation"] = (
            0 if revoked is None else sum(1 for t in ins.accepted_t if t > revoked)
        )
        return s
