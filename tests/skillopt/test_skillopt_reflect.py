"""The rule library and the LLM reflect (validated, with a fallback event)."""

from __future__ import annotations

import json
from typing import Any

from labtrust_gym.llm.exchange import CallFailure, LLMRequest, LLMResponse
from labtrust_gym.skillopt.document import apply_patch, load_skill
from labtrust_gym.skillopt.optimizer import aggregate
from labtrust_gym.skillopt.reflect import RULE_LIBRARY, llm_reflect, rule_reflect
from labtrust_gym.skillopt.types import Patch

WEAK = load_skill("lab_team_weak_seed").text


def res(hard: int = 0, codes: dict | None = None, **metrics: Any) -> dict[str, Any]:
    return {
        "id": "x",
        "hard": hard,
        "soft": 0.5,
        "metrics": metrics,
        "reason_codes": codes or {},
        "violation_reason_codes": {},
    }


def edits_of(patches: list[dict]) -> dict[tuple[str, str, str], int]:
    return {
        (e["op"], e.get("target", ""), e["content"]): e["support_count"]
        for p in patches
        for e in p["patch"]["edits"]
    }


def test_rule_library_maps_breaches_to_edits_with_support() -> None:
    results = [
        res(stat_on_time_rate=0.5),
        res(stat_on_time_rate=0.6),
        res(detection_delay_s=2700.0, wrongly_released=12),
        res(stockout_s=130.0),
        res(hard=1, stockout_s=200.0),  # a success that still breached: success patch
        res(hard=1, on_time_rate=1.0),
    ]
    patches = rule_reflect(results, WEAK)
    assert [p["source_type"] for p in patches] == ["failure", "success"]
    got = edits_of(patches[:1])
    assert got == {
        ("insert_after", "rules:", "- stat_first"): 2,
        ("insert_after", "rules:", "- reserve_centrifuge_for_stat"): 2,
        ("insert_after", "rules:", "- patient_based_qc"): 1,
        ("replace", "qc_interval_s: 3600", "qc_interval_s: 1800"): 1,
        ("replace", "restock_margin_runs: -5", "restock_margin_runs: -3"): 1,
    }
    assert edits_of(patches[1:]) == {
        ("replace", "restock_margin_runs: -5", "restock_margin_runs: -3"): 1
    }
    # Every proposed edit applies to the seed and keeps the block valid.
    text, reps = apply_patch(WEAK, aggregate(patches).edits, reference=WEAK)
    assert all(r["status"] == "applied" for r in reps)
    assert "- stat_first" in text


def test_nothing_to_do_gives_no_patch() -> None:
    assert rule_reflect([res(hard=1, on_time_rate=1.0)], WEAK) == []


def test_rejected_edits_are_not_proposed_again() -> None:
    key = ("insert_after", "rules:", "- stat_first")
    patches = rule_reflect([res(stat_on_time_rate=0.1)], WEAK, rejected={key})
    assert key not in edits_of(patches)
    assert "left out (rejected before)" in patches[0]["patch"]["reasoning"]


def test_safety_repairs_delete_the_practice() -> None:
    bad = WEAK.replace("rules:\n", "rules:\n- prop_doors_open\n- release_held_results\n")
    r = res(codes={"QC_HOLD_ACTIVE": 3})
    r["violation_reason_codes"] = {"DOOR_OPEN_TOO_LONG": 1}
    got = edits_of(rule_reflect([r], bad))
    assert ("delete", "- prop_doors_open", "") in got
    assert ("delete", "- release_held_results", "") in got
    assert {r.name for r in RULE_LIBRARY} >= {
        "late_stat",
        "late_qc",
        "stockout",
        "propped_door",
        "held_release",
        "run_on_failed_qc",
    }


class FakeBackend:
    name = model = "fake"

    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.requests: list[LLMRequest] = []

    def complete(self, request: LLMRequest) -> Any:
        self.requests.append(request)
        if isinstance(self.reply, CallFailure):
            return self.reply
        return LLMResponse(self.reply, 1, 1)


def test_llm_reflect_uses_valid_edits() -> None:
    reply = json.dumps(
        {
            "reasoning": "stat late",
            "edits": [
                {"op": "insert_after", "target": "rules:", "content": "- stat_first"},
                {
                    "op": "replace",
                    "target": "Never start a run",
                    "content": "Start runs",
                },  # protected
                {"op": "replace", "target": "qc_interval_s: 3600", "content": "qc_interval_s: x"},
            ],
        }
    )
    be, events = FakeBackend(reply), []
    out = llm_reflect([res(stat_on_time_rate=0.2)], WEAK, be, events=events, reference=WEAK)
    assert len(be.requests) == 1 and "## Playbook" in be.requests[0].messages[1]["content"]
    assert [e["content"] for e in out[0]["patch"]["edits"]] == ["- stat_first"]
    assert out[0]["source_type"] == "failure"
    assert events[0]["event"] == "llm_reflect_dropped_edits" and len(events[0]["problems"]) == 2


def test_llm_reflect_falls_back_to_rules_with_an_event() -> None:
    results = [res(stat_on_time_rate=0.2)]
    rules = rule_reflect(results, WEAK)
    for reply in (
        "not json",
        json.dumps({"edits": "x"}),
        json.dumps({"edits": [{"op": "delete", "target": "nowhere"}]}),
        CallFailure("TIMEOUT", "slow"),
    ):
        events: list[dict] = []
        assert llm_reflect(results, WEAK, FakeBackend(reply), events=events) == rules
        assert events[0]["event"] == "llm_reflect_fallback", reply


def test_llm_reflect_with_the_offline_double_falls_back() -> None:
    from labtrust_gym.llm import make_backend

    events: list[dict] = []
    out = llm_reflect([res(stat_on_time_rate=0.2)], WEAK, make_backend("offline"), events=events)
    assert out == rule_reflect([res(stat_on_time_rate=0.2)], WEAK)
    assert events[0]["event"] == "llm_reflect_fallback" and "backend error" in events[0]["reason"]
    assert Patch.from_dict(out[0]["patch"]).edits


def test_llm_reflect_through_the_openai_backend_and_a_fake_server() -> None:
    from labtrust_gym.llm import make_backend
    from labtrust_gym.testing.fake_openai import FakeOpenAI

    reply = json.dumps(
        {
            "reasoning": "r",
            "edits": [{"op": "insert_after", "target": "rules:", "content": "- patient_based_qc"}],
        }
    )
    srv = FakeOpenAI(lambda body: reply, max_life_s=60).start()
    try:
        be = make_backend(f"openai:fake-model@{srv.url}", max_retries=0, timeout_s=20)
        events: list[dict] = []
        out = llm_reflect([res(detection_delay_s=2700.0)], WEAK, be, events=events)
        be.close()
    finally:
        srv.stop()
    assert events == []
    assert out[0]["patch"]["edits"][0]["content"] == "- patient_based_qc"
    (req,) = srv.requests
    assert req["body"]["model"] == "fake-model"
    assert "SkillOpt" not in req["body"]["messages"][0]["content"]  # our own prompt
    assert "detection_delay_s" in req["body"]["messages"][1]["content"]


def test_rules_and_tunables_missing_from_the_block_are_added() -> None:
    from labtrust_gym.baselines.skill_team import parse_team_block

    doc = "# d\n\n```yaml labtrust-team\nqc_interval_s: 3600\n```\n"
    patches = rule_reflect([res(stat_on_time_rate=0.1, stockout_s=500.0)], doc)
    text, reps = apply_patch(doc, aggregate(patches).edits, reference=doc)
    assert [r["status"] for r in reps].count("applied") >= 3, reps
    team = parse_team_block(text)
    assert {"stat_first", "restock"} <= set(team.rules)
    assert team.tunables["restock_margin_runs"] == 4  # default 2, + 2
