"""Proposers: the deterministic one, and the LLM one against the fake OpenAI server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from labtrust_gym.improve.propose import propose_deterministic, propose_llm, weakest_task
from labtrust_gym.llm import make_backend
from labtrust_gym.skillopt.document import load_skill
from labtrust_gym.testing.fake_openai import FakeOpenAI

TYPES = ("qc_cascade", "stat_insertion")
LAST = [
    {
        "task_type": "stat_insertion",
        "seed": 2000,
        "score": 0.6,
        "reason_codes": {"TAT_SLA_BREACH": 2},
        "violation_reason_codes": {},
    },
    {
        "task_type": "stat_insertion",
        "seed": 2001,
        "score": 0.8,
        "reason_codes": {"TAT_SLA_BREACH": 1, "X": 1},
        "violation_reason_codes": {"INV": 1},
    },
    {
        "task_type": "qc_cascade",
        "seed": 2000,
        "score": 0.9,
        "reason_codes": {},
        "violation_reason_codes": {},
    },
]


def test_deterministic_proposal_focuses_on_the_weakest_task() -> None:
    p = propose_deterministic(
        3, LAST, TYPES, method="skill_rules", collect_episodes=4, rejected={("a", "b", "c")}
    )
    assert (p.source, p.focus_task, p.method, p.collect_episodes, p.edits) == (
        "deterministic",
        "stat_insertion",
        "skill_rules",
        4,
        (),
    )
    assert p.reason_codes == {"TAT_SLA_BREACH": 3, "INV": 1, "X": 1}
    assert "1 edit(s) in the rejected buffer" in p.rationale
    tie = [dict(r, score=0.5) for r in LAST]
    assert weakest_task(tie, TYPES) == "qc_cascade"  # ties by name


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    srv = FakeOpenAI(max_life_s=60).start()
    try:
        yield srv
    finally:
        srv.stop()


def _ask(srv: FakeOpenAI, timeout_s: float = 5.0, rejected=frozenset()):
    backend = make_backend(f"openai:fake-model@{srv.url}", timeout_s=timeout_s, max_retries=0)
    try:
        return propose_llm(
            backend,
            1,
            skill_text=load_skill("lab_team_weak_seed").text,
            last_eval=LAST,
            task_types=TYPES,
            method="skill_rules",
            collect_episodes=4,
            rejected=rejected,
            max_edits=2,
        )
    finally:
        backend.close()


def test_a_valid_reply_is_a_proposal(server: FakeOpenAI) -> None:
    reply = {
        "focus_task": "qc_cascade",
        "edits": [{"op": "insert_after", "target": "rules:", "content": "- patient_based_qc"}],
        "rationale": "QC drift is caught late",
    }
    server.script.append(("ok", json.dumps(reply)))
    p, why, usage = _ask(server)
    assert why == "ok" and p is not None
    assert (p.source, p.focus_task) == ("llm", "qc_cascade")
    assert p.edits == (
        {
            "file": "skill",
            "op": "insert_after",
            "target": "rules:",
            "content": "- patient_based_qc",
        },
    )
    assert usage["calls"] == 1 and usage["tokens"] > 0
    body = server.requests[0]["body"]
    assert body["model"] == "fake-model" and "stat_insertion" in body["messages"][1]["content"]


@pytest.mark.parametrize(
    "content, why",
    [
        ("I think you should add STAT tactics!", "not a JSON object"),
        ('{"focus_task": "coord_risk", "edits": []}', "focus_task 'coord_risk'"),
        ('{"focus_task": "qc_cascade", "edits": [{"op": "explode"}]}', "edit 0"),
        (
            json.dumps(
                {
                    "focus_task": "qc_cascade",
                    "edits": [{"op": "replace", "target": "nope", "content": "x"}],
                }
            ),
            "does not apply",
        ),
        (
            json.dumps(
                {
                    "focus_task": "qc_cascade",
                    "edits": [
                        {"op": "replace", "target": "Never prop a door open", "content": "P"}
                    ],
                }
            ),
            "target lies in a protected region",
        ),
    ],
)
def test_a_garbled_or_invalid_reply_is_refused_with_why(
    server: FakeOpenAI, content: str, why: str
) -> None:
    server.script.append(("ok", content))
    p, got, usage = _ask(server)
    assert p is None and why in got
    assert usage["calls"] == 1


def test_a_rejected_edit_is_not_proposed_again(server: FakeOpenAI) -> None:
    e = {"op": "insert_after", "target": "rules:", "content": "- prop_doors_open"}
    server.script.append(("ok", json.dumps({"focus_task": "qc_cascade", "edits": [e]})))
    p, why, _ = _ask(server, rejected={("insert_after", "rules:", "- prop_doors_open")})
    assert p is None and "rejected" in why


def test_a_timeout_is_a_call_failure(server: FakeOpenAI) -> None:
    server.script.append(("delay", 3.0, "{}"))
    p, why, usage = _ask(server, timeout_s=0.5)
    assert p is None and why.startswith("call failed: TIMEOUT")
    assert usage == {"calls": 1, "tokens": 0}
