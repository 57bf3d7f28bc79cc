"""adversarial_disruption and insider_key_misuse: every documented attack is tried, each
is reported per type, and what the team adds (audit review, key revocation) is measured
against a team without it."""

from __future__ import annotations

from functools import cache
from typing import Any

from labtrust_gym.baselines.adversaries import DisruptiveInsider, KeyMisuseInsider
from labtrust_gym.benchmarks.metrics import paired_diff_ci95
from labtrust_gym.benchmarks.runner import episode_seed, run_benchmark, run_episode
from labtrust_gym.benchmarks.tasks import get_task

SEEDS = (0, 1, 2)
NO_REVIEW = {"team": {"audit_review": False}}


@cache
def _run(task: str, seed: int, ablated: bool = False) -> dict[str, Any]:
    t = get_task(task)(params=NO_REVIEW if ablated else None)
    return run_episode(t, episode_seed(seed, 0))[0]


def test_every_documented_attack_is_attempted_in_every_episode() -> None:
    for seed in SEEDS:
        m = _run("adversarial_disruption", seed)
        by = m["attacks_by_kind"]
        assert set(by) == set(DisruptiveInsider.attacks)
        for kind, row in by.items():
            assert row["attempted"] >= 2, (seed, kind, row)
            assert row["blocked"] + row["succeeded"] == row["attempted"]
            assert 0 <= row["detected"] <= row["attempted"]
        # Only propping a standard door open is allowed by the policy.
        assert {k for k, r in by.items() if r["succeeded"]} <= {"door_propping"}
        assert m["attack_attempts"] == sum(r["attempted"] for r in by.values())


def test_the_teams_audit_review_detects_blocked_attacks() -> None:
    for seed in SEEDS:
        full, ablated = (
            _run("adversarial_disruption", seed),
            _run("adversarial_disruption", seed, True),
        )
        blocked_kinds = [k for k, r in full["attacks_by_kind"].items() if r["blocked"]]
        assert blocked_kinds
        for k in blocked_kinds:
            assert full["attacks_by_kind"][k]["detected"] >= 1, (seed, k)
        assert full["attacker_detected_s"] is not None
        assert full["detection_latency_p50_s"] is not None
        assert all(r["detected"] == 0 for r in ablated["attacks_by_kind"].values())
        assert ablated["attacker_detected_s"] is None


def test_attack_impact_against_the_paired_episode_without_attacker() -> None:
    m = run_benchmark("adversarial_disruption", 1, 0)["episodes"][0]["metrics"]
    assert m["baseline_throughput"] > 0
    assert (
        m["throughput_impact"]
        == (m["baseline_throughput"] - m["throughput"]) / m["baseline_throughput"]
    )


def test_insider_forgeries_are_stopped_by_the_engine_even_without_the_team() -> None:
    """The engine's guarantee, not the team's: without any review nothing forged gets in."""
    for seed in SEEDS:
        m = _run("insider_key_misuse", seed, True)
        assert m["attack_attempts"] >= 30 and m["forged_accepted"] == 0
        assert set(m["attacks_by_kind"]) == set(KeyMisuseInsider.attacks)


def test_supervisor_review_revokes_the_insiders_key() -> None:
    full_acc, abl_acc = [], []
    for seed in SEEDS:
        full = _run("insider_key_misuse", seed)
        abl = _run("insider_key_misuse", seed, True)
        # Detected from the audit log and revoked within minutes of the first attack.
        assert full["insider_detected_s"] is not None and full["key_revoked_s"] is not None
        assert full["insider_detected_s"] <= full["key_revoked_s"]
        assert 0 < full["time_to_revocation_s"] <= 300
        assert full["attempts_after_detection"] >= 1  # it keeps trying ...
        assert full["accepted_after_revocation"] == 0  # ... and nothing of it gets in
        assert full["forged_accepted"] == 0
        # Without the review the insider keeps a working key all episode.
        assert abl["key_revoked_s"] is None and abl["time_to_revocation_s"] is None
        assert abl["attempts_after_detection"] is None
        full_acc.append(full["insider_actions_accepted"])
        abl_acc.append(abl["insider_actions_accepted"])
    d = paired_diff_ci95(abl_acc, full_acc)
    assert d["excludes_zero"] and d["mean"] > 0, d
