"""insider_key_misuse."""

from __future__ import annotations

from typing import Any

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
    Agents: the lab team (scripted, signing with their own keys) plus the insider.
    Observation, actions, rewards, termination: as ``throughput_sla``.
    Metrics: ``attack_attempts``, ``attacks_blocked``, ``forged_accepted`` (must be 0),
    blocks by signature reason code.
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
        return [*super().make_policies(seed), self.insider]

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        s = self.insider.summary()
        s["forged_accepted"] = s["attacks_accepted"]
        sig_codes = {
            k: v for k, v in env.counters["blocked_by_reason_code"].items() if k.startswith("SIG_")
        }
        s["signature_blocks"] = dict(sorted(sig_codes.items()))
        return s
