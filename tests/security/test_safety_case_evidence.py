"""The safety case: claims evaluated from evidence produced now, statuses, exit codes,
the Markdown tree, and claims that a broken engine makes fail."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.benchmarks.runner import run_benchmark
from labtrust_gym.cli.main import main
from labtrust_gym.security.mutants import apply_mutant
from labtrust_gym.security.safety_case import case_passed, run_safety_case
from labtrust_gym.security.safety_render import render_safety_case

GOLDEN = ["SC-INV-001", "SC-GOLD-001", "SC-GOLD-002", "SC-GOLD-003"]
RUNS = ["SC-RUN-001", "SC-RUN-002", "SC-RUN-003"]


def _status(case: dict[str, Any]) -> dict[str, str]:
    return {c["claim_id"]: c["status"] for c in case["claims"]}


def test_golden_claims_are_supported_by_executing_the_scenarios() -> None:
    case = run_safety_case(claim_ids=GOLDEN)
    assert _status(case) == dict.fromkeys(GOLDEN, "supported")
    ev = {c["claim_id"]: c["evidence"][0] for c in case["claims"]}
    assert ev["SC-GOLD-001"]["scenarios"] >= 50 and ev["SC-GOLD-001"]["failed"] == []
    assert ev["SC-GOLD-002"]["covered"]["INV-DOOR-001"]  # ids of passing scenarios
    assert "INV-SPEC-001" in ev["SC-GOLD-002"]["waived"]
    assert ev["SC-GOLD-003"]["codes"] == 24 and ev["SC-GOLD-003"]["missing"] == []
    assert ev["SC-INV-001"]["invariants"] == 11
    assert case["summary"] == {"supported": 4, "not_supported": 0, "not_evaluated": 0}


def test_a_broken_engine_fails_the_golden_claims() -> None:
    # Two invariant handlers made no-ops: the scenarios that expect those violations now
    # fail, and the invariants are no longer observed firing.
    with apply_mutant("noop_invariants"):
        case = run_safety_case(claim_ids=GOLDEN)
    st = _status(case)
    assert st["SC-GOLD-001"] == st["SC-GOLD-002"] == "not_supported"
    ev = {c["claim_id"]: c["evidence"][0] for c in case["claims"]}
    assert {"GS-013", "GS-023"} <= set(ev["SC-GOLD-001"]["failed"])
    assert {"INV-DOOR-001", "INV-QC-001"} <= set(ev["SC-GOLD-002"]["missing"])
    assert not case_passed(case)
    # Separation of duties skipped: a golden scenario notices, the reason code coverage
    # of the TOKEN family drops.
    with apply_mutant("skip_sod"):
        case = run_safety_case(claim_ids=["SC-GOLD-001", "SC-GOLD-003"])
    assert _status(case) == {"SC-GOLD-001": "not_supported", "SC-GOLD-003": "not_supported"}


def test_results_files_and_their_logs_are_evidence(tmp_path: Path) -> None:
    res_path = tmp_path / "insider.json"
    run_benchmark("insider_key_misuse", 1, 0, log_dir=tmp_path / "logs", out=res_path)
    case = run_safety_case(results=[res_path], claim_ids=RUNS)
    assert _status(case) == dict.fromkeys(RUNS, "supported")
    logs_ev = case["claims"][2]["evidence"][0]
    assert logs_ev["summary"] == "1/1 episode logs replay to their recorded chain"
    # A doctored metric and an edited log are both caught.
    doc = json.loads(res_path.read_text())
    doc["episodes"][0]["metrics"]["critical_violations"] = 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    log = Path(doc["logs"][0])
    lines = log.read_bytes().splitlines(keepends=True)
    i = next(i for i, ln in enumerate(lines) if b'"action_type":"MOVE"' in ln)
    lines[i] = lines[i].replace(b'"MOVE"', b'"NOOP"', 1)
    log.write_bytes(b"".join(lines))
    case = run_safety_case(results=[bad], claim_ids=RUNS)
    st = _status(case)
    assert st["SC-RUN-001"] == st["SC-RUN-003"] == "not_supported"
    assert st["SC-RUN-002"] == "supported"


def test_nothing_to_look_at_is_not_evaluated_and_require_all_fails_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = run_safety_case(claim_ids=["SC-RUN-002", "SC-EVID-001"])
    assert _status(case) == {"SC-RUN-002": "not_evaluated", "SC-EVID-001": "not_evaluated"}
    ev = case["claims"][1]["evidence"][0]
    if importlib.util.find_spec("labtrust_gym.evidence") is None:
        assert ev["summary"] == "labtrust_gym.evidence not available"
    else:
        assert ev["summary"] == "no evidence bundle was given (--bundle)"
    assert case_passed(case) and not case_passed(case, require_all=True)
    assert main(["safety-case", "--claim", "SC-RUN-002"]) == 0
    assert main(["safety-case", "--claim", "SC-RUN-002", "--require-all"]) == 1
    assert "(--require-all: not evaluated fails)" in capsys.readouterr().out
    assert main(["safety-case", "--claim", "SC-NOPE"]) == 2


@dataclass
class _Check:
    name: str
    ok: bool
    detail: str


@dataclass
class _Report:
    ok: bool
    checks: list[_Check]


def test_bundles_are_verified_through_the_evidence_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Path, Any, bool]] = []

    def verify_bundle(bundle_dir: Path, *, trusted_key: Any = None, replay: bool = False) -> Any:
        calls.append((Path(bundle_dir), trusted_key, replay))
        bad = (Path(bundle_dir) / "tampered").exists()
        return _Report(
            not bad,
            [_Check("manifest", True, "12 files"), _Check("replay", not bad, "episode 0")],
        )

    fake = types.ModuleType("labtrust_gym.evidence")
    fake.verify_bundle = verify_bundle  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "labtrust_gym.evidence", fake)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{}")
    case = run_safety_case(bundles=[bundle], trusted_key="K", claim_ids=["SC-EVID-001"])
    assert _status(case) == {"SC-EVID-001": "supported"}
    assert calls == [(bundle, "K", True)]  # the claim asks for a replay
    ev = case["claims"][0]["evidence"][0]
    assert str(bundle / "manifest.json") in ev["refs"]
    (bundle / "tampered").write_text("x")
    case = run_safety_case(bundles=[bundle], claim_ids=["SC-EVID-001"])
    assert _status(case) == {"SC-EVID-001": "not_supported"}
    assert case["claims"][0]["evidence"][0]["findings"] == [f"{bundle}: replay: episode 0"]
    with pytest.raises(Exception, match="not a directory"):
        run_safety_case(bundles=[tmp_path / "nowhere"], claim_ids=["SC-EVID-001"])


def test_markdown_is_a_claim_argument_evidence_tree(tmp_path: Path) -> None:
    res_path = tmp_path / "runs" / "r.json"
    run_benchmark("insider_key_misuse", 1, 0, out=res_path)
    md_path = tmp_path / "report" / "case.md"
    out = tmp_path / "case.json"
    rc = main(
        [
            "safety-case",
            "--claim",
            "SC-INV-001",
            "--claim",
            "SC-RUN-002",
            "--results",
            str(res_path),
            "--out",
            str(out),
            "--markdown",
            str(md_path),
        ]
    )
    assert rc == 0
    md = md_path.read_text()
    assert "## SC-INV-001: supported" in md and "**Claim.**" in md and "**Argument.**" in md
    assert "- `invariant_handlers` holds: 11/11 invariants resolve" in md
    # Links are relative to the Markdown file's directory.
    assert "[r.json](../runs/r.json)" in md
    case = json.loads(out.read_text())
    assert render_safety_case(case, md_path.parent) == md
