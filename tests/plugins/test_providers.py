"""The default providers of the three kinds that had no built-in: the security suite, the
safety case and the benchmark pack loader, and their registries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from labtrust_gym.benchmarks.official_pack import (
    list_benchmark_pack_loaders,
    load_benchmark_pack,
    register_benchmark_pack_loader,
    run_benchmark_pack,
)
from labtrust_gym.benchmarks.runner import run_benchmark, validate_results, write_results
from labtrust_gym.benchmarks.security_runner import (
    evaluate_check,
    get_security_suite_provider,
    list_security_suite_providers,
    run_security_suite,
)
from labtrust_gym.cli.main import main
from labtrust_gym.config import get_policy_dir
from labtrust_gym.errors import ConfigError, PolicyValidationError, RegistryError
from labtrust_gym.extensions import use_lab_profile
from labtrust_gym.policy.validate import validate_policy_dir
from labtrust_gym.security.safety_case import (
    get_safety_case_provider,
    list_safety_case_providers,
    register_safety_case_provider,
    run_safety_case,
)

BASE = get_policy_dir()


def test_shipped_documents_pass_the_policy_validator() -> None:
    assert validate_policy_dir() == []
    assert list_security_suite_providers() == ["default"]
    assert list_safety_case_providers() == ["default"]
    assert list_benchmark_pack_loaders() == ["default"]


def test_check_evaluation() -> None:
    m = {"n": 3, "by_kind": {"a": 1, "b": 2}, "flag": True}
    assert evaluate_check({"metric": "n", "op": "le", "value": 3}, m)["passed"] is True
    assert evaluate_check({"metric": "n", "op": "gt", "value": 3}, m)["passed"] is False
    r = evaluate_check({"metric": "by_kind", "op": "keys_within", "value": ["a"]}, m)
    assert r["passed"] is False and r["unexpected"] == ["b"]
    r = evaluate_check({"metric": "absent", "op": "eq", "value": 0}, m)
    assert r == {
        "metric": "absent",
        "op": "eq",
        "value": 0,
        "observed": None,
        "passed": False,
        "problem": "metric missing",
    }
    assert evaluate_check({"metric": "flag", "op": "eq", "value": 1}, m)["passed"] is False


EPISODE_ATTACKS = [
    "SEC-DISRUPT-001",
    "SEC-KEY-MISUSE-001",
    "SEC-ID-SPOOF-001",
    "SEC-MSG-POISON-001",
    "SEC-COLLUSION-001",
]


def test_default_security_suite_runs_the_attacks_and_reports_real_metrics() -> None:
    # The attack episodes of the catalogue (the whole catalogue: tests/security).
    rep = run_security_suite(attack_ids=EPISODE_ATTACKS)
    assert rep["provider_id"] == "default" and rep["passed"] is True
    by_id = {a["attack_id"]: a for a in rep["attacks"]}
    assert set(by_id) == set(EPISODE_ATTACKS)
    assert [
        by_id[i]["injection"]
        for i in ("SEC-ID-SPOOF-001", "SEC-MSG-POISON-001", "SEC-COLLUSION-001")
    ] == ["INJ-ID-SPOOF-001", "INJ-MSG-POISON-001", "INJ-COLLUSION-001"]
    for a in rep["attacks"]:
        attempted = a["checks"][0]
        assert attempted["op"] == "gt" and attempted["observed"][0] > 0, a
    # The observed values are the runs' own metrics (same seed, same episode).
    res = run_benchmark("coord_risk", 1, 0, scale="small_smoke", injection="INJ-COLLUSION-001")
    m = res["episodes"][0]["metrics"]
    spoof = by_id["SEC-COLLUSION-001"]
    assert spoof["checks"][0]["observed"] == [m["injection.attempts"]]
    assert spoof["episode_log_sha256"] == [m["episode_log_sha256"]]


def test_a_failing_attack_fails_the_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "ext"
    suite = root / "policy" / "security" / "strict.v0.1.yaml"
    suite.parent.mkdir(parents=True)
    suite.write_text(
        yaml.safe_dump(
            {
                "version": "0.1",
                "suite_id": "strict",
                "categories": {"DOOR": {"title": "doors"}},
                "controls": {"KILL-SWITCH": {"title": "kill switch"}},
                "attacks": [
                    {
                        "attack_id": "SEC-DOOR-001",
                        "title": "propping is an attack too",
                        "category": "DOOR",
                        "control": "KILL-SWITCH",
                        "scenario": {
                            "kind": "episode",
                            "task": "adversarial_disruption",
                            "checks": [
                                {"metric": "attacks_accepted", "op": "eq", "value": 0},
                                {"metric": "no_such_metric", "op": "eq", "value": 0},
                            ],
                        },
                    }
                ],
            }
        )
    )
    prof = root / "policy" / "lab_profiles" / "strict.v0.1.yaml"
    prof.parent.mkdir(parents=True)
    prof.write_text(
        yaml.safe_dump(
            {
                "version": "0.1",
                "profile_id": "strict",
                "description": "x",
                "security_suite_path": "security/strict.v0.1.yaml",
            }
        )
    )
    monkeypatch.setenv("LABTRUST_EXTRA_ROOTS", str(root))
    out = tmp_path / "sec.json"
    assert main(["--profile", "strict", "security-suite", "--out", str(out)]) == 1
    text = capsys.readouterr().out
    assert "FAIL  SEC-DOOR-001" in text and "0/1 attacks passed" in text
    rep = json.loads(out.read_text())
    accepted, missing = rep["attacks"][0]["checks"]
    assert accepted["passed"] is False and accepted["observed"][0] > 0  # door propping
    assert missing["problems"] == ["metric missing"]
    assert rep["source"] == str(suite.resolve())


def test_security_suite_cli_subset_and_bad_suite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["security-suite", "--attack", "SEC-ID-SPOOF-001"]) == 0
    assert "1/1 attacks passed" in capsys.readouterr().out
    assert main(["security-suite", "--attack", "SEC-NOPE"]) == 2
    assert "unknown attack id(s) SEC-NOPE" in capsys.readouterr().err
    bad = {
        "version": "0.1",
        "suite_id": "b",
        "categories": {"X": {"title": "x"}},
        "controls": {"C": {"title": "c"}},
        "attacks": [
            {
                "attack_id": "X-1",
                "title": "x",
                "category": "X",
                "control": "C",
                "scenario": {
                    "kind": "episode",
                    "task": "no_task",
                    "checks": [{"metric": "a", "op": "eq", "value": 0}],
                },
            }
        ],
    }
    pdir = tmp_path / "policy"
    p = pdir / "security" / "security_suite.v0.1.yaml"
    p.parent.mkdir(parents=True)
    (pdir / "schemas").mkdir()
    (pdir / "schemas" / "security_suite.v0.1.schema.json").write_text(
        (BASE / "schemas" / "security_suite.v0.1.schema.json").read_text()
    )
    p.write_text(yaml.safe_dump(bad))
    prov = get_security_suite_provider("default")
    msg = r"\(X-1\).scenario.task: unknown task 'no_task'"
    with pytest.raises(PolicyValidationError, match=msg):
        prov.load_suite(pdir)
    bad["attacks"][0]["scenario"]["checks"][0]["op"] = "approximately"
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(PolicyValidationError, match=r"scenario\.checks\[0\]\.op"):
        prov.load_suite(pdir)


def test_default_safety_case_from_real_artifacts(tmp_path: Path) -> None:
    claims = ["SC-INV-001", "SC-GOLD-002", "SC-GOLD-003", "SC-RUN-001", "SC-RUN-002"]
    case = run_safety_case(claim_ids=claims)
    status = {c["claim_id"]: c["status"] for c in case["claims"]}
    assert status == {
        "SC-INV-001": "supported",
        "SC-GOLD-002": "supported",
        "SC-GOLD-003": "supported",
        "SC-RUN-001": "not_evaluated",
        "SC-RUN-002": "not_evaluated",
    }
    ev = {c["claim_id"]: c["evidence"][0] for c in case["claims"]}
    assert ev["SC-INV-001"]["invariants"] == 11
    assert ev["SC-INV-001"]["handlers"]["INV-SPEC-001"].startswith(
        "state.specimen_single_location (labtrust_gym (built-in))"
    )
    assert "INV-SPEC-001" in ev["SC-GOLD-002"]["waived"]
    assert ev["SC-GOLD-002"]["covered"]["INV-CRIT-001"]  # golden scenario ids
    assert ev["SC-GOLD-003"]["codes"] == 24 and ev["SC-GOLD-003"]["missing"] == []

    # With results files the run claims are evaluated from their metrics.
    good = tmp_path / "insider.json"
    write_results(run_benchmark("insider_key_misuse", 1, 0), good)
    claims = ["SC-RUN-001", "SC-RUN-002"]
    case = run_safety_case(results=[good], claim_ids=claims)
    status = {c["claim_id"]: c["status"] for c in case["claims"]}
    assert status["SC-RUN-001"] == status["SC-RUN-002"] == "supported"
    doc = json.loads(good.read_text())
    doc["episodes"][0]["metrics"]["critical_violations"] = 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    case = run_safety_case(results=[good, bad], claim_ids=claims)
    run1 = next(c for c in case["claims"] if c["claim_id"] == "SC-RUN-001")
    assert run1["status"] == "not_supported"
    assert [f["passed"] for f in run1["evidence"][0]["files"]] == [True, False]
    assert case["summary"] == {"supported": 1, "not_supported": 1, "not_evaluated": 0}
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a labtrust.results.v0.1"):
        run_safety_case(results=[tmp_path / "junk.json"])


def test_safety_case_finds_missing_coverage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "ext"
    claims = root / "policy" / "safety_case" / "mine.v0.1.yaml"
    claims.parent.mkdir(parents=True)
    claims.write_text(
        yaml.safe_dump(
            {
                "version": "0.1",
                "case_id": "mine",
                "claims": [
                    {
                        "claim_id": "C-1",
                        "statement": "all invariants, no waiver",
                        "argument": "every invariant must be observed",
                        "evidence": [{"type": "golden_invariant_coverage"}],
                    },
                    {
                        "claim_id": "C-2",
                        "statement": "bus refusals in golden",
                        "argument": "the bus codes are engine refusals too",
                        "evidence": [
                            {"type": "golden_reason_code_coverage", "families": ["BUS", "NOPE"]}
                        ],
                    },
                    {
                        "claim_id": "C-3",
                        "statement": "a waiver for a covered invariant",
                        "argument": "a waiver must be needed",
                        "evidence": [
                            {
                                "type": "golden_invariant_coverage",
                                "severities": ["critical"],
                                "waivers": {"INV-CRIT-001": "no", "INV-SPEC-001": "structural"},
                            }
                        ],
                    },
                ],
            }
        )
    )
    prof = root / "policy" / "lab_profiles" / "mine.v0.1.yaml"
    prof.parent.mkdir(parents=True)
    prof.write_text(
        yaml.safe_dump(
            {
                "version": "0.1",
                "profile_id": "mine",
                "description": "x",
                "safety_claims_path": "safety_case/mine.v0.1.yaml",
            }
        )
    )
    monkeypatch.setenv("LABTRUST_EXTRA_ROOTS", str(root))
    out = tmp_path / "case.json"
    assert main(["--profile", "mine", "safety-case", "--out", str(out)]) == 1
    case = json.loads(out.read_text())
    c1, c2, c3 = case["claims"]
    assert c1["status"] == "not_supported" and c1["evidence"][0]["missing"] == ["INV-SPEC-001"]
    assert c2["evidence"][0]["problems"] == ["unknown reason code family NOPE"]
    assert "BUS_REPLAY" in c2["evidence"][0]["missing"]
    assert c3["evidence"][0]["problems"] == [
        "waiver for INV-CRIT-001, which a golden scenario does exercise"
    ]
    assert "not_supported" in capsys.readouterr().out


def test_provider_registries_need_override(sites: list[Path]) -> None:
    class Case:
        def load_claims(self, policy_root: object) -> dict:
            return {}

        def build_safety_case(self, policy_root: object) -> dict:
            return {"claims": ["mine"]}

    with pytest.raises(RegistryError, match="already registered"):
        register_safety_case_provider("default", Case())
    register_safety_case_provider("default", Case(), override=True, origin="tests")
    assert run_safety_case()["claims"] == ["mine"]
    with pytest.raises(ConfigError, match="does not take results files"):
        run_safety_case(results=["x.json"])
    assert type(get_safety_case_provider("default")).__name__ == "Case"


def test_default_pack_and_a_pack_of_an_extra_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pack, version, path = load_benchmark_pack()
    assert (pack["pack_id"], version, path) == (
        "default",
        "0.1",
        BASE / "benchmark_packs" / "default.v0.1.yaml",
    )
    tasks = {r["task"] for r in pack["runs"]}
    assert {"throughput_sla", "coord_scale", "coord_risk", "insider_key_misuse"} <= tasks

    root = tmp_path / "ext"
    packs = root / "policy" / "benchmark_packs"
    packs.mkdir(parents=True)
    small = {
        "version": "0.1",
        "pack_id": "small",
        "runs": [
            {"task": "throughput_sla", "episodes": 2, "seed": 3, "params": {"max_steps": 30}},
            {"task": "coord_risk", "scale": "small_smoke", "injection": "INJ-ID-SPOOF-001"},
        ],
    }
    (packs / "small.v0.1.yaml").write_text(yaml.safe_dump(small))
    (packs / "small.v0.2.yaml").write_text(
        yaml.safe_dump({**small, "version": "0.2", "runs": small["runs"][:1]})
    )
    partner = root / "policy" / "partners" / "p1" / "benchmark_packs"
    partner.mkdir(parents=True)
    (partner / "small.v0.1.yaml").write_text(yaml.safe_dump({"description": "partner p1"}))
    monkeypatch.setenv("LABTRUST_EXTRA_ROOTS", str(root))

    p2, v2, path2 = load_benchmark_pack(prefer_v02=True, pack_id="small")
    assert v2 == "0.2" and len(p2["runs"]) == 1 and path2 == packs / "small.v0.2.yaml"
    p1, v1, _ = load_benchmark_pack(partner_id="p1", pack_id="small")
    assert v1 == "0.1" and p1["description"] == "partner p1" and "+" in p1["source"]

    out = tmp_path / "packrun"
    assert main(["run-pack", "--pack", "small", "--out-dir", str(out)]) == 0
    index = json.loads((out / "pack_index.json").read_text())
    assert [r["task"] for r in index["runs"]] == ["throughput_sla", "coord_risk"]
    first = json.loads(Path(index["runs"][0]["results"]).read_text())
    validate_results(first)
    assert first["seed"] == 3 and len(first["episodes"]) == 2 and first["max_steps"] == 30
    second = json.loads(Path(index["runs"][1]["results"]).read_text())
    assert second["injection"] == "INJ-ID-SPOOF-001"
    assert index["runs"][0]["throughput_mean"] == first["summary"]["throughput"]["mean"]

    (packs / "broken.v0.1.yaml").write_text(
        yaml.safe_dump({"version": "0.1", "pack_id": "broken", "runs": [{"task": "nope"}]})
    )
    with pytest.raises(ConfigError, match=r"runs\[0\]\.task 'nope' is not a registered task"):
        load_benchmark_pack(pack_id="broken")
    assert main(["run-pack", "--pack", "absent", "--out-dir", str(out)]) == 2
    assert "benchmark pack 'absent' not found" in capsys.readouterr().err


def test_profile_selects_a_registered_pack_loader(
    sites: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, bool, object]] = []

    def loader(repo_root: object, prefer_v02: bool, partner_id: object) -> tuple:
        calls.append((repo_root, prefer_v02, partner_id))
        return (
            {"pack_id": "mine", "runs": [{"task": "throughput_sla", "params": {"max_steps": 5}}]},
            "0.1",
            Path("x"),
        )

    register_benchmark_pack_loader("mine", loader)
    root = tmp_path / "ext"
    prof = root / "policy" / "lab_profiles" / "packs.v0.1.yaml"
    prof.parent.mkdir(parents=True)
    prof.write_text(
        yaml.safe_dump(
            {
                "version": "0.1",
                "profile_id": "packs",
                "description": "x",
                "benchmark_pack_loader_id": "mine",
                "partner_id": "example_partner",
            }
        )
    )
    monkeypatch.setenv("LABTRUST_EXTRA_ROOTS", str(root))
    with use_lab_profile("packs"):
        pack, _, _ = load_benchmark_pack()
        index = run_benchmark_pack(pack, tmp_path / "out")
    assert calls == [(None, False, "example_partner")] and pack["pack_id"] == "mine"
    assert index["partner_id"] == "example_partner" and len(index["runs"]) == 1
