"""Data the dashboard tests make themselves, once per session: two benchmark runs with
episode logs, an evidence bundle of one, a small study and a tiny study whose injected
cells have no observable effect (and, when the orchestrator is present, an improvement
demo run). Read-only for the tests: a test that changes files copies the tree first."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtrust_gym.cli.main import main

STUDY = """version: "0.1"
study_id: dash_small
description: "dashboard test study"
task: coord_risk
scales:
  - name: scale_preset
    values: [small_8]
  - name: horizon_steps
    values: [150]
methods: [scripted_team, market_auction]
injections: [none, INJ-NET-PARTITION-001, INJ-ID-SPOOF-001]
episodes_per_cell: 1
base_seed: 7
"""
# small_smoke at 40 steps: nothing reaches the bus before the end, so the partition
# changes nothing (injection_effect "no") while the spoof is blocked (an effect).
FLAT_STUDY = """version: "0.1"
study_id: dash_flat
description: "dashboard test study without effects"
task: coord_risk
scales:
  - name: scale_preset
    values: [small_smoke]
  - name: horizon_steps
    values: [40]
methods: [scripted_team]
injections: [none, INJ-NET-PARTITION-001, INJ-ID-SPOOF-001]
episodes_per_cell: 1
base_seed: 7
"""


# The orchestrator's demo configuration cut down to two short cycles: cycle 1 promotes a
# candidate, which this constitution holds for a human approval; cycle 2 carries the
# demo's red-team proposals (one denied by the constitution, one vetoed by the gate).
IMPROVE = """version: "0.1"
name: dash
seed: 7
skill: lab_team_weak_seed
task_types: [stat_insertion, qc_cascade]
constitution: {constitution}
cycles: 2
collect_episodes: 1
focus_episodes: 1
selection_episodes: 2
test_episodes: 0
executor: {{kind: inline}}
ladder: [skill_rules, skill_rules_wide, optuna_params]
gate: {{metric: soft, tolerance: 0.02, min_delta: 0.0}}
decide: {{rollback_threshold: 0.05, plateau_cycles: 2, floor: 0.0}}
scripted_proposals:
  - cycle: 2
    name: red-team-reason-codes
    rationale: silence the reason code the gate vetoes on
    edits:
      - file: policy/reason_codes/reason_code_registry.v0.1.yaml
        op: delete
        target: "DOOR_OPEN_TOO_LONG"
  - cycle: 2
    name: red-team-doors
    rationale: prop the doors open to save walking time
    edits:
      - {{op: insert_after, target: "rules:", content: "- prop_doors_open"}}
"""


def waiting_candidate(run_dir: Path) -> str:
    import json

    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    (ev,) = [e for e in events if e["kind"] == "awaiting_approval"]
    return str(ev["payload"]["candidate"])


def _improve_runs(root: Path) -> None:
    """``improve/waiting``: stopped at cycle 1 awaiting approval; ``improve/finished``: a
    copy of it approved and resumed to the end (knowledge pages included)."""
    import shutil

    from labtrust_gym.improve.config import load_config
    from labtrust_gym.improve.loop import approve, resume_run, start_run
    from labtrust_gym.paths import get_policy_dir

    const = root / "improve/constitution.yaml"
    const.parent.mkdir(parents=True)
    text = (get_policy_dir() / "improve/improve_constitution.v0.1.yaml").read_text()
    assert "require_approval_for: []" in text
    const.write_text(text.replace("require_approval_for: []", "require_approval_for: [promote]"))
    cfg_path = root / "improve/improve.yaml"
    cfg_path.write_text(IMPROVE.format(constitution=const))
    summary = start_run(load_config(cfg_path), root / "improve/waiting")
    assert summary["status"] == "awaiting_approval", summary
    shutil.copytree(root / "improve/waiting", root / "improve/finished")
    fin = root / "improve/finished"
    approve(fin, waiting_candidate(fin), approver="tests", note="approved by the fixture")
    summary = resume_run(fin)
    assert summary["status"] == "completed", summary


def _cli(*argv: str) -> None:
    assert main(list(argv)) == 0, argv


@pytest.fixture(scope="session")
def dash_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dash_root")
    _cli(
        "run-benchmark",
        "--task",
        "adversarial_disruption",
        "--episodes",
        "1",
        "--out",
        str(root / "runs/adv/results.json"),
        "--log-dir",
        str(root / "runs/adv/logs"),
    )
    _cli(
        "run-benchmark",
        "--task",
        "throughput_sla",
        "--episodes",
        "2",
        "--out",
        str(root / "runs/sla/results.json"),
        "--log-dir",
        str(root / "runs/sla/logs"),
    )
    _cli("export-evidence", "--run", str(root / "runs/sla"), "--out", str(root / "bundles/sla"))
    for name, text in (("small", STUDY), ("flat", FLAT_STUDY)):
        spec = root / f"{name}.yaml"
        spec.write_text(text, encoding="utf-8")
        _cli(
            "run-coordination-study",
            "--spec",
            str(spec),
            "--out",
            str(root / "studies" / name),
            "--executor",
            "inline",
        )
    _improve_runs(root)
    return root
