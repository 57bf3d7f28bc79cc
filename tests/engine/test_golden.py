"""The golden scenario suite (policy/golden/*.v0.1.yaml): one test per scenario, plus
coverage checks over the whole suite and checks that the runner can fail.

Coverage is computed from what the engine actually returned while playing the scenarios
(each scenario's test separately proves that this equals what the YAML expects).
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.config import get_policy_dir
from labtrust_gym.engine.action_types import ACTION_TYPES
from labtrust_gym.engine.base import Blocked
from labtrust_gym.engine.core_env import LabEngine
from labtrust_gym.errors import PolicyError
from labtrust_gym.policy.loader import load_policy
from labtrust_gym.testing import load_golden_scenarios, run_golden_scenario
from labtrust_gym.testing.golden import (
    GOLDEN_SCHEMA,
    GoldenRun,
    golden_files,
    run_golden_scenario_detailed,
)

SCENARIOS = load_golden_scenarios()
BY_ID = {s["id"]: s for s in SCENARIOS}
_RUNS: dict[str, GoldenRun] = {}

DEVICE_TYPES = ("CENTRIFUGE", "ALIQUOTER", "CHEM", "HAEM", "COAG")

#: Invariants no golden scenario violates, and why. Each must still be shown to be
#: evaluated and to pass (see test_exempt_invariants_are_evaluated_and_pass).
INVARIANT_EXCEPTIONS = {
    "INV-SPEC-001": (
        "a specimen in two places (or none) can only come from an engine bug; no action "
        "sequence can produce it, so the suite shows it passing on every trigger instead"
    ),
}
#: Reason-code families no blocked step or violation can reach, and why.
FAMILY_EXCEPTIONS = {
    "INV": "its only code, INV_SPECIMEN_LOCATION, is the reason code of INV-SPEC-001 (above)",
    "BUS": "codes of the coordination message bus, not the engine (tests/coordination)",
    "ACTION": "codes of the env's action codec, recorded by LabEngine.reject (tests/envs)",
}
#: Emits of the vocabulary that no golden scenario produces, and why.
EMIT_EXCEPTIONS = {
    "COORD_SCALE_CONFIG": "emitted only for generated scale configurations (coordination tasks)",
}


def _run(sid: str) -> GoldenRun:
    run = _RUNS.get(sid)
    if run is None:
        run = _RUNS[sid] = run_golden_scenario_detailed(BY_ID[sid])
    return run


def _all_runs() -> list[GoldenRun]:
    return [_run(s["id"]) for s in SCENARIOS]


def _accepted(run: GoldenRun) -> Iterator[Any]:
    for rec in run.steps:
        if rec.result["status"] == "ACCEPTED":
            yield rec


def _action(rec: Any) -> str | None:
    return rec.event.get("action_type") if isinstance(rec.event, dict) else None


# ------------------------------------------------------------------------ the suite ---
def test_suite_size_and_ids() -> None:
    assert len(SCENARIOS) >= 45
    assert len(BY_ID) == len(SCENARIOS)
    assert golden_files(), "no golden scenario files"


@pytest.mark.parametrize("sid", [s["id"] for s in SCENARIOS])
def test_golden_scenario(sid: str) -> None:
    run = _run(sid)
    assert run.mismatches == [], "\n".join(run.mismatches)
    assert len(run.steps) == sum(1 for s in BY_ID[sid]["steps"] if "expect" in s)


# ------------------------------------------------------------------------- coverage ---
def test_every_action_type_is_accepted_somewhere() -> None:
    used = {_action(rec) for run in _all_runs() for rec in _accepted(run)}
    missing = sorted(set(ACTION_TYPES) - used)
    assert not missing, f"action types never accepted in a golden scenario: {missing}"


def test_every_device_type_runs() -> None:
    started: set[str] = set()
    for run in _all_runs():
        assert run.engine is not None
        for rec in _accepted(run):
            if _action(rec) == "START_RUN":
                started.add(run.engine.devices[rec.event["args"]["device_id"]].device_type)
    missing = sorted(set(DEVICE_TYPES) - started)
    assert not missing, f"device types never started: {missing}"


def test_every_reason_code_family_is_hit() -> None:
    registry = load_policy()["reason_code_registry"]["reason_codes"]
    family = {r["code"]: r["family"] for r in registry}
    hit: dict[str, set[str]] = {}
    for run in _all_runs():
        for rec in run.steps:
            codes = [v["reason_code"] for v in rec.result["violations"]]
            if rec.result["blocked_reason_code"]:
                codes.append(rec.result["blocked_reason_code"])
            for code in codes:
                assert code in family, f"{run.scenario_id}: unregistered reason code {code}"
                hit.setdefault(family[code], set()).add(code)
    families = set(family.values())
    assert set(FAMILY_EXCEPTIONS) <= families
    missing = sorted(families - set(hit) - set(FAMILY_EXCEPTIONS))
    assert not missing, f"reason-code families never hit: {missing}"
    reached = sorted(set(FAMILY_EXCEPTIONS) & set(hit))
    assert not reached, f"families listed as unreachable were hit; drop the exception: {reached}"


def test_every_invariant_is_violated() -> None:
    registry = load_policy()["invariant_registry"]["invariants"]
    ids = {inv["invariant_id"] for inv in registry}
    violated = {
        v["invariant_id"]
        for run in _all_runs()
        for rec in run.steps
        for v in rec.result["violations"]
    }
    assert set(INVARIANT_EXCEPTIONS) <= ids
    missing = sorted(ids - violated - set(INVARIANT_EXCEPTIONS))
    assert not missing, f"invariants never violated by a golden scenario: {missing}"
    assert not violated & set(INVARIANT_EXCEPTIONS), "an exempt invariant was violated"


def test_exempt_invariants_are_evaluated_and_pass() -> None:
    """Each exempt invariant passes on at least one accepted step of each of its triggers."""
    registry = load_policy()["invariant_registry"]["invariants"]
    for inv in registry:
        if inv["invariant_id"] not in INVARIANT_EXCEPTIONS:
            continue
        for trigger in inv["triggers"]:
            passing = [
                (run.scenario_id, rec.index)
                for run in _all_runs()
                for rec in _accepted(run)
                if _action(rec) == trigger
                and all(v["invariant_id"] != inv["invariant_id"] for v in rec.result["violations"])
            ]
            assert passing, f"{inv['invariant_id']} never evaluated on an accepted {trigger}"


def test_emits_are_in_the_vocabulary_and_cover_it() -> None:
    vocab = set(load_policy()["emits_vocab"]["emits"])
    seen = {e for run in _all_runs() for rec in run.steps for e in rec.result["emits"]}
    assert seen <= vocab, f"emits outside the vocabulary: {sorted(seen - vocab)}"
    missing = sorted(vocab - seen - set(EMIT_EXCEPTIONS))
    assert not missing, f"emits never produced by a golden scenario: {missing}"


def _root(engine: LabEngine, sid: str) -> str:
    while engine.specimens[sid].parent_id is not None:
        sid = engine.specimens[sid].parent_id
    return sid


def _journeys(run: GoldenRun) -> list[tuple[str, str]]:
    """(site of the releasing device, root specimen) of every arrival-to-release journey."""
    engine = run.engine
    assert engine is not None
    accessioned = {
        rec.event["args"]["specimen_id"]
        for rec in _accepted(run)
        if _action(rec) == "ACCESSION" and "SPECIMEN_ACCEPTED" in rec.result["emits"]
    }
    out = []
    for rec in _accepted(run):
        if _action(rec) == "RELEASE_RESULT" and "RESULT_RELEASED" in rec.result["emits"]:
            res = engine.results[rec.event["args"]["result_id"]]
            root = _root(engine, res.specimen_id)
            if root in accessioned:
                out.append((engine.devices[res.device_id].site_id, root))
    return out


def test_full_journeys_on_both_sites() -> None:
    sites: dict[str, list[str]] = {}
    full_sst = []
    for run in _all_runs():
        for site, root in _journeys(run):
            sites.setdefault(site, []).append(run.scenario_id)
            spec = run.engine.specimens[root] if run.engine else None
            if spec is not None and spec.centrifuged and spec.aliquoted:
                full_sst.append(run.scenario_id)
    assert {"SITE_HUB", "SITE_ACUTE"} <= set(sites), sites
    assert full_sst, "no journey through centrifuge, aliquoter and analyzer to release"


# ---------------------------------------------------------------- the runner can fail ---
def test_wrong_expected_emit_is_a_mismatch() -> None:
    sc = copy.deepcopy(BY_ID["GS-001"])
    sc["steps"][1]["expect"]["emits"] = ["ACCESSIONED", "SPECIMEN_ACCEPTED"]
    out = run_golden_scenario(sc)
    assert len(out) == 1
    assert out[0].startswith("GS-001 step 1 [ACCESSION]: emits: expected")
    assert "SPECIMEN_ARRIVED" in out[0]


def test_wrong_state_and_status_are_mismatches() -> None:
    sc = copy.deepcopy(BY_ID["GS-001"])
    sc["steps"][0]["expect"].update(status="ACCEPTED", blocked_reason_code=None)
    sc["steps"][2]["expect"]["state"] = [
        {"query": "specimen", "id": "S1", "field": "loc_kind", "equals": "zone"},
        {"query": "specimen", "id": "S1", "field": "no_such_field", "equals": 1},
        {"query": "specimen", "id": "S404", "exists": True},
        {"query": "agent", "id": "A_RUNNER_01", "field": "carrying", "length": 2},
        {"query": "specimen", "id": "S1", "field": "centrifuged", "equals": 0},
    ]
    sc["final_state"] = [{"query": "summary", "field": "released", "in": [0, 1]}]
    out = run_golden_scenario(sc)
    assert any("step 0" in m and "status: expected 'ACCEPTED', got 'BLOCKED'" in m for m in out)
    assert any("step 0" in m and "blocked_reason_code" in m for m in out)
    step2 = [m for m in out if "step 2 [PICK_UP]" in m]
    assert len(step2) == 5, step2
    assert any("final" in m and "released" in m for m in out)


def test_blocked_step_that_changes_state_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = LabEngine._act_move

    def leaky_move(self: Any, agent: Any, args: Any, event: Any) -> None:
        agent.arrive_t = 12345.0  # a side effect before a possible block
        original(self, agent, args, event)

    monkeypatch.setattr(LabEngine, "_act_move", leaky_move)
    out = run_golden_scenario(BY_ID["GS-011"])
    # Step 5 is the first blocked MOVE (ZONE_SAME); later ones rewrite the same value.
    assert out == [
        "GS-011 step 5 [MOVE]: BLOCKED step changed engine state beyond the clock advance: agents"
    ], out


def test_exception_escaping_step_is_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any, agent: Any, args: Any, event: Any) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(LabEngine, "_act_open_door", broken)
    out = run_golden_scenario(BY_ID["GS-012"])
    assert len(out) == 1 and "step() raised KeyError" in out[0], out
    assert out[0].startswith("GS-012 step 1 [OPEN_DOOR]")


def test_blocked_step_emitting_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def noisy(self: Any, agent: Any, args: Any, event: Any) -> None:
        self._emit("DOOR_ALARM")
        raise Blocked("DOOR_UNKNOWN")

    monkeypatch.setattr(LabEngine, "_act_open_door", noisy)
    sc = copy.deepcopy(BY_ID["GS-012"])
    sc["steps"] = sc["steps"][:2]
    sc["steps"][1]["expect"].update(blocked_reason_code="DOOR_UNKNOWN", emits=["DOOR_ALARM"])
    out = run_golden_scenario(sc)
    assert any("BLOCKED step emitted ['DOOR_ALARM']" in m for m in out), out


# ------------------------------------------------------------------------ the loader ---
def _policy_copy(tmp_path: Path, text: str) -> Path:
    pdir = tmp_path / "policy"
    (pdir / "golden").mkdir(parents=True)
    (pdir / "schemas").mkdir()
    shutil.copy(get_policy_dir() / GOLDEN_SCHEMA, pdir / GOLDEN_SCHEMA)
    (pdir / "golden" / "broken.v0.1.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_loader_names_file_scenario_and_path(tmp_path: Path) -> None:
    root = _policy_copy(
        tmp_path,
        'version: "0.1"\nscenarios:\n'
        "  - {id: GS-900, title: t, seed: 1, initial_state: {}, steps: [\n"
        "      {event: {t_s: 0, agent_id: A, action_type: NOOP},\n"
        "       expect: {status: ACCEPTED, blocked_reason_code: null, emits: [], violations: [],\n"
        "                hashchain_delta: 2}}]}\n",
    )
    with pytest.raises(PolicyError) as err:
        load_golden_scenarios(root)
    msg = str(err.value)
    assert "broken.v0.1.yaml" in msg and "scenario GS-900" in msg
    assert "steps[0].expect.hashchain_delta" in msg


def test_loader_rejects_unknown_signing_key(tmp_path: Path) -> None:
    root = _policy_copy(
        tmp_path,
        'version: "0.1"\nscenarios:\n'
        "  - {id: GS-901, title: t, seed: 1, initial_state: {}, steps: [\n"
        "      {event: {t_s: 0, agent_id: A, action_type: MOVE}, sign: {key_id: K_X},\n"
        "       expect: {status: BLOCKED, blocked_reason_code: X, emits: [], violations: []}}]}\n",
    )
    with pytest.raises(PolicyError, match=r"scenario GS-901: steps\[0\]\.sign\.key_id"):
        load_golden_scenarios(root)


def test_golden_file_passes_the_policy_validator() -> None:
    from labtrust_gym.policy.validate import check_policy_dir

    check = check_policy_dir()
    golden = {str(p) for p in golden_files()}
    assert golden <= set(check.files), "the policy validator does not read the golden files"
    assert not [p for p in check.problems if p[0] in golden], check.problems
