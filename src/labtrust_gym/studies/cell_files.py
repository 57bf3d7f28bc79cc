"""A study directory's file names and the readers of its cell files (shared by the runner,
which writes them, and the report, which reads them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "CELL_SCHEMA",
    "MANIFEST_SCHEMA",
    "MANIFEST_FILE",
    "RESULTS_FILE",
    "ERROR_FILE",
    "load_cell_doc",
    "read_error",
    "read_json",
]

CELL_SCHEMA = "labtrust.study_cell.v0.1"
MANIFEST_SCHEMA = "labtrust.study_manifest.v0.1"
MANIFEST_FILE = "study_manifest.json"
RESULTS_FILE = "results.json"
ERROR_FILE = "error.json"


def read_json(path: Path) -> Any:
    """The JSON document at ``path``, or None when it is missing, unreadable or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_cell_doc(out_dir: Path | str, cell_id: str, fingerprint: str) -> dict[str, Any] | None:
    """The finished document of a cell in a study directory, or None (missing, failed,
    or made for a different definition of the cell than ``fingerprint``)."""
    doc = read_json(Path(out_dir) / "cells" / cell_id / RESULTS_FILE)
    if (
        isinstance(doc, dict)
        and doc.get("schema_version") == CELL_SCHEMA
        and doc.get("status") == "ok"
        and doc.get("fingerprint") == fingerprint
    ):
        return doc
    return None


def read_error(out_dir: Path | str, cell_id: str) -> dict[str, Any] | None:
    """The ``error`` record of a failed cell, or None."""
    doc = read_json(Path(out_dir) / "cells" / cell_id / ERROR_FILE)
    err = doc.get("error") if isinstance(doc, dict) else None
    return err if isinstance(err, dict) else None
