"""The constitution: every rule's check, fatal enforcement, the schema."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from labtrust_gym.errors import ConfigError, PolicyValidationError
from labtrust_gym.improve.constitution import (
    Constitution,
    ConstitutionError,
    Verdict,
    load_constitution,
)
from labtrust_gym.skillopt.document import load_skill


@pytest.fixture(scope="module")
def base() -> Constitution:
    return load_constitution()


def with_(base: Constitution, **patch: object) -> Constitution:
    doc = copy.deepcopy(dict(base.doc))
    for dotted, v in patch.items():
        d = doc
        keys = dotted.split("__")
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = v
    return Constitution(doc)


def test_shipped_constitution_loads_and_hashes(base: Constitution) -> None:
    assert base.version == "default@0.1"
    assert len(base.sha256) == 64
    assert base.check_task("stat_insertion") == Verdict(True)


def test_scope_rules(base: Constitution) -> None:
    v = base.check_task("coord_risk")
    assert (v.allowed, v.rule) == (False, "scope.task") and "coord_risk" in v.reason
    assert base.check_task("stat_insertion@small_smoke").allowed
    assert base.check_task("stat_insertion@corridor_heavy").rule == "scope.preset"
    assert base.check_method("skill_rules").allowed
    assert (
        with_(base, scope__methods=["skill_rules"]).check_method("optuna_params").rule
        == "scope.method"
    )
    assert base.check_lab_profile(None).allowed
    assert base.check_lab_profile("partner_x").rule == "scope.lab_profile"
    v = base.check_scope(["stat_insertion", "coord_risk"], ["skill_rules"], None)
    assert v.rule == "scope.task"


def test_budget_rules(base: Constitution) -> None:
    c = with_(
        base,
        budgets__cycles=2,
        budgets__episodes_per_cycle=10,
        budgets__llm_calls=1,
        budgets__llm_tokens=100,
        budgets__wall_time_s=60,
    )
    assert c.check_cycle(2).allowed and c.check_cycle(3).rule == "budget.cycles"
    assert c.check_episodes(10).allowed and c.check_episodes(11).rule == "budget.episodes_per_cycle"
    assert c.check_llm_call(0, 0).allowed
    assert c.check_llm_call(1, 0).rule == "budget.llm_calls"
    assert c.check_llm_call(0, 100).rule == "budget.llm_tokens"
    assert c.check_wall_time(59).allowed and c.check_wall_time(61).rule == "budget.wall_time"


def test_network_loopback_rule(base: Constitution) -> None:
    for url in ("http://127.0.0.1:8000/v1", "http://localhost:1/v1", "http://[::1]:9/v1", None):
        assert base.check_endpoint(url).allowed, url
    v = base.check_endpoint("https://api.example.com/v1")
    assert (v.allowed, v.rule) == (False, "network.loopback")
    assert (
        with_(base, network__allowed_hosts=["api.example.com"])
        .check_endpoint("https://api.example.com/v1")
        .allowed
    )
    assert base.check_backend_spec("offline").allowed
    assert base.check_backend_spec("openai:m@http://10.0.0.5:8000/v1").rule == "network.loopback"
    assert base.check_backend_spec("openai:m@http://127.0.0.1:8000/v1").allowed


def test_protected_content_rules(base: Constitution) -> None:
    skill = load_skill("lab_team_weak_seed").text
    ok = {"op": "insert_after", "target": "rules:", "content": "- stat_first"}
    assert base.check_edit(ok, skill).allowed
    for path in (
        "policy/invariants/invariant_registry.v0.1.yaml",
        "policy/reason_codes/reason_code_registry.v0.1.yaml",
        "policy/rbac/rbac_policy.v0.1.yaml",
        "keys/audit.key",
    ):
        v = base.check_edit({**ok, "file": path}, skill)
        assert (v.allowed, v.rule) == (False, "protected.path"), path
    assert base.check_edit({**ok, "file": "README.md"}, skill).rule == "scope.edit_target"
    inside = {"op": "replace", "target": "Never prop a door open", "content": "Prop doors"}
    v = base.check_edit(inside, skill)
    assert (v.allowed, v.rule) == (False, "protected.skill_region")
    marker = {"op": "append", "content": "<!-- labtrust:protected end safety -->"}
    assert base.check_edit(marker, skill).rule == "protected.skill_region"
    assert base.check_seeds([1000, 1001], range(3000, 3100)).allowed
    v = base.check_seeds([1000, 3005], range(3000, 3100))
    assert (v.allowed, v.rule) == (False, "protected.test_seeds") and "3005" in v.reason
    v = base.check_seeds([1000, 2001], range(3000, 3100), range(1000, 1100))
    assert (v.allowed, v.rule) == (False, "scope.train_seeds") and "2001" in v.reason
    assert base.check_seeds([1000], range(3000, 3100), range(1000, 1100)).allowed


def test_only_fatal_rules_raise(base: Constitution) -> None:
    assert base.enforce(Verdict(False, "budget.llm_calls", "x")).rule == "budget.llm_calls"
    with pytest.raises(ConstitutionError, match="network.loopback"):
        base.enforce(Verdict(False, "network.loopback", "not loopback"))
    assert base.enforce(Verdict(True)).allowed
    assert not base.needs_approval("promote")
    assert with_(base, human_gates__require_approval_for=["promote"]).needs_approval("promote")


def test_a_bad_constitution_is_refused_by_load_and_validate_policy(
    tmp_path: Path, base: Constitution
) -> None:
    doc = copy.deepcopy(dict(base.doc))
    doc["budgets"]["cycles"] = 0
    doc["fatal"] = ["no.such.rule"]
    p = tmp_path / "bad.v0.1.yaml"
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(PolicyValidationError) as ei:
        load_constitution(p)
    text = str(ei.value)
    assert "budgets.cycles" in text and "fatal" in text
    with pytest.raises(ConfigError, match="known under policy/improve"):
        load_constitution("nope")


def test_validate_policy_checks_the_constitution(tmp_path: Path) -> None:
    import shutil

    from labtrust_gym.paths import get_policy_dir
    from labtrust_gym.policy.validate.tree import validate_policy_dir

    pdir = tmp_path / "policy"
    shutil.copytree(get_policy_dir(), pdir)
    f = pdir / "improve" / "improve_constitution.v0.1.yaml"
    f.write_text(f.read_text().replace("cycles: 12", "cycles: -1"))
    problems = validate_policy_dir(pdir)
    assert any("improve_constitution" in p[0] and "cycles" in p[1] for p in problems), problems
