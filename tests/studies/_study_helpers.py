"""Helpers of the study tests: a small spec (small_smoke, two methods, nominal and an
analyzer fault)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

SMALL_SPEC: dict[str, Any] = {
    "version": "0.1",
    "study_id": "small",
    "task": "coord_risk",
    "scales": [{"name": "scale_preset", "values": ["small_smoke"]}],
    "methods": ["scripted_team", "market_auction"],
    "injections": ["none", "INJ-DEVICE-FAULT-001"],
    "episodes_per_cell": 2,
    "base_seed": 11,
}


def write_spec(path: Path, **changes: Any) -> Path:
    doc = {**SMALL_SPEC, **changes}
    doc = {k: v for k, v in doc.items() if v is not None}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def cell_doc(run_dir: Path, cell_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        (run_dir / "cells" / cell_id / "results.json").read_text(encoding="utf-8")
    )
    return doc
