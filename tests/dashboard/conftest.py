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
episodes_per_cell: 2
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


def _cli(*argv: str) -> None:
    assert main(list(argv)) == 0, argv


@pytest.fixture(scope="session")
def dash_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dash_root")
    _cli("run-benchmark", "--task", "adversarial_disruption", "--episodes", "1",
         "--out", str(root / "runs/adv/results.json"), "--log-dir", str(root / "runs/adv/logs"))
    _cli("run-benchmark", "--task", "throughput_sla", "--episodes", "2", "--out",
         str(root / "runs/sla/results.json"), "--log-dir", str(root / "runs/sla/logs"))
    _cli("export-evidence", "--run", str(root / "runs/sla"), "--out", str(root / "bundles/sla"))
    for name, text in (("small", STUDY), ("flat", FLAT_STUDY)):
        spec = root / f"{name}.yaml"
        spec.write_text(text, encoding="utf-8")
        _cli("run-coordination-study", "--spec", str(spec), "--out", str(root / "studies" / name),
             "--executor", "inline")
    return root
