"""The attack catalogue: what it covers, and the problems its loader reports."""

from __future__ import annotations

from typing import Any

from _sec_helpers import attack, shipped_suite

from labtrust_gym.config import get_policy_dir
from labtrust_gym.policy.validate import validate_document, validate_policy_dir
from labtrust_gym.security.catalogue import SECURITY_SUITE_FILE, check_catalogue

#: The categories issue 11 asks for (prompt injection is a slot the LLM package fills).
REQUIRED = {
    "RBAC",
    "TOKEN",
    "SIGNATURE",
    "AUDIT",
    "DOOR",
    "QUEUE",
    "QC",
    "CRITICAL",
    "CUSTODY",
    "BUS",
    "IDENTITY",
}


def test_the_catalogue_covers_the_attack_surface() -> None:
    suite = shipped_suite()
    attacks = suite["attacks"]
    assert len(attacks) >= 40
    cats = suite["categories"]
    assert set(cats) == REQUIRED | {"PROMPT_INJECTION"}
    per_cat: dict[str, int] = {}
    for a in attacks:
        per_cat[a["category"]] = per_cat.get(a["category"], 0) + 1
        assert a["control"] in suite["controls"]
        assert a["scenario"]["kind"] in ("engine", "bus", "episode", "callable")
    assert set(per_cat) == REQUIRED | {"PROMPT_INJECTION"}
    assert min(per_cat[c] for c in REQUIRED) >= 4, per_cat
    assert per_cat["PROMPT_INJECTION"] >= 2, per_cat
    # Most attacks are scripted (fast and precise); the five attack episodes stay.
    kinds = [a["scenario"]["kind"] for a in attacks]
    assert kinds.count("engine") + kinds.count("bus") >= 60
    for aid in (
        "SEC-DISRUPT-001",
        "SEC-KEY-MISUSE-001",
        "SEC-ID-SPOOF-001",
        "SEC-MSG-POISON-001",
        "SEC-COLLUSION-001",
    ):
        assert attack(suite, aid)["scenario"]["kind"] == "episode"
    # Each targeted control is attacked at least once; the tokens' three controls too.
    assert {"TOKEN-VALIDITY", "TOKEN-SCOPE", "TOKEN-SOD"} <= {a["control"] for a in attacks}
    assert validate_policy_dir() == []


def _problems(doc: dict[str, Any]) -> list[str]:
    schema = validate_document(get_policy_dir(), SECURITY_SUITE_FILE, doc, "suite.yaml")
    if schema:
        return [f"{p}: {m}" for _, p, m in schema]
    return [f"{p}: {m}" for _, p, m in check_catalogue(doc, "suite.yaml")]


def test_the_loader_names_every_problem() -> None:
    suite = shipped_suite()
    suite.pop("source")
    a = attack(suite, "SEC-RBAC-002")
    a["category"] = "WIZARDRY"
    a["control"] = "NO-SUCH-CONTROL"
    attack(suite, "SEC-RBAC-003")["attack_id"] = "SEC-RBAC-002"
    attack(suite, "SEC-RBAC-004")["scenario"]["attack"][0]["event"].pop("agent_id")
    attack(suite, "SEC-TOKEN-001")["scenario"]["fixture"] = "nowhere"
    attack(suite, "SEC-AUDIT-004")["scenario"]["attack"][0]["replay"]["step"] = "later"
    attack(suite, "SEC-SIG-004")["scenario"]["attack"][0]["sign"]["key_id"] = "K_NONE"
    attack(suite, "SEC-BUS-003")["scenario"]["steps"][1]["replay"]["step"] = "nothing"
    attack(suite, "SEC-BUS-005")["scenario"]["roles"]["A_SUPERVISOR_01"] = "ROLE_WIZARD"
    attack(suite, "SEC-KEY-MISUSE-001")["scenario"]["task"] = "no_task"
    attack(suite, "SEC-RBAC-001")["scenario"]["expect_state"][0]["query"] = "horoscope"
    got = "\n".join(_problems(suite))
    for needle in (
        "(SEC-RBAC-002).category: 'WIZARDRY' is not declared under categories",
        "(SEC-RBAC-002).control: 'NO-SUCH-CONTROL' is not declared under controls",
        "(SEC-RBAC-002).attack_id: SEC-RBAC-002 is also attacks[",
        "(SEC-RBAC-004).scenario.attack[0].event",
        "'agent_id' is a required property",
        "(SEC-TOKEN-001).scenario.fixture: no fixture 'nowhere'",
        "(SEC-AUDIT-004).scenario: replay of 'later', which is not the id of an earlier step",
        "(SEC-SIG-004).scenario: steps[0].sign.key_id: 'K_NONE' is not in "
        "initial_state.keys_from_seeds",
        "(SEC-BUS-003).scenario.steps[1].replay.step: 'nothing' is not the id of an earlier "
        "publish or forge step",
        "(SEC-BUS-005).scenario.roles.A_SUPERVISOR_01: role 'ROLE_WIZARD'",
        "(SEC-KEY-MISUSE-001).scenario.task: unknown task 'no_task'",
        "(SEC-RBAC-001).scenario.expect_state[0]",
    ):
        assert needle in got, needle


def test_the_schema_refuses_a_blocked_expectation_without_a_reason_code() -> None:
    suite = shipped_suite()
    suite.pop("source")
    attack(suite, "SEC-RBAC-002")["scenario"]["attack"][0]["expect"].pop("blocked_reason_code")
    assert any("blocked_reason_code" in p for p in _problems(suite))
