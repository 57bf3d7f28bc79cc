"""Validating a policy directory as it lies on disk: every file, overlays, extra documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from labtrust_gym.errors import PolicyError, PolicyFileError
from labtrust_gym.paths import get_policy_dir
from labtrust_gym.policy.files import (
    COORDINATION_FILES,
    POLICY_FILES,
    merge_overlay,
    schema_path_for,
)
from labtrust_gym.policy.partners import partner_overlay_dir
from labtrust_gym.policy.validate._common import Problem
from labtrust_gym.policy.validate.documents import validate_documents
from labtrust_gym.policy.validate.schema import schema_allows_nonfinite, schema_check
from labtrust_gym.policy.yaml_io import load_yaml_digest

__all__ = ["KIND_SCHEMAS", "PolicyCheck", "check_policy_dir", "validate_policy_dir"]

#: Directories under ``policy/`` never scanned for extra documents.
_SKIP_DIRS = frozenset({"schemas", "partners"})
#: Directories of artifacts named by the user (``<id>.v0.1.yaml``), one schema per kind.
KIND_SCHEMAS = {
    "lab_profiles": "schemas/lab_profile.v0.1.schema.json",
    "benchmark_packs": "schemas/benchmark_pack.v0.1.schema.json",
    "studies": "schemas/study_spec.v0.1.schema.json",
}


class PolicyCheck(NamedTuple):
    """Result of :func:`check_policy_dir`: the problems, the files that were read, and
    the documents of :data:`POLICY_FILES` that could be read (overlay merged) with their
    sources."""

    problems: list[Problem]
    files: list[str]
    docs: dict[str, Any] = {}
    sources: dict[str, str] = {}


def validate_policy_dir(
    policy_root: Path | str | None = None, partner_id: str | None = None
) -> list[Problem]:
    """Read and validate a whole policy directory; return every problem found.

    ``policy_root`` is a repository root or a ``policy/`` directory (default: the configured
    one). With ``partner_id`` the overlay ``partners/<partner_id>/`` is merged first, as the
    loader does. Missing files and malformed YAML are reported as problems. Raises
    :class:`PolicyError` only when the directory or the partner overlay does not exist.
    """
    return check_policy_dir(policy_root, partner_id).problems


def check_policy_dir(
    policy_root: Path | str | None = None, partner_id: str | None = None
) -> PolicyCheck:
    """Like :func:`validate_policy_dir`, also returning the list of files read."""
    pdir = get_policy_dir(policy_root)
    overlay_dir = partner_overlay_dir(pdir, partner_id)
    problems: list[Problem] = []
    files: list[str] = []
    docs: dict[str, Any] = {}
    sources: dict[str, str] = {}
    digests: dict[str, str] = {}
    for name, rel in POLICY_FILES.items():
        path = pdir / rel
        if not path.is_file():
            problems.append(
                (
                    str(path),
                    "",
                    f"file not found: the policy document {name!r} must live at "
                    f"{rel} under {pdir}; restore it",
                )
            )
            continue
        files.append(str(path))
        (doc, digest), problem = _read(path, pdir, schema_path_for(rel))
        if problem is not None:
            problems.append(problem)
            continue
        source = str(path)
        if overlay_dir is not None and (overlay_dir / rel).is_file():
            files.append(str(overlay_dir / rel))
            (over, over_digest), problem = _read(overlay_dir / rel, pdir, schema_path_for(rel))
            if problem is not None:
                problems.append(problem)
                continue
            doc = merge_overlay(doc, over)
            source += f" + {overlay_dir / rel}"
            digest += "+" + over_digest
        docs[name] = doc
        sources[name] = source
        digests[name] = digest
    for name, rel in COORDINATION_FILES.items():
        if not (pdir / rel).is_file():
            problems.append(
                (
                    str(pdir / rel),
                    "",
                    f"file not found: the coordination document {name!r} must live at "
                    f"{rel} under {pdir}; restore it",
                )
            )
    if overlay_dir is not None:
        problems.extend(_stray_overlay_files(overlay_dir))
    problems.extend(validate_documents(pdir, docs, sources, digests))
    for path, schema in _extra_documents(pdir):
        files.append(str(path))
        (doc, digest), problem = _read(path, pdir, schema)
        if problem is not None:
            problems.append(problem)
            continue
        problems.extend(schema_check(pdir, "", str(path), doc, schema=schema, digest=digest))
    return PolicyCheck(problems, files, docs, sources)


def _read(
    path: Path, pdir: Path | None = None, schema: str | None = None
) -> tuple[tuple[Any, str], Problem | None]:
    """``((document, digest of its bytes), None)``, or a problem triple naming the key
    path when the file cannot be read (see :func:`~labtrust_gym.policy.yaml_io.load_yaml`).
    Non-finite numbers are read only when the file's schema opts in
    (``x-allow-nonfinite``); the schema then decides per place.
    """
    allow = pdir is not None and schema is not None and schema_allows_nonfinite(pdir / schema)
    try:
        return load_yaml_digest(path, allow_nonfinite=allow), None
    except PolicyFileError as exc:
        return (None, ""), (str(path), exc.key_path, exc.located_without_key())
    except PolicyError as exc:
        msg = str(exc)
        prefix = f"{path}:"
        if msg.startswith(prefix):
            msg = msg[len(prefix) :].strip()
        return (None, ""), (str(path), "", msg)


def _stray_overlay_files(overlay_dir: Path) -> list[Problem]:
    """Overlay YAML files that match no policy file are silently ignored by the loader."""
    known = set(POLICY_FILES.values())
    out: list[Problem] = []
    for path in sorted(overlay_dir.rglob("*.yaml")):
        rel = path.relative_to(overlay_dir).as_posix()
        if rel not in known:
            out.append(
                (
                    str(path),
                    "",
                    f"overlay file {rel} matches no policy file, so it would be ignored; "
                    f"use one of the base paths ({', '.join(sorted(known))})",
                )
            )
    return out


def _extra_documents(pdir: Path) -> list[tuple[Path, str]]:
    """``(file, schema)`` of the ``*.yaml`` files outside :data:`POLICY_FILES` that have a
    schema: their kind's (:data:`KIND_SCHEMAS`: profiles, packs, study specs) or their
    own by name."""
    known = set(POLICY_FILES.values())
    out = []
    for path in sorted(pdir.rglob("*.yaml")):
        rel = path.relative_to(pdir)
        if rel.parts[0] in _SKIP_DIRS or rel.as_posix() in known:
            continue
        schema = KIND_SCHEMAS.get(rel.parts[0]) if len(rel.parts) == 2 else None
        if schema is None:
            schema = schema_path_for(rel.as_posix())
        if (pdir / schema).is_file():
            out.append((path, schema))
    return out
