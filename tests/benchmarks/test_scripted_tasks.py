"""The scripted team runs every task: results flow, no critical violation, far better than
random, and each task's own metrics show that it exercises what its name says."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from labtrust_gym.benchmarks.runner import episode_seed, run_benchmark, run_episode
from labtrust_gym.benchmarks.tasks import get_task, list_tasks

SEEDS = (0, 1)


@cache
def _scripted(task: str, seed: int) -> dict[str, Any]:
    metrics, _ = run_episode(get_task(task)(), episode_seed(seed, 0))
    return metrics


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("task", list_tasks())
def test_scripted_team_releases_without_critical_violations(task: str, seed: int) -> None:
    m = _scripted(task, seed)
    assert m["throughput"] > 0
    assert m["critical_violations"] == 0, m["violations_by_invariant"]
    assert m["on_time_rate"] is not None and m["on_time_rate"] >= 0.8
    # Only the attackers' actions (attacks and their set-ups) may be blocked: the team
    # itself is competent.
    team_blocked = m["blocked"] - m.get("attacker_blocked", 0)
    assert team_blocked <= 0.01 * m["actions"], m["blocked_by_reason_code"]


@pytest.mark.parametrize("task", ["throughput_sla", "multi_site_stat", "qc_cascade"])
def test_scripted_team_is_far_better_than_random(task: str) -> None:
    rnd = run_benchmark(task, 1, 0, controller="random")["episodes"][0]["metrics"]
    m = _scripted(task, 0)
    assert rnd["on_time_rate"] is not None
    assert m["on_time_rate"] >= rnd["on_time_rate"] + 0.5
    assert m["throughput"] > rnd["throughput"]
    assert rnd["blocked_rate"] > 0.5


def test_stat_insertion_stat_beats_routine() -> None:
    for seed in SEEDS:
        m = _scripted("stat_insertion", seed)
        assert m["stat_released"] > 0
        assert m["stat_beats_routine"], (m["stat_tat_p50_s"], m["routine_tat_p50_s"])


def test_qc_cascade_detects_holds_and_reruns() -> None:
    for seed in SEEDS:
        m = _scripted("qc_cascade", seed)
        assert m["qc_failures_detected"] >= 1
        assert m["results_held"] >= 1 and m["reruns"] >= 1
        assert m["detection_delay_s"] is not None and m["detection_delay_s"] > 0


def test_adversary_is_blocked_except_what_policy_allows() -> None:
    res = run_benchmark("adversarial_disruption", 1, 0)
    m = res["episodes"][0]["metrics"]
    assert m["attack_attempts"] > 20 and m["attacks_blocked"] > 0
    # Propping a standard door open is allowed (and alarmed if it lasts); nothing else is.
    assert set(m["accepted_by_kind"]) <= {"door_propping"}
    assert m["baseline_throughput"] > 0 and m["throughput_impact"] is not None


def test_insider_forgeries_never_get_through() -> None:
    m = _scripted("insider_key_misuse", 0)
    assert m["attack_attempts"] >= 30
    assert m["forged_accepted"] == 0
    assert set(m["signature_blocks"]) >= {
        "SIG_INVALID",
        "SIG_KEY_REVOKED",
        "SIG_MISSING",
        "SIG_KEY_AGENT_MISMATCH",
        "SIG_KEY_UNKNOWN",
    }


def test_multi_site_transport_with_custody() -> None:
    m = _scripted("multi_site_stat", 0)
    assert m["transport_received"] >= 1
    assert m["released_by_origin_site"].get("SITE_ACUTE", 0) > 0
    assert m["acute_stat_released"] > 0


def test_device_outage_and_reagent_stockout_are_handled() -> None:
    m = _scripted("device_outage_surge", 0)
    assert m["device_faults"] == 1 and m["repairs_completed"] == 1
    assert m["released_by_device"].get("DEV_CHEM_0002", 0) > 0
    r = _scripted("reagent_stockout", 0)
    assert r["restocks"] >= 1 and r["ue_released_after_stockout"] > 0


def test_coord_risk_injection_changes_the_episode() -> None:
    risk = _scripted("coord_risk", 0)
    nominal = _scripted("coord_scale", 0)
    assert risk["device_faults"] == 1
    assert risk["episode_log_sha256"] != nominal["episode_log_sha256"]


def test_every_emit_and_reason_code_seen_in_tasks_is_registered() -> None:
    from labtrust_gym.policy import load_policy

    pol = load_policy()
    vocab = set(pol["emits_vocab"]["emits"])
    codes = {r["code"] for r in pol["reason_code_registry"]["reason_codes"]}
    seen_emits: set[str] = set()
    seen_codes: set[str] = set()
    for task in list_tasks():
        _, env = run_episode(get_task(task)(), episode_seed(0, 0))
        seen_emits |= set(env.counters["emits"])
        seen_codes |= set(env.counters["blocked_by_reason_code"])
    rnd = run_benchmark("adversarial_disruption", 1, 0, controller="random")
    seen_codes |= set(rnd["episodes"][0]["metrics"]["blocked_by_reason_code"])
    assert seen_emits and seen_emits <= vocab, seen_emits - vocab
    assert seen_codes and seen_codes <= codes, seen_codes - codes
