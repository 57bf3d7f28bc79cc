"""Artifact roots: where policy artifacts are looked up.

Policy *artifacts* (lab profiles, scale presets, study specs, benchmark packs, partner
overlays, golden scenarios, coordination method catalogues) may live outside the
installed package, in any directory laid out as ``<root>/policy/...``. Every lookup goes
through :func:`resolve_artifact` (one artifact) or :func:`discover_artifacts` /
:func:`load_entries` (all of a kind), which search these roots in order:

1. the current directory (``./policy``);
2. each directory of ``LABTRUST_EXTRA_ROOTS`` (``os.pathsep``-separated), in order;
3. the base root: ``LABTRUST_POLICY_DIR`` (a policy directory, used as given), else
   ``LABTRUST_ROOT``, else the installed package's own policy (the source checkout's in
   an editable install).

Roots whose policy directories are the same real path count once (symlinks, a current
directory inside the install root). An artifact found in more than one root:

* with the same content in each (byte-identical files, identical directory trees, equal
  entries) is no collision: the earliest root's copy is used;
* with no extra roots configured (only ``./policy`` and the base), the earliest root wins,
  and an :class:`ArtifactShadowWarning` names what it shadows (running the installed
  wheel from inside a checkout never fails);
* with ``LABTRUST_EXTRA_ROOTS`` set, different definitions raise
  :class:`ArtifactCollisionError` naming every path, unless
  ``LABTRUST_ALLOW_ROOT_OVERRIDE=1``: then the earliest root wins, with the warning.

``LABTRUST_ALLOW_ROOT_OVERRIDE`` accepts only the switch values of
:mod:`labtrust_gym.envvars`. Environment variables are read at every call and nothing is
ever written into a root. :func:`get_artifact_roots` is the name of
:func:`artifact_roots` used by the artifact-root proposal this follows.

Functions that take a ``policy_root`` treat it as a *pin*: ``None`` or a policy
directory that is one of the search roots means "search every root"; any other
directory (a test's copy of the policy, ``validate-policy --policy-dir``) is searched
alone.

The core policy documents the engine loads (``POLICY_FILES``) are not artifacts: they
always come from the base policy directory (:func:`labtrust_gym.config.get_policy_dir`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from labtrust_gym.envvars import env_flag
from labtrust_gym.errors import ConfigError, UnknownIdError
from labtrust_gym.paths import (
    ENV_EXTRA_ROOTS,
    ENV_ROOT,
    ArtifactRoot,
    extra_roots_configured,
    get_policy_dir,
    search_roots,
)

__all__ = [
    "ENV_EXTRA_ROOTS",
    "ENV_ROOT",
    "ENV_ALLOW_ROOT_OVERRIDE",
    "ARTIFACT_KINDS",
    "ArtifactKind",
    "ArtifactRoot",
    "ArtifactCandidate",
    "ArtifactCollisionError",
    "ArtifactShadowWarning",
    "artifact_roots",
    "get_artifact_roots",
    "allow_root_override",
    "artifact_kind",
    "find_artifact",
    "resolve_artifact",
    "discover_artifacts",
    "list_artifact_names",
    "load_entries",
    "kind_for_parts",
]

ENV_ALLOW_ROOT_OVERRIDE = "LABTRUST_ALLOW_ROOT_OVERRIDE"


class ArtifactCollisionError(ConfigError):
    """One artifact is defined differently in more than one root (with extra roots
    configured); ``paths`` lists every definition."""

    def __init__(self, kind: str, name: str, paths: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.paths = list(paths)
        listing = "\n  ".join(self.paths)
        super().__init__(
            f"{kind} {name!r} is defined differently in {len(paths)} artifact roots:\n"
            f"  {listing}\n"
            f"remove or rename all but one, or set {ENV_ALLOW_ROOT_OVERRIDE}=1 to let the "
            "earliest root (current directory, then LABTRUST_EXTRA_ROOTS in order, then the "
            "base root) win"
        )


class ArtifactShadowWarning(UserWarning):
    """An artifact of an earlier root hides different definitions in later roots."""


class ArtifactKind(NamedTuple):
    """A kind of policy artifact and its layout under ``<root>/policy``.

    ``form`` is ``"file"`` (one file per artifact: ``<subdir>/<name><suffix>``), ``"dir"``
    (one directory per artifact: ``<subdir>/<name>/``) or ``"entries"`` (entries of the
    mapping ``key`` in the file ``<subdir>/<file>``; every root may hold that file and the
    entries of all roots are merged).
    """

    name: str
    form: str
    subdir: str
    description: str
    label: str = ""
    suffix: str = ".v0.1.yaml"
    file: str = ""
    key: str = ""


ARTIFACT_KINDS: Mapping[str, ArtifactKind] = {
    k.name: k
    for k in (
        ArtifactKind(
            "lab_profiles", "file", "lab_profiles", "lab profiles (--profile ID)", "lab profile"
        ),
        ArtifactKind(
            "scale_presets",
            "entries",
            "coordination",
            "scale presets (--scale ID)",
            "scale preset",
            file="scale_configs.v0.1.yaml",
            key="presets",
        ),
        ArtifactKind("studies", "file", "studies", "coordination study specs", "study spec"),
        ArtifactKind(
            "benchmark_packs", "file", "benchmark_packs", "benchmark packs", "benchmark pack"
        ),
        ArtifactKind(
            "partners", "dir", "partners", "partner overlays (partner_id)", "partner overlay"
        ),
        ArtifactKind("golden", "file", "golden", "golden scenario files", "golden scenario file"),
        ArtifactKind(
            "coordination_methods",
            "entries",
            "coordination",
            "coordination method catalogue entries",
            "coordination method catalogue entry",
            file="coordination_methods.v0.1.yaml",
            key="methods",
        ),
        ArtifactKind(
            "skills",
            "file",
            "skills",
            "agent playbooks: Markdown skill documents of LLM agents (--llm-playbook NAME)",
            "skill document",
            suffix=".md",
        ),
    )
}


class ArtifactCandidate(NamedTuple):
    """One definition of an artifact in one root."""

    kind: str
    name: str
    path: Path
    root: ArtifactRoot


def allow_root_override() -> bool:
    """Whether ``LABTRUST_ALLOW_ROOT_OVERRIDE`` is set (earliest root wins)."""
    return env_flag(ENV_ALLOW_ROOT_OVERRIDE)


def artifact_kind(kind: str) -> ArtifactKind:
    try:
        return ARTIFACT_KINDS[kind]
    except KeyError:
        raise UnknownIdError(
            f"unknown artifact kind {kind!r}; known: {', '.join(ARTIFACT_KINDS)}"
        ) from None


def artifact_roots(policy_root: Path | str | None = None) -> list[ArtifactRoot]:
    """The roots searched, in order (see the module docstring for ``policy_root``)."""
    roots = search_roots()
    if policy_root is None:
        return roots
    pdir = get_policy_dir(policy_root)
    real = os.path.realpath(pdir)
    if any(r.real == real for r in roots):
        return roots
    return [ArtifactRoot("explicit policy root", pdir)]


#: The reference's name for :func:`artifact_roots`.
get_artifact_roots = artifact_roots


def _strip(k: ArtifactKind, name: str) -> tuple[str, str]:
    """``(artifact name, file name)`` for ``name`` given with or without its suffix."""
    if k.form == "file":
        if name.endswith((".yaml", ".yml")):
            base = name[: -len(k.suffix)] if name.endswith(k.suffix) else name
            return base, name
        return name, name + k.suffix
    return name, name


def _check_name(kind: str, name: str) -> None:
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ConfigError(f"{kind} name {name!r} must be a plain name, not a path")


def find_artifact(
    kind: str, name: str, policy_root: Path | str | None = None
) -> list[ArtifactCandidate]:
    """Every definition of ``name`` of ``kind``, in root order (no collision check)."""
    k = artifact_kind(kind)
    _check_name(kind, name)
    out: list[ArtifactCandidate] = []
    if k.form == "entries":
        for root in artifact_roots(policy_root):
            path = root.policy_dir / k.subdir / k.file
            if path.is_file() and name in _entries_of(path, k):
                out.append(ArtifactCandidate(kind, name, path, root))
        return out
    art, fname = _strip(k, name)
    for root in artifact_roots(policy_root):
        path = root.policy_dir / k.subdir / fname
        if path.is_dir() if k.form == "dir" else path.is_file():
            out.append(ArtifactCandidate(kind, art, path, root))
    return out


def _content(c: ArtifactCandidate) -> Any:
    """What two definitions are compared by: file bytes, a directory tree, an entry."""
    import hashlib

    k = artifact_kind(c.kind)
    if k.form == "entries":
        return ("entry", _entries_of(c.path, k).get(c.name))
    if k.form == "dir":
        h = hashlib.sha256()
        for p in sorted(c.path.rglob("*")):
            h.update(p.relative_to(c.path).as_posix().encode() + b"\0")
            if p.is_file():
                h.update(hashlib.sha256(p.read_bytes()).digest())
        return ("dir", h.hexdigest())
    return ("file", hashlib.sha256(c.path.read_bytes()).hexdigest())


def _pick(kind: str, name: str, cands: list[ArtifactCandidate]) -> ArtifactCandidate:
    """The definition to use (see the module docstring for the rules)."""
    if len(cands) == 1:
        return cands[0]
    first = _content(cands[0])
    if all(_content(c) == first for c in cands[1:]):
        return cands[0]  # the same artifact in several roots: no collision
    paths = [str(c.path) for c in cands]
    if extra_roots_configured() and not allow_root_override():
        raise ArtifactCollisionError(kind, name, paths)
    import warnings

    why = (
        f"because {ENV_ALLOW_ROOT_OVERRIDE}=1"
        if extra_roots_configured()
        else "(the earlier root wins when no extra roots are configured)"
    )
    warnings.warn(
        f"{kind} {name!r}: using {paths[0]} ({cands[0].root.label}); it shadows a different "
        + ", ".join(f"{c.path} ({c.root.label})" for c in cands[1:])
        + f" {why}",
        ArtifactShadowWarning,
        stacklevel=3,
    )
    return cands[0]


def resolve_artifact(
    kind: str, name: str, policy_root: Path | str | None = None, *, required: bool = True
) -> Path | None:
    """The path of artifact ``name`` of ``kind``.

    For ``entries`` kinds this is the file that defines the entry. Not found: an
    :class:`UnknownIdError` listing the known names and the roots searched (or ``None``
    with ``required=False``). Found in several roots: see the module docstring.
    """
    cands = find_artifact(kind, name, policy_root)
    if not cands:
        if not required:
            return None
        known = sorted(discover_artifacts(kind, policy_root))
        roots = ", ".join(f"{r.policy_dir} ({r.label})" for r in artifact_roots(policy_root))
        raise UnknownIdError(
            f"{artifact_kind(kind).label} {name!r} not found in any artifact root ({roots}); "
            f"known: {', '.join(known) or '(none)'}"
        )
    return _pick(kind, name, cands).path


def discover_artifacts(
    kind: str, policy_root: Path | str | None = None
) -> dict[str, list[ArtifactCandidate]]:
    """Every artifact of ``kind`` in every root: ``name -> definitions`` (root order).

    More than one definition means a collision; nothing is raised here (use
    :func:`list_artifact_names` or :func:`resolve_artifact` for the strict rules).
    """
    k = artifact_kind(kind)
    found: dict[str, list[ArtifactCandidate]] = {}
    for root in artifact_roots(policy_root):
        if k.form == "entries":
            path = root.policy_dir / k.subdir / k.file
            if path.is_file():
                for name in _entries_of(path, k):
                    found.setdefault(name, []).append(ArtifactCandidate(kind, name, path, root))
            continue
        d = root.policy_dir / k.subdir
        if not d.is_dir():
            continue
        if k.form == "dir":
            items = sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
            for p in items:
                found.setdefault(p.name, []).append(ArtifactCandidate(kind, p.name, p, root))
        else:
            for p in sorted(d.glob(f"*{k.suffix}")):
                name = p.name[: -len(k.suffix)]
                found.setdefault(name, []).append(ArtifactCandidate(kind, name, p, root))
    return dict(sorted(found.items()))


def list_artifact_names(kind: str, policy_root: Path | str | None = None) -> list[str]:
    """The names of every artifact of ``kind`` across the roots; a name defined in more
    than one root raises :class:`ArtifactCollisionError` (unless the override switch is
    set, which warns)."""
    out = []
    for name, cands in discover_artifacts(kind, policy_root).items():
        _pick(kind, name, cands)
        out.append(name)
    return out


def discover_paths(kind: str, policy_root: Path | str | None = None) -> list[Path]:
    """The resolved path of every artifact of ``kind`` (strict collision rules)."""
    return [
        _pick(kind, name, cands).path
        for name, cands in discover_artifacts(kind, policy_root).items()
    ]


_ENTRIES_CACHE: dict[tuple[str, float, int], dict[str, Any]] = {}


def _entries_of(path: Path, k: ArtifactKind) -> dict[str, Any]:
    """The ``k.key`` mapping of ``path`` (parsed once per file version)."""
    from labtrust_gym.policy.yaml_io import load_yaml

    st = path.stat()
    key = (str(path), st.st_mtime, st.st_size)
    hit = _ENTRIES_CACHE.get(key)
    if hit is not None:
        return hit
    doc = load_yaml(path)
    entries = doc.get(k.key) if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise ConfigError(f"{path}: expected a mapping {k.key!r} of {k.description}")
    _ENTRIES_CACHE[key] = entries
    return entries


def load_entries(kind: str, policy_root: Path | str | None = None) -> dict[str, Any]:
    """The merged entries of an ``entries`` kind (scale presets, catalogue entries) of
    every root; an id defined in more than one root follows the collision rules."""
    import copy

    k = artifact_kind(kind)
    if k.form != "entries":
        raise ConfigError(f"artifact kind {kind!r} is not made of entries")
    merged: dict[str, Any] = {}
    per_root: list[tuple[ArtifactRoot, Path, dict[str, Any]]] = []
    for root in artifact_roots(policy_root):
        path = root.policy_dir / k.subdir / k.file
        if path.is_file():
            per_root.append((root, path, _entries_of(path, k)))
    names: dict[str, list[ArtifactCandidate]] = {}
    for root, path, entries in per_root:
        for name in entries:
            names.setdefault(name, []).append(ArtifactCandidate(kind, name, path, root))
    by_path = {str(path): entries for _, path, entries in per_root}
    for name in sorted(names):
        chosen = _pick(kind, name, names[name])
        merged[name] = copy.deepcopy(by_path[str(chosen.path)][name])  # callers may mutate
    return merged


def kind_for_parts(parts: tuple[str, ...]) -> ArtifactKind | None:
    """The file or directory artifact kind addressed by ``policy_path(..., *parts)``
    (``("studies", "x.v0.1.yaml")``, ``("partners", "p", "sla", "f.yaml")``), if any."""
    if len(parts) < 2:
        return None
    for k in ARTIFACT_KINDS.values():
        if k.form == "file" and parts[0] == k.subdir and len(parts) == 2:
            return k
        if k.form == "dir" and parts[0] == k.subdir:
            return k
    return None
