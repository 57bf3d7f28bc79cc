"""The env fuzzer with a small budget: hostile actions never raise (``labtrust bench fuzz``
runs the long version)."""

from __future__ import annotations

from typing import Any

import pytest

from labtrust_gym.bench.fuzz_bench import FUZZ_TASKS, audit_problems, run_fuzz
from labtrust_gym.policy.loader import load_policy
from labtrust_gym.testing.fuzz import hostile_kinds

REGISTERED = frozenset(r["code"] for r in load_policy()["reason_code_registry"]["reason_codes"])


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return run_fuzz(4000, FUZZ_TASKS, seed=7)


def test_no_uncaught_exception(report: dict[str, Any]) -> None:
    assert report["uncaught"] == 0, report["uncaught_samples"]
    assert report["agent_steps"] >= 4000


def test_audit_logs_verify_and_event_ids_never_repeat(report: dict[str, Any]) -> None:
    assert report["episodes"] >= len(FUZZ_TASKS)
    assert report["audit_problems"] == []


def test_every_hostile_kind_was_drawn_and_answered_with_registered_codes(
    report: dict[str, Any],
) -> None:
    assert set(report["hostile_by_kind"]) == set(hostile_kinds())
    assert min(report["hostile_by_kind"].values()) > 40
    codes = set(report["blocked_by_code"])
    assert codes <= REGISTERED
    # Each kind of defect got its own code; none reached the engine as a malformed event.
    assert {
        "ACTION_INDEX_NOT_INTEGER",
        "ACTION_INDEX_OUT_OF_RANGE",
        "ACTION_FORM_UNKNOWN",
        "ACTION_FIELD_UNKNOWN",
        "ACTION_INFO_NOT_MAPPING",
        "ACTION_TYPE_INVALID",
        "ACTION_ARGS_NOT_MAPPING",
        "ACTION_ARGS_NOT_JSON",
        "ACTION_TOKEN_REFS_INVALID",
        "ACTION_SIGNATURE_FIELDS_INVALID",
        "ACTION_SIGN_WITH_INVALID",
    } <= codes
    assert "EVENT_MALFORMED" not in codes


def test_the_audit_check_catches_a_repeated_event_id() -> None:
    from labtrust_gym.envs import make_env

    env = make_env("throughput_sla", seed=0)
    env.step({"reception_01": 1})
    env.step_count -= 1  # the defect of the issue: a step reusing its event ids
    env.step({"reception_01": 1})
    assert audit_problems(env) == ["1 repeated event id(s) in the audit log"]
