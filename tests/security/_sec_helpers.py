"""Shared pieces of the security tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from labtrust_gym.security.catalogue import load_catalogue

_SUITE: dict[str, Any] | None = None


def shipped_suite() -> dict[str, Any]:
    """The shipped catalogue (loaded once; callers get a deep copy)."""
    global _SUITE
    if _SUITE is None:
        _SUITE = load_catalogue()
    return copy.deepcopy(_SUITE)


def attack(suite: dict[str, Any], attack_id: str) -> dict[str, Any]:
    return next(a for a in suite["attacks"] if a["attack_id"] == attack_id)


def profile_root(tmp_path: Path, **paths: str) -> Path:
    """An extra artifact root with a lab profile ``t`` whose path overrides are ``paths``
    (files relative to ``<root>/policy``); returns the root."""
    root = tmp_path / "ext"
    prof = root / "policy" / "lab_profiles" / "t.v0.1.yaml"
    prof.parent.mkdir(parents=True, exist_ok=True)
    prof.write_text(
        yaml.safe_dump({"version": "0.1", "profile_id": "t", "description": "tests", **paths})
    )
    return root


def write_suite(root: Path, name: str, doc: dict[str, Any]) -> Path:
    p = root / "policy" / "security" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    body = {k: v for k, v in doc.items() if k != "source"}
    p.write_text(yaml.safe_dump(body, sort_keys=False))
    return p
