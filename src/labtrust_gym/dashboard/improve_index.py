"""Improvement runs and knowledge pages of the orchestrator (filled in below)."""
from __future__ import annotations
from pathlib import Path
from typing import Any
__all__ = ["scan_improve"]
def scan_improve(root: Path, files: list[Path]) -> list[Any]:
    return []
