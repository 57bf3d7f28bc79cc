"""Policy validation: the shipped policy is valid, and each kind of breakage is reported with
the right file, path and a useful message."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from labtrust_gym.cli.main import main
from labtrust_gym.errors import PolicyError, PolicyValidationError
from labtrust_gym.policy.loader import POLICY_FILES, load_policy
from labtrust_gym.policy.validate import (
    format_path,
    raise_for_problems,
    validate_documents,
    validate_policy_dir,
)

POLICY_SRC = Path(__file__).resolve().parents[2] / "policy"


@pytest.fixture
def pdir(tmp_path: Path) -> Path:
    dst = tmp_path / "policy"
    shutil.copytree(POLICY_SRC, dst)
    return dst


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _read(pdir: Path, name: str) -> Any:
    return yaml.load((pdir / POLICY_FILES[name]).read_text(encoding="utf-8"), Loader=_Loader)


def _write(pdir: Path, name: str, doc: Any) -> None:
    text = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    (pdir / POLICY_FILES[name]).write_text(text, encoding="utf-8")


def _idx(items: list[dict[str, Any]], key: str, value: str) -> int:
    for i, item in enumerate(items):
        if item.get(key) == value:
            return i
    raise AssertionError(f"no item with {key}={value!r} in the shipped policy")


def _edge_idx(doc: dict[str, Any], a: str, b: str) -> int:
    for i, e in enumerate(doc["edges"]):
        if {e["a"], e["b"]} == {a, b}:
            return i
    raise AssertionError(f"no edge {a} - {b}")


def _door_idx(doc: dict[str, Any], kind: str) -> int:
    return _idx(doc["doors"], "kind", kind)


def _fmt(problems: list[tuple[str, str, str]]) -> str:
    return "\n".join(f"  {f}: {p}: {m}" for f, p, m in problems) or "  (none)"


def _assert_problem(
    problems: list[tuple[str, str, str]],
    file: Path,
    path: str,
    fragments: tuple[str, ...],
) -> None:
    for f, p, m in problems:
        if f == str(file) and p == path and all(fr in m for fr in fragments):
            return
    raise AssertionError(
        f"expected a problem in {file.name} at {path!r} mentioning {fragments}; got:\n"
        + _fmt(problems)
    )


# --------------------------------------------------------------------------------------
# The shipped policy
# --------------------------------------------------------------------------------------


def test_shipped_policy_has_no_problems() -> None:
    problems = validate_policy_dir(POLICY_SRC)
    assert problems == [], _fmt(problems)


def test_every_policy_file_has_a_schema() -> None:
    for rel in POLICY_FILES.values():
        stem = Path(rel).name[: -len(".yaml")]
        schema = POLICY_SRC / "schemas" / f"{stem}.schema.json"
        doc = json.loads(schema.read_text(encoding="utf-8"))
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert "version" in doc["required"]


def test_loader_bundle_has_stable_fingerprint(pdir: Path) -> None:
    first = load_policy(POLICY_SRC)
    again = load_policy(POLICY_SRC)
    copy = load_policy(pdir)
    assert len(first.fingerprint) == 64
    int(first.fingerprint, 16)
    assert first.fingerprint == again.fingerprint == copy.fingerprint
    assert set(first.docs) == set(POLICY_FILES)
    # the frozen documents of a bundle validate as they are
    assert validate_documents(copy.policy_dir, copy.docs, copy.sources) == []


def test_loader_rejects_invalid_policy(pdir: Path) -> None:
    doc = _read(pdir, "equipment_registry")
    doc["devices"][0]["device_type"] = "FOO"
    _write(pdir, "equipment_registry", doc)
    with pytest.raises(PolicyValidationError) as info:
        load_policy(pdir)
    assert any(p == "devices[0].device_type" for _, p, _ in info.value.problems)
    assert "FOO" in str(info.value)


def test_raise_for_problems() -> None:
    raise_for_problems([])
    with pytest.raises(PolicyValidationError, match="1 policy problem"):
        raise_for_problems([("f.yaml", "a.b", "broken")])


def test_format_path() -> None:
    assert format_path(["zones", 3, "site_id"]) == "zones[3].site_id"
    assert format_path([]) == ""
    assert format_path(["a b", 0]) == '["a b"][0]'


# --------------------------------------------------------------------------------------
# Breakages: (file to mutate, mutation returning the expected path, file expected in the
# problem, fragments of the message)
# --------------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], str]


def _m_drop_travel(d: dict[str, Any]) -> str:
    del d["edges"][0]["travel_s"]
    return "edges[0]"


def _m_zone_kind(d: dict[str, Any]) -> str:
    i = _idx(d["zones"], "zone_id", "Z_STORES")
    d["zones"][i]["kind"] = "lobby"
    return f"zones[{i}].kind"


def _m_zone_id_pattern(d: dict[str, Any]) -> str:
    d["zones"].append({"zone_id": "zone-9", "site_id": "SITE_HUB", "kind": "office"})
    return f"zones[{len(d['zones']) - 1}].zone_id"


def _m_device_id_pattern(d: dict[str, Any]) -> str:
    d["maintenance_windows"][0]["device_id"] = "DEV_CHEM_2"
    return "maintenance_windows[0].device_id"


def _m_travel_type(d: dict[str, Any]) -> str:
    d["edges"][1]["travel_s"] = "ten"
    return "edges[1].travel_s"


def _m_travel_zero(d: dict[str, Any]) -> str:
    d["edges"][1]["travel_s"] = 0
    return "edges[1].travel_s"


def _m_version_float(d: dict[str, Any]) -> str:
    d["version"] = 0.1
    return "version"


def _m_version_missing(d: dict[str, Any]) -> str:
    del d["version"]
    return ""


def _m_unknown_field(d: dict[str, Any]) -> str:
    d["priorities"]["STAT"]["target"] = 100
    return "priorities.STAT.target"


def _m_missing_priority(d: dict[str, Any]) -> str:
    del d["priorities"]["URGENT"]
    return "priorities"


def _m_severity(d: dict[str, Any]) -> str:
    d["invariants"][2]["severity"] = "urgent"
    return "invariants[2].severity"


def _m_door_kind(d: dict[str, Any]) -> str:
    i = _door_idx(d, "standard")
    d["doors"][i]["kind"] = "secret"
    return f"doors[{i}].kind"


def _m_restricted_no_token(d: dict[str, Any]) -> str:
    i = _door_idx(d, "restricted")
    del d["doors"][i]["token_type"]
    return f"doors[{i}]"


def _m_door_one_zone(d: dict[str, Any]) -> str:
    i = _door_idx(d, "standard")
    d["doors"][i]["zones"] = d["doors"][i]["zones"][:1]
    return f"doors[{i}].zones"


def _m_agent_id(d: dict[str, Any]) -> str:
    d["agents"].append({"agent_id": "AGENT_1", "role": "ROLE_RUNNER", "home_zone": "Z_CORRIDOR"})
    return f"agents[{len(d['agents']) - 1}].agent_id"


def _m_role_key(d: dict[str, Any]) -> str:
    d["roles"]["RUNNER"] = d["roles"]["ROLE_RUNNER"]
    return "roles.RUNNER"


def _m_empty_threshold(d: dict[str, Any]) -> str:
    d["thresholds"]["K"] = {}
    return "thresholds.K"


def _m_outcome(d: dict[str, Any]) -> str:
    d["rules"][0]["outcome"] = "ACCEPTED"
    return "rules[0].outcome"


def _m_emit_lower(d: dict[str, Any]) -> str:
    d["emits"].append("run_started")
    return f"emits[{len(d['emits']) - 1}]"


def _m_per_run(d: dict[str, Any]) -> str:
    d["reagents"]["RG_CHEM_UE"]["per_run"] = 0
    return "reagents.RG_CHEM_UE.per_run"


def _m_capacity_float(d: dict[str, Any]) -> str:
    d["device_types"]["CHEM"]["capacity"] = 1.5
    return "device_types.CHEM.capacity"


def _m_p_critical(d: dict[str, Any]) -> str:
    d["panels"]["UE"]["analytes"]["K"]["p_critical"] = 1.5
    return "panels.UE.analytes.K.p_critical"


def _m_dup_zone_kind(d: dict[str, Any]) -> str:
    d["roles"]["ROLE_QC"]["zone_kinds"].append("corridor")
    return "roles.ROLE_QC.zone_kinds"


def _m_bool_code(d: dict[str, Any]) -> str:
    d["reason_codes"][0]["code"] = True
    return "reason_codes[0].code"


# cross-references --------------------------------------------------------------------


def _m_zone_site(d: dict[str, Any]) -> str:
    i = _idx(d["zones"], "zone_id", "Z_STORES")
    d["zones"][i]["site_id"] = "SITE_MARS"
    return f"zones[{i}].site_id"


def _m_reception_unknown(d: dict[str, Any]) -> str:
    i = _idx(d["sites"], "site_id", "SITE_HUB")
    d["sites"][i]["reception_zone"] = "Z_NOWHERE"
    return f"sites[{i}].reception_zone"


def _m_reception_other_site(d: dict[str, Any]) -> str:
    i = _idx(d["sites"], "site_id", "SITE_HUB")
    d["sites"][i]["reception_zone"] = "Z_ACUTE_RECEPTION"
    return f"sites[{i}].reception_zone"


def _m_dispatch_kind(d: dict[str, Any]) -> str:
    i = _idx(d["sites"], "site_id", "SITE_HUB")
    d["sites"][i]["dispatch_zone"] = "Z_CORRIDOR"
    return f"sites[{i}].dispatch_zone"


def _m_edge_endpoint(d: dict[str, Any]) -> str:
    d["edges"].append({"a": "Z_CORRIDOR", "b": "Z_NOWHERE", "travel_s": 5})
    return f"edges[{len(d['edges']) - 1}].b"


def _m_self_loop(d: dict[str, Any]) -> str:
    d["edges"].append({"a": "Z_CORRIDOR", "b": "Z_CORRIDOR", "travel_s": 5})
    return f"edges[{len(d['edges']) - 1}].b"


def _m_dup_edge(d: dict[str, Any]) -> str:
    e = d["edges"][0]
    d["edges"].append({"a": e["b"], "b": e["a"], "travel_s": 3})
    return f"edges[{len(d['edges']) - 1}]"


def _m_cross_site_edge(d: dict[str, Any]) -> str:
    d["edges"].append({"a": "Z_DISPATCH", "b": "Z_ACUTE_DISPATCH", "travel_s": 600})
    return f"edges[{len(d['edges']) - 1}]"


def _m_unreachable_zone(d: dict[str, Any]) -> str:
    d["zones"].append({"zone_id": "Z_ISLAND", "site_id": "SITE_HUB", "kind": "office"})
    return f"zones[{len(d['zones']) - 1}]"


def _m_edge_door_unknown(d: dict[str, Any]) -> str:
    i = _edge_idx(d, "Z_CORRIDOR", "Z_STORES")
    d["edges"][i]["door_id"] = "D_GHOST"
    return f"edges[{i}].door_id"


def _m_door_zones_mismatch(d: dict[str, Any]) -> str:
    j = _door_idx(d, "standard")
    door = d["doors"][j]
    i = _edge_idx(d, *door["zones"])
    door["zones"] = [door["zones"][0], "Z_CORRIDOR"]
    return f"edges[{i}].door_id"


def _m_door_unused(d: dict[str, Any]) -> str:
    d["doors"].append(
        {
            "door_id": "D_SPARE",
            "zones": ["Z_CORRIDOR", "Z_OFFICE"],
            "kind": "standard",
            "max_open_s": 60,
        }
    )
    return f"doors[{len(d['doors']) - 1}]"


def _m_door_token(d: dict[str, Any]) -> str:
    i = _door_idx(d, "restricted")
    d["doors"][i]["token_type"] = "NO_SUCH_TOKEN"
    return f"doors[{i}].token_type"


def _m_standard_door_token(d: dict[str, Any]) -> str:
    i = _door_idx(d, "standard")
    d["doors"][i]["token_type"] = "RESTRICTED_ENTRY"
    return f"doors[{i}].token_type"


def _m_place_unknown_device(d: dict[str, Any]) -> str:
    d["device_placement"].append({"device_id": "DEV_CHEM_0099", "zone_id": "Z_ANALYTICS"})
    return f"device_placement[{len(d['device_placement']) - 1}].device_id"


def _m_place_unknown_zone(d: dict[str, Any]) -> str:
    d["device_placement"][0]["zone_id"] = "Z_NOWHERE"
    return "device_placement[0].zone_id"


def _m_place_twice(d: dict[str, Any]) -> str:
    d["device_placement"].append(dict(d["device_placement"][0]))
    return f"device_placement[{len(d['device_placement']) - 1}].device_id"


def _m_device_type(d: dict[str, Any]) -> str:
    i = _idx(d["devices"], "device_id", "DEV_COAG_0002")
    d["devices"][i]["device_type"] = "FOO"
    return f"devices[{i}].device_type"


def _m_dup_device(d: dict[str, Any]) -> str:
    d["devices"].append(dict(d["devices"][0]))
    return f"devices[{len(d['devices']) - 1}].device_id"


def _m_maint_device(d: dict[str, Any]) -> str:
    d["maintenance_windows"].append({"device_id": "DEV_CHEM_0099", "start_s": 0, "duration_s": 60})
    return f"maintenance_windows[{len(d['maintenance_windows']) - 1}].device_id"


def _m_service_panel(d: dict[str, Any]) -> str:
    d["device_types"]["CHEM"]["service_s"]["NOPE"] = 100
    return "device_types.CHEM.service_s.NOPE"


def _m_panel_tube(d: dict[str, Any]) -> str:
    d["panels"]["UE"]["tube_type"] = "HEPARIN"
    return "panels.UE.tube_type"


def _m_panel_analyzer_kind(d: dict[str, Any]) -> str:
    d["panels"]["UE"]["analyzer_type"] = "CENTRIFUGE"
    return "panels.UE.analyzer_type"


def _m_panel_analyzer_unknown(d: dict[str, Any]) -> str:
    d["panels"]["FBC"]["analyzer_type"] = "MICRO"
    return "panels.FBC.analyzer_type"


def _m_panel_reagent(d: dict[str, Any]) -> str:
    d["panels"]["UE"]["reagent_id"] = "RG_NOPE"
    return "panels.UE.reagent_id"


def _m_panel_reagent_mismatch(d: dict[str, Any]) -> str:
    d["panels"]["UE"]["reagent_id"] = "RG_HAEM_FBC"
    return "panels.UE.reagent_id"


def _m_no_threshold(d: dict[str, Any]) -> str:
    del d["thresholds"]["K"]
    return "panels.UE.analytes.K"


def _m_not_critical(d: dict[str, Any]) -> str:
    d["thresholds"]["K"] = {"low": 2.5, "high": 7.0}
    return "panels.UE.analytes.K.critical_value"


def _m_threshold_orphan(d: dict[str, Any]) -> str:
    d["thresholds"]["XYZ"] = {"high": 1.0}
    return "thresholds.XYZ"


def _m_threshold_inverted(d: dict[str, Any]) -> str:
    d["thresholds"]["NA"] = {"low": 160.0, "high": 120.0}
    return "thresholds.NA"


def _m_stab_tube(d: dict[str, Any]) -> str:
    d["stability"][0]["tube_type"] = "HEPARIN"
    return "stability[0].tube_type"


def _m_stab_band(d: dict[str, Any]) -> str:
    d["stability"][1]["temp_band"] = "FROZEN"
    return "stability[1].temp_band"


def _m_stab_missing_tube(d: dict[str, Any]) -> str:
    i = _idx(d["stability"], "tube_type", "CITRATE")
    del d["stability"][i]
    return "stability"


def _m_route_site(d: dict[str, Any]) -> str:
    d["routes"][0]["to_site"] = "SITE_MARS"
    return "routes[0].to_site"


def _m_route_loop(d: dict[str, Any]) -> str:
    d["routes"][0]["to_site"] = d["routes"][0]["from_site"]
    return "routes[0].to_site"


def _m_route_band(d: dict[str, Any]) -> str:
    d["routes"][0]["temp_band"] = "FROZEN"
    return "routes[0].temp_band"


def _m_route_max_transit(d: dict[str, Any]) -> str:
    d["routes"][0]["max_transit_s"] = d["routes"][0]["transit_s"] - 1
    return "routes[0].max_transit_s"


def _m_role_action(d: dict[str, Any]) -> str:
    d["roles"]["ROLE_RUNNER"]["actions"].append("FLY")
    return f"roles.ROLE_RUNNER.actions[{len(d['roles']['ROLE_RUNNER']['actions']) - 1}]"


def _m_open_action(d: dict[str, Any]) -> str:
    d["open_actions"].append("DANCE")
    return f"open_actions[{len(d['open_actions']) - 1}]"


def _m_office_kind(d: dict[str, Any]) -> str:
    for z in d["zones"]:
        if z["kind"] == "office":
            z["kind"] = "corridor"
    return "roles.ROLE_SUPERVISOR.zone_kinds[{}]"


def _m_role_device_type(d: dict[str, Any]) -> str:
    d["roles"]["ROLE_QC"]["device_types"].append("MICRO")
    return f"roles.ROLE_QC.device_types[{len(d['roles']['ROLE_QC']['device_types']) - 1}]"


def _m_agent_role(d: dict[str, Any]) -> str:
    d["agents"][0]["role"] = "ROLE_JANITOR"
    return "agents[0].role"


def _m_agent_home(d: dict[str, Any]) -> str:
    d["agents"][0]["home_zone"] = "Z_NOWHERE"
    return "agents[0].home_zone"


def _m_agent_home_kind(d: dict[str, Any]) -> str:
    i = _idx(d["agents"], "role", "ROLE_RECEPTION")
    d["agents"][i]["home_zone"] = "Z_BIOBANK"
    return f"agents[{i}].home_zone"


def _m_dup_agent(d: dict[str, Any]) -> str:
    d["agents"].append(dict(d["agents"][0]))
    return f"agents[{len(d['agents']) - 1}].agent_id"


def _m_token_approver(d: dict[str, Any]) -> str:
    d["token_types"]["HOLD_OVERRIDE"]["approver_roles"].append("ROLE_GHOST")
    n = len(d["token_types"]["HOLD_OVERRIDE"]["approver_roles"]) - 1
    return f"token_types.HOLD_OVERRIDE.approver_roles[{n}]"


def _m_token_approver_flag(d: dict[str, Any]) -> str:
    d["token_types"]["HOLD_OVERRIDE"]["approver_roles"].append("ROLE_RUNNER")
    n = len(d["token_types"]["HOLD_OVERRIDE"]["approver_roles"]) - 1
    return f"token_types.HOLD_OVERRIDE.approver_roles[{n}]"


def _m_token_subject(d: dict[str, Any]) -> str:
    d["token_types"]["HOLD_OVERRIDE"]["subject_roles"].append("ROLE_GHOST")
    n = len(d["token_types"]["HOLD_OVERRIDE"]["subject_roles"]) - 1
    return f"token_types.HOLD_OVERRIDE.subject_roles[{n}]"


def _m_token_action(d: dict[str, Any]) -> str:
    d["token_types"]["HOLD_OVERRIDE"]["allowed_action_types"].append("TELEPORT")
    n = len(d["token_types"]["HOLD_OVERRIDE"]["allowed_action_types"]) - 1
    return f"token_types.HOLD_OVERRIDE.allowed_action_types[{n}]"


def _m_drop_reason_code(d: dict[str, Any]) -> str:
    i = _idx(d["reason_codes"], "code", "SPEC_LEAKING")
    del d["reason_codes"][i]
    return "rules[{}].reason_code"


def _m_inv_reason_code(d: dict[str, Any]) -> str:
    d["invariants"][0]["reason_code"] = "INV_NOT_REGISTERED"
    return "invariants[0].reason_code"


def _m_dup_reason_code(d: dict[str, Any]) -> str:
    d["reason_codes"].append(dict(d["reason_codes"][0]))
    return f"reason_codes[{len(d['reason_codes']) - 1}].code"


def _m_dup_emit(d: dict[str, Any]) -> str:
    d["emits"].append(d["emits"][0])
    return f"emits[{len(d['emits']) - 1}]"


def _m_dup_invariant(d: dict[str, Any]) -> str:
    d["invariants"].append(dict(d["invariants"][0]))
    return f"invariants[{len(d['invariants']) - 1}].invariant_id"


def _m_trigger(d: dict[str, Any]) -> str:
    d["invariants"][1]["triggers"].append("SOMETIMES")
    return f"invariants[1].triggers[{len(d['invariants'][1]['triggers']) - 1}]"


def _m_downtime_channel(d: dict[str, Any]) -> str:
    d["downtime_channels"].append("PIGEON")
    return f"downtime_channels[{len(d['downtime_channels']) - 1}]"


def _m_tier_numbers(d: dict[str, Any]) -> str:
    d["tiers"][1]["tier"] = 3
    return "tiers[1].tier"


def _m_sla_ranks(d: dict[str, Any]) -> str:
    d["priorities"]["URGENT"]["rank"] = d["priorities"]["STAT"]["rank"]
    return "priorities.URGENT.rank"


def _m_sla_order(d: dict[str, Any]) -> str:
    d["priorities"]["STAT"]["target_tat_s"] = 99999
    return "priorities.STAT.target_tat_s"


def _m_reagent_analyzer(d: dict[str, Any]) -> str:
    d["reagents"]["RG_HAEM_FBC"]["analyzer_type"] = "CENTRIFUGE"
    return "reagents.RG_HAEM_FBC.analyzer_type"


def _m_inventory_site(d: dict[str, Any]) -> str:
    d["stores_inventory"]["SITE_MARS"] = {"RG_CHEM_UE": 1}
    return "stores_inventory.SITE_MARS"


def _m_inventory_reagent(d: dict[str, Any]) -> str:
    d["stores_inventory"]["SITE_HUB"]["RG_NOPE"] = 5
    return "stores_inventory.SITE_HUB.RG_NOPE"


def _m_dup_rule(d: dict[str, Any]) -> str:
    d["rules"].append(dict(d["rules"][0]))
    return f"rules[{len(d['rules']) - 1}].rule_id"


def _m_rule_tube(d: dict[str, Any]) -> str:
    d["rules"][0]["tube_types"] = ["HEPARIN"]
    return "rules[0].tube_types[0]"


ZL, SP, EQ, CAT = "zone_layout", "sites_policy", "equipment_registry", "test_catalogue"
STAB, ACC, RG, RBAC = "stability_policy", "acceptance_rules", "reagent_policy", "rbac_policy"
TOK, CT, LAD = "token_registry", "critical_thresholds", "escalation_ladder"
INV, RC, EM, SLA = "invariant_registry", "reason_code_registry", "emits_vocab", "sla_targets"


def _case(
    case_id: str, target: str, mutate: Mutation, *fragments: str, expect: str | None = None
) -> Any:
    """Mutate ``target`` with ``mutate`` (which returns the expected path); the problem must
    name ``expect`` (default: the mutated file) and contain every fragment."""
    return pytest.param(target, mutate, expect or target, fragments, id=case_id)


CASES = [
    _case("missing-field", ZL, _m_drop_travel, "missing required field 'travel_s'"),
    _case("bad-enum", ZL, _m_zone_kind, "'lobby'", "reception", "dispatch"),
    _case("zone-id-pattern", ZL, _m_zone_id_pattern, "'zone-9'", "^Z_", "Z_RECEPTION"),
    _case("device-id-pattern", EQ, _m_device_id_pattern, "DEV_CHEM_2", "pattern"),
    _case("wrong-type", ZL, _m_travel_type, "expected a number", "'ten'"),
    _case("non-positive", ZL, _m_travel_zero, "must be > 0", "got 0"),
    _case("version-float", SLA, _m_version_float, 'must be the string "0.1"'),
    _case("version-missing", EM, _m_version_missing, "missing required field 'version'"),
    _case("unknown-field", SLA, _m_unknown_field, "unknown field 'target'", "target_tat_s"),
    _case("missing-priority", SLA, _m_missing_priority, "'URGENT'"),
    _case("severity-enum", INV, _m_severity, "'urgent'", "critical, high, medium, low"),
    _case("door-kind", ZL, _m_door_kind, "'secret'", "standard, restricted"),
    _case(
        "restricted-door-token-missing",
        ZL,
        _m_restricted_no_token,
        "'token_type'",
        "restricted door",
    ),
    _case("door-one-zone", ZL, _m_door_one_zone, "exactly 2"),
    _case("agent-id-pattern", RBAC, _m_agent_id, "'AGENT_1'", "^A_"),
    _case("role-key-pattern", RBAC, _m_role_key, "key 'RUNNER'", "^ROLE_"),
    _case("empty-threshold", CT, _m_empty_threshold, "at least 1", "low and high"),
    _case("outcome-enum", ACC, _m_outcome, "'ACCEPTED'", "HELD, REJECTED"),
    _case("emit-pattern", EM, _m_emit_lower, "'run_started'", "pattern"),
    _case("minimum", RG, _m_per_run, "must be >= 1", "got 0"),
    _case("integer", EQ, _m_capacity_float, "expected an integer", "1.5"),
    _case("maximum", CAT, _m_p_critical, "must be <= 1"),
    _case("unique-items", RBAC, _m_dup_zone_kind, "duplicate item(s): corridor"),
    _case("yaml-boolean", RC, _m_bool_code, "expected a string", "quote"),
    # cross-references
    _case("zone-site", ZL, _m_zone_site, "SITE_MARS", "SITE_HUB", "SITE_ACUTE"),
    _case("reception-unknown", SP, _m_reception_unknown, "'Z_NOWHERE'", "not a zone"),
    _case("reception-other-site", SP, _m_reception_other_site, "belongs to site SITE_ACUTE"),
    _case("dispatch-kind", SP, _m_dispatch_kind, "kind 'corridor'", "kind dispatch"),
    _case("edge-endpoint", ZL, _m_edge_endpoint, "'Z_NOWHERE'", "is not a zone"),
    _case("self-loop", ZL, _m_self_loop, "Z_CORRIDOR to itself"),
    _case("duplicate-edge", ZL, _m_dup_edge, "duplicate edge", "edges[0]"),
    _case("cross-site-edge", ZL, _m_cross_site_edge, "different sites", "routes"),
    _case("unreachable-zone", ZL, _m_unreachable_zone, "Z_ISLAND", "cannot be reached"),
    _case("edge-door-unknown", ZL, _m_edge_door_unknown, "'D_GHOST'", "not declared"),
    _case("door-zones-mismatch", ZL, _m_door_zones_mismatch, "match the edge"),
    _case("door-unused", ZL, _m_door_unused, "D_SPARE", "no edge uses it"),
    _case("door-token-unknown", ZL, _m_door_token, "'NO_SUCH_TOKEN'", "RESTRICTED_ENTRY"),
    _case("standard-door-token", ZL, _m_standard_door_token, "only restricted doors"),
    _case("placement-device", ZL, _m_place_unknown_device, "'DEV_CHEM_0099'", "DEV_CHEM_0001"),
    _case("placement-zone", ZL, _m_place_unknown_zone, "'Z_NOWHERE'"),
    _case("placement-twice", ZL, _m_place_twice, "placed twice"),
    _case(
        "device-type",
        EQ,
        _m_device_type,
        "device_type 'FOO'",
        "not in device_types",
        "CENTRIFUGE",
        "add it or fix the type",
    ),
    _case("device-duplicate", EQ, _m_dup_device, "declared twice"),
    _case("maintenance-device", EQ, _m_maint_device, "'DEV_CHEM_0099'"),
    _case("service-panel", EQ, _m_service_panel, "'NOPE'", "not a panel"),
    _case("panel-tube", CAT, _m_panel_tube, "'HEPARIN'", "EDTA"),
    _case("panel-analyzer-kind", CAT, _m_panel_analyzer_kind, "kind 'centrifuge'", "CHEM"),
    _case("panel-analyzer-unknown", CAT, _m_panel_analyzer_unknown, "'MICRO'", "HAEM"),
    _case("panel-reagent", CAT, _m_panel_reagent, "'RG_NOPE'", "RG_CHEM_UE"),
    _case(
        "panel-reagent-analyzer",
        CAT,
        _m_panel_reagent_mismatch,
        "analyzer type HAEM",
        "runs on CHEM",
    ),
    _case("analyte-no-threshold", CT, _m_no_threshold, "p_critical", "thresholds.K", expect=CAT),
    _case("analyte-not-critical", CT, _m_not_critical, "not critical", expect=CAT),
    _case("threshold-orphan", CT, _m_threshold_orphan, "XYZ", "no panel"),
    _case("threshold-inverted", CT, _m_threshold_inverted, "not below high"),
    _case("stability-tube", STAB, _m_stab_tube, "'HEPARIN'"),
    _case("stability-band", STAB, _m_stab_band, "'FROZEN'", "AMBIENT"),
    _case("stability-missing-tube", STAB, _m_stab_missing_tube, "CITRATE", "no stability entry"),
    _case("route-site", SP, _m_route_site, "'SITE_MARS'"),
    _case("route-loop", SP, _m_route_loop, "must differ"),
    _case("route-band", SP, _m_route_band, "'FROZEN'", "temperature_bands"),
    _case("route-max-transit", SP, _m_route_max_transit, "late"),
    _case("role-action", RBAC, _m_role_action, "'FLY'", "not an engine action type", "MOVE"),
    _case("open-action", RBAC, _m_open_action, "'DANCE'"),
    _case("role-zone-kind-unused", ZL, _m_office_kind, "'office'", "no zone", expect=RBAC),
    _case("role-device-type", RBAC, _m_role_device_type, "'MICRO'"),
    _case("agent-role", RBAC, _m_agent_role, "'ROLE_JANITOR'", "ROLE_RUNNER"),
    _case("agent-home", RBAC, _m_agent_home, "'Z_NOWHERE'"),
    _case("agent-home-kind", RBAC, _m_agent_home_kind, "kind restricted"),
    _case("agent-duplicate", RBAC, _m_dup_agent, "declared twice"),
    _case("token-approver", TOK, _m_token_approver, "'ROLE_GHOST'"),
    _case("token-approver-flag", TOK, _m_token_approver_flag, "approves_tokens: true"),
    _case("token-subject", TOK, _m_token_subject, "'ROLE_GHOST'", "subject_roles"),
    _case("token-action", TOK, _m_token_action, "'TELEPORT'"),
    _case(
        "acceptance-reason-code",
        RC,
        _m_drop_reason_code,
        "'SPEC_LEAKING'",
        "register it",
        expect=ACC,
    ),
    _case("invariant-reason-code", INV, _m_inv_reason_code, "'INV_NOT_REGISTERED'"),
    _case("reason-code-duplicate", RC, _m_dup_reason_code, "registered twice"),
    _case("emit-duplicate", EM, _m_dup_emit, "listed twice"),
    _case("invariant-duplicate", INV, _m_dup_invariant, "declared twice"),
    _case("invariant-trigger", INV, _m_trigger, "'SOMETIMES'", "CLOCK"),
    _case("ladder-downtime-channel", LAD, _m_downtime_channel, "'PIGEON'", "PHONE"),
    _case("ladder-tiers", LAD, _m_tier_numbers, "1..n", "expected 2"),
    _case("sla-ranks", SLA, _m_sla_ranks, "distinct"),
    _case("sla-order", SLA, _m_sla_order, "looser"),
    _case("reagent-analyzer", RG, _m_reagent_analyzer, "kind 'centrifuge'"),
    _case("inventory-site", RG, _m_inventory_site, "'SITE_MARS'"),
    _case("inventory-reagent", RG, _m_inventory_reagent, "'RG_NOPE'"),
    _case("rule-duplicate", ACC, _m_dup_rule, "declared twice"),
    _case("rule-tube-type", ACC, _m_rule_tube, "'HEPARIN'"),
]


def _resolve_placeholder(pdir: Path, case_id: str, path: str) -> str:
    """Some mutations point at another file whose index they cannot see; fill it in."""
    if "{}" not in path:
        return path
    if case_id == "acceptance-reason-code":
        rules = _read(pdir, "acceptance_rules")["rules"]
        return path.format(_idx(rules, "reason_code", "SPEC_LEAKING"))
    if case_id == "role-zone-kind-unused":
        kinds = _read(pdir, "rbac_policy")["roles"]["ROLE_SUPERVISOR"]["zone_kinds"]
        return path.format(kinds.index("office"))
    raise AssertionError(case_id)


@pytest.mark.parametrize(
    ("target", "mutate", "expect_file", "fragments"),
    CASES,
)
def test_breakage_is_reported(
    pdir: Path,
    target: str,
    mutate: Mutation,
    expect_file: str,
    fragments: tuple[str, ...],
    request: pytest.FixtureRequest,
) -> None:
    doc = _read(pdir, target)
    path = mutate(doc)
    _write(pdir, target, doc)
    path = _resolve_placeholder(pdir, request.node.callspec.id, path)
    problems = validate_policy_dir(pdir)
    _assert_problem(problems, pdir / POLICY_FILES[expect_file], path, fragments)


def test_unplaced_device_is_reported(pdir: Path) -> None:
    layout = _read(pdir, "zone_layout")
    layout["device_placement"] = [
        p for p in layout["device_placement"] if p["device_id"] != "DEV_COAG_0002"
    ]
    _write(pdir, "zone_layout", layout)
    devices = _read(pdir, "equipment_registry")["devices"]
    i = _idx(devices, "device_id", "DEV_COAG_0002")
    problems = validate_policy_dir(pdir)
    _assert_problem(
        problems,
        pdir / POLICY_FILES["equipment_registry"],
        f"devices[{i}]",
        ("DEV_COAG_0002", "not placed", "device_placement"),
    )


def test_schema_and_cross_reference_problems_are_all_collected(pdir: Path) -> None:
    layout = _read(pdir, "zone_layout")
    del layout["edges"][0]["travel_s"]
    layout["zones"][0]["kind"] = "lobby"
    _write(pdir, "zone_layout", layout)
    rbac = _read(pdir, "rbac_policy")
    rbac["agents"][0]["role"] = "ROLE_JANITOR"
    _write(pdir, "rbac_policy", rbac)
    problems = validate_policy_dir(pdir)
    paths = {(Path(f).name, p) for f, p, _ in problems}
    assert ("zone_layout.v0.1.yaml", "edges[0]") in paths
    assert ("zone_layout.v0.1.yaml", "zones[0].kind") in paths
    assert ("rbac_policy.v0.1.yaml", "agents[0].role") in paths


def test_malformed_yaml_names_file_and_line(pdir: Path) -> None:
    target = pdir / POLICY_FILES["zone_layout"]
    target.write_text('version: "0.1"\nzones:\n  - {zone_id: Z_A, site_id: SITE_HUB\nedges: []\n')
    problems = validate_policy_dir(pdir)
    hits = [(p, m) for f, p, m in problems if f == str(target)]
    assert hits, _fmt(problems)
    assert any("malformed YAML" in m and "line " in m for _, m in hits), hits


def test_empty_file_is_reported(pdir: Path) -> None:
    target = pdir / POLICY_FILES["emits_vocab"]
    target.write_text("# nothing here\n")
    problems = validate_policy_dir(pdir)
    _assert_problem(problems, target, "", ("empty",))


def test_non_mapping_file_is_reported(pdir: Path) -> None:
    target = pdir / POLICY_FILES["emits_vocab"]
    target.write_text("- A\n- B\n")
    problems = validate_policy_dir(pdir)
    _assert_problem(problems, target, "", ("expected a mapping",))


def test_missing_file_is_reported(pdir: Path) -> None:
    target = pdir / POLICY_FILES["emits_vocab"]
    target.unlink()
    problems = validate_policy_dir(pdir)
    _assert_problem(problems, target, "", ("file not found", "emits_vocab"))
    assert len(problems) == 1, _fmt(problems)


def test_missing_schema_is_reported(pdir: Path) -> None:
    (pdir / "schemas" / "sla_targets.v0.1.schema.json").unlink()
    problems = validate_policy_dir(pdir)
    _assert_problem(problems, pdir / POLICY_FILES["sla_targets"], "", ("no JSON Schema",))


def test_extra_documents_with_a_schema_are_validated(pdir: Path) -> None:
    (pdir / "coordination").mkdir(exist_ok=True)
    (pdir / "schemas" / "coord_demo.v0.1.schema.json").write_text(
        json.dumps(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "additionalProperties": False,
                "required": ["version", "k"],
                "properties": {"version": {"const": "0.1"}, "k": {"type": "integer"}},
            }
        )
    )
    good = pdir / "coordination" / "coord_demo.v0.1.yaml"
    good.write_text('version: "0.1"\nk: 3\n')
    (pdir / "coordination" / "no_schema.v0.1.yaml").write_text("anything: [goes\n")
    assert validate_policy_dir(pdir) == []
    good.write_text('version: "0.1"\nk: three\n')
    problems = validate_policy_dir(pdir)
    _assert_problem(problems, good, "k", ("expected an integer",))


def test_scaled_ids_are_accepted(pdir: Path) -> None:
    """Ids generated at scale (numbered sites, zones, devices, agents) match the schemas."""
    sites = _read(pdir, "sites_policy")
    sites["sites"].append(
        {"site_id": "SITE_001", "reception_zone": "Z_S001_RECEPTION",
         "dispatch_zone": "Z_S001_DISPATCH"}
    )  # fmt: skip
    _write(pdir, "sites_policy", sites)
    layout = _read(pdir, "zone_layout")
    layout["zones"] += [
        {"zone_id": "Z_S001_RECEPTION", "site_id": "SITE_001", "kind": "reception"},
        {"zone_id": "Z_S001_DISPATCH", "site_id": "SITE_001", "kind": "dispatch"},
    ]
    layout["edges"].append({"a": "Z_S001_RECEPTION", "b": "Z_S001_DISPATCH", "travel_s": 5})
    layout["device_placement"].append({"device_id": "DEV_CHEM_0042", "zone_id": "Z_S001_RECEPTION"})
    _write(pdir, "zone_layout", layout)
    equipment = _read(pdir, "equipment_registry")
    equipment["devices"].append({"device_id": "DEV_CHEM_0042", "device_type": "CHEM"})
    _write(pdir, "equipment_registry", equipment)
    rbac = _read(pdir, "rbac_policy")
    rbac["agents"].append(
        {"agent_id": "A_WORKER_0001", "role": "ROLE_RUNNER", "home_zone": "Z_S001_DISPATCH"}
    )
    _write(pdir, "rbac_policy", rbac)
    problems = validate_policy_dir(pdir)
    assert problems == [], _fmt(problems)


# --------------------------------------------------------------------------------------
# Partner overlays
# --------------------------------------------------------------------------------------


def test_partner_overlay_is_merged(pdir: Path) -> None:
    overlay = pdir / "partners" / "acme" / "sla"
    overlay.mkdir(parents=True)
    (overlay / "sla_targets.v0.1.yaml").write_text("priorities:\n  STAT: {target_tat_s: 1800}\n")
    base = load_policy(pdir)
    bundle = load_policy(pdir, partner_id="acme")
    prios = bundle["sla_targets"]["priorities"]
    assert prios["STAT"]["target_tat_s"] == 1800
    assert prios["STAT"]["rank"] == 0
    assert prios["URGENT"] == base["sla_targets"]["priorities"]["URGENT"]
    assert bundle.partner_id == "acme"
    assert bundle.fingerprint != base.fingerprint
    assert "partners" in bundle.sources["sla_targets"]
    assert validate_policy_dir(pdir, partner_id="acme") == []


def test_partner_overlay_problems_are_reported(pdir: Path) -> None:
    overlay = pdir / "partners" / "acme" / "sla"
    overlay.mkdir(parents=True)
    (overlay / "sla_targets.v0.1.yaml").write_text("priorities:\n  STAT: {target_tat_s: -5}\n")
    (overlay / "sla_target.yaml").write_text("priorities: {}\n")
    problems = validate_policy_dir(pdir, partner_id="acme")
    hits = [(f, p) for f, p, _ in problems]
    assert any("partners" in f and p == "priorities.STAT.target_tat_s" for f, p in hits), hits
    assert any(f.endswith("sla_target.yaml") for f, _ in hits), hits
    with pytest.raises(PolicyValidationError):
        load_policy(pdir, partner_id="acme")


def test_unknown_partner_lists_known_ones(pdir: Path) -> None:
    (pdir / "partners" / "acme").mkdir(parents=True)
    with pytest.raises(PolicyError, match="known partners: acme"):
        load_policy(pdir, partner_id="globex")
    with pytest.raises(PolicyError, match="known partners: acme"):
        validate_policy_dir(pdir, partner_id="globex")


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def test_cli_ok_on_shipped_policy(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["validate-policy", "--policy-dir", str(POLICY_SRC)])
    out = capsys.readouterr().out
    assert rc == 0
    m = re.search(r"policy OK: (\d+) files validated", out)
    assert m is not None, out
    # Every core file, plus the extra documents that have a schema (golden scenarios...).
    assert int(m.group(1)) >= len(POLICY_FILES)


def test_cli_reports_broken_copy(pdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    equipment = _read(pdir, "equipment_registry")
    equipment["devices"][0]["device_type"] = "FOO"
    _write(pdir, "equipment_registry", equipment)
    rc = main(["validate-policy", "--policy-dir", str(pdir)])
    captured = capsys.readouterr()
    assert rc == 1
    target = str(pdir / POLICY_FILES["equipment_registry"])
    assert f"{target}: devices[0].device_type: " in captured.out + captured.err
    assert "policy OK" not in captured.out


def test_cli_json(pdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (pdir / POLICY_FILES["sla_targets"]).unlink()
    rc = main(["validate-policy", "--policy-dir", str(pdir.parent), "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert rc == 1
    assert payload[0]["file"] == str(pdir / POLICY_FILES["sla_targets"])
    assert set(payload[0]) == {"file", "path", "message"}


def test_cli_unknown_partner_is_bad_input(pdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["validate-policy", "--policy-dir", str(pdir), "--partner", "nope"])
    assert rc == 2
    assert "nope" in capsys.readouterr().err


def test_zone_kind_vocabulary_matches_the_schemas() -> None:
    from labtrust_gym.policy.validate import ZONE_KINDS

    layout = json.loads((POLICY_SRC / "schemas" / "zone_layout.v0.1.schema.json").read_text())
    rbac = json.loads((POLICY_SRC / "schemas" / "rbac_policy.v0.1.schema.json").read_text())
    assert layout["$defs"]["zone"]["properties"]["kind"]["enum"] == list(ZONE_KINDS)
    assert rbac["$defs"]["role"]["properties"]["zone_kinds"]["items"]["enum"] == list(ZONE_KINDS)


@pytest.mark.parametrize(
    ("rel", "edit", "field"),
    [
        (
            "lab_profiles/example.v0.1.yaml",
            {"extension_packages": "not-a-list"},
            "extension_packages",
        ),
        ("benchmark_packs/default.v0.1.yaml", {"version": 3}, "version"),
        ("studies/coord_default.v0.1.yaml", {"episodes_per_cell": 0}, "episodes_per_cell"),
    ],
)
def test_profiles_packs_and_study_specs_are_validated(
    pdir: Path, rel: str, edit: dict[str, Any], field: str
) -> None:
    path = pdir / rel
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    doc.update(edit)
    path.write_text(yaml.dump(doc, Dumper=_Dumper, sort_keys=False), encoding="utf-8")
    problems = validate_policy_dir(pdir)
    assert any(p[0] == str(path) and p[1].startswith(field) for p in problems), problems
