"""Validating parsed documents: each against its schema, then the cross-references."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.policy.files import POLICY_FILES
from labtrust_gym.policy.validate._common import Problem, _plain
from labtrust_gym.policy.validate.cross_access import AccessChecks
from labtrust_gym.policy.validate.cross_lab import LabChecks
from labtrust_gym.policy.validate.cross_layout import LayoutChecks
from labtrust_gym.policy.validate.schema import schema_check

__all__ = ["CrossChecker", "validate_documents", "validate_document"]


class CrossChecker(LayoutChecks, LabChecks, AccessChecks):
    """Every cross-reference check, in a fixed order."""

    def run(self) -> list[Problem]:
        self._index()
        self._zone_layout()
        self._sites()
        self._equipment()
        self._catalogue()
        self._critical_thresholds()
        self._stability()
        self._acceptance()
        self._reagents()
        self._rbac()
        self._tokens()
        self._ladder()
        self._invariants()
        self._reason_codes()
        self._emits()
        self._sla()
        return self.problems


def validate_documents(
    policy_dir: Path,
    docs: Mapping[str, Any],
    sources: Mapping[str, str],
    digests: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Schema-validate each document of :data:`POLICY_FILES` present in ``docs``, then
    cross-check them. ``docs`` maps logical names to parsed documents (names absent from
    ``docs`` are skipped: a missing file is reported by whoever tried to read it);
    ``sources`` maps logical names to the file names used in the problems; ``digests``
    (logical name -> digest of the bytes parsed) lets clean schema verdicts be cached.
    """
    policy_dir = Path(policy_dir)
    plain = {k: _plain(v) for k, v in docs.items()}
    problems: list[Problem] = []
    for name, rel in POLICY_FILES.items():
        if name not in plain:
            continue
        source = sources.get(name, str(policy_dir / rel))
        digest = (digests or {}).get(name)
        problems.extend(schema_check(policy_dir, rel, source, plain[name], digest=digest))
    problems.extend(CrossChecker(plain, sources).run())
    return problems


def validate_document(
    policy_dir: Path | str, rel: str, doc: Any, source: str | None = None
) -> list[Problem]:
    """Schema-check one parsed document that lives at ``rel`` under ``policy_dir`` (for
    example a file of :data:`~labtrust_gym.policy.files.COORDINATION_FILES`); ``source``
    names it in the problems."""
    pdir = Path(policy_dir)
    return schema_check(pdir, rel, source or str(pdir / rel), _plain(doc))
