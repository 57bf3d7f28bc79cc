"""The one loader of policy files.

Every policy file is versioned YAML with a JSON Schema under ``policy/schemas/``. The loader
reads them (through the hardened reader :func:`~labtrust_gym.policy.yaml_io.load_yaml`),
validates them, and returns an immutable :class:`PolicyBundle`. Nothing on the engine's hot
path ever touches a file.

Loading is cached twice: in the process (on the files' modification times) and across
processes in the compiled-policy cache (:mod:`labtrust_gym.policy.cache`): a policy tree
whose files, overlay and schemas are byte-for-byte one that validated before is not
validated again, and each unchanged file is not parsed again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from labtrust_gym.errors import PolicyError
from labtrust_gym.paths import get_policy_dir
from labtrust_gym.policy import cache
from labtrust_gym.policy.files import (
    COORDINATION_FILES,
    POLICY_FILES,
    freeze,
    merge_overlay,
    schema_path_for,
    thaw,
)
from labtrust_gym.policy.partners import partner_overlay_dir
from labtrust_gym.policy.yaml_io import load_yaml, load_yaml_digest

__all__ = [
    "POLICY_FILES",
    "COORDINATION_FILES",
    "PolicyBundle",
    "load_policy",
    "load_policy_document",
    "load_yaml",
    "merge_overlay",
    "partner_overlay_dir",
    "schema_path_for",
    "thaw",
    "fingerprint_docs",
]

_freeze = freeze  # the name the engine's world compiler used


@dataclass(frozen=True)
class PolicyBundle:
    """All policy documents of one policy directory (optionally with a partner overlay).

    ``docs`` maps each logical name of :data:`POLICY_FILES` to its parsed, read-only
    document. ``fingerprint`` is the SHA-256 of their canonical JSON: signatures bind it,
    so a changed policy invalidates old signatures.
    """

    policy_dir: Path
    docs: Mapping[str, Any]
    fingerprint: str
    partner_id: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        try:
            return self.docs[name]
        except KeyError:
            known = ", ".join(sorted(self.docs))
            raise PolicyError(f"no policy document {name!r}; known: {known}") from None

    def doc(self, name: str) -> dict[str, Any]:
        """A mutable deep copy of one document."""
        out: dict[str, Any] = thaw(self[name])
        return out


def fingerprint_docs(docs: Mapping[str, Any]) -> str:
    """SHA-256 of the documents' canonical JSON (sorted keys)."""
    import orjson

    try:
        blob = orjson.dumps(docs, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # frozen documents (mapping proxies): the same JSON from a plain copy
        blob = orjson.dumps(thaw(docs), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()


_CACHE: dict[tuple[str, str | None, tuple[Any, ...]], PolicyBundle] = {}


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "<missing>"


def _validation_key(kind: str, pdir: Path, digests: Mapping[str, str]) -> str:
    """What one validation depends on: the digests of the very bytes parsed (documents,
    overlay files), the schemas of the documents, and the code."""
    h = hashlib.sha256(f"{kind}|{cache.code_digest()}|".encode())
    for label, digest in sorted(digests.items()):
        h.update(f"{label}={digest}\n".encode())
    for rel in sorted({r for r in digests if not r.startswith("overlay/")}):
        h.update(f"{schema_path_for(rel)}={_file_digest(pdir / schema_path_for(rel))}\n".encode())
    return h.hexdigest()


def _file_ids(paths: list[Path]) -> tuple[tuple[str, int, int, int] | None, ...]:
    """Each file's identity as bytecode caches take it: size, modification time, inode
    (None: missing)."""
    out: list[tuple[str, int, int, int] | None] = []
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            out.append(None)
        else:
            out.append((str(p), st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(out)


def _bundle_key(pdir: Path, overlay_dir: Path | None, ids: tuple[Any, ...]) -> str:
    """The key of a whole parsed bundle in the cache: the identity of every file
    (:func:`_file_ids`), the reader's code and the YAML limits. A hit spares reading,
    hashing and looking up each file (most of a short run's policy loading); any change
    to a file is a miss, which parses what changed and validates by content digest as
    before."""
    from labtrust_gym.policy.yaml_io import yaml_limits

    lim = yaml_limits()
    h = hashlib.sha256(
        f"bundle|{cache.code_digest()}|{lim.max_bytes}|{lim.max_nodes}|{lim.max_depth}|"
        f"{pdir}|{overlay_dir}|{ids!r}".encode()
    )
    return h.hexdigest()


def load_policy(
    policy_root: Path | str | None = None,
    *,
    partner_id: str | None = None,
    validate: bool = True,
) -> PolicyBundle:
    """Load, validate and freeze every policy document.

    ``policy_root`` is a repository root or a ``policy/`` directory (default: see
    :func:`labtrust_gym.config.get_policy_dir`). With ``partner_id`` the files under
    ``partners/<partner_id>/`` (same relative paths) are deep-merged over the base; the
    overlay is looked up in the artifact roots (:mod:`labtrust_gym.artifacts`). Without
    ``partner_id`` the active lab profile's ``partner_id`` applies, if any.
    """
    pdir = get_policy_dir(policy_root)
    paths = [pdir / rel for rel in POLICY_FILES.values()]
    if partner_id is None:
        from labtrust_gym.profiles import active_lab_profile

        prof = active_lab_profile()
        partner_id = prof.partner_id if prof is not None else None
    overlay_dir = partner_overlay_dir(pdir, partner_id)
    overlay_paths = [overlay_dir / rel for rel in POLICY_FILES.values()] if overlay_dir else []
    ids = _file_ids(paths + overlay_paths)
    key = (str(pdir), str(overlay_dir) if overlay_dir else None, ids)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    bkey = _bundle_key(pdir, overlay_dir, ids)
    ok, hit_doc = cache.get_json("bundle", bkey)
    if ok:
        docs, sources, digests = hit_doc["docs"], hit_doc["sources"], hit_doc["digests"]
        fingerprint = hit_doc["fingerprint"]
    else:
        docs, sources, digests = {}, {}, {}
        for name, rel in POLICY_FILES.items():
            docs[name], digests[rel] = load_yaml_digest(pdir / rel)
            sources[name] = str(pdir / rel)
            if overlay_dir is not None and (overlay_dir / rel).is_file():
                over, digests[f"overlay/{rel}"] = load_yaml_digest(overlay_dir / rel)
                docs[name] = merge_overlay(docs[name], over)
                sources[name] += f" + {overlay_dir / rel}"
        fingerprint = ""  # after validation, which names what the fingerprint cannot take
    if validate:
        vkey = _validation_key("bundle", pdir, digests)
        if not cache.has_marker("validated", vkey):
            from labtrust_gym.policy.validate import raise_for_problems, validate_documents

            by_name = {
                name: "+".join(d for d in (digests.get(rel), digests.get(f"overlay/{rel}")) if d)
                for name, rel in POLICY_FILES.items()
            }
            raise_for_problems(validate_documents(pdir, docs, sources, by_name))
            cache.put_marker("validated", vkey)
    if not ok:
        fingerprint = fingerprint_docs(docs)
        cache.put_json(
            "bundle",
            bkey,
            {"docs": docs, "sources": sources, "digests": digests, "fingerprint": fingerprint},
        )
    bundle = PolicyBundle(
        policy_dir=pdir,
        docs=MappingProxyType({k: freeze(v) for k, v in docs.items()}),
        fingerprint=fingerprint,
        partner_id=partner_id,
        sources=MappingProxyType(sources),
    )
    _CACHE[key] = bundle
    return bundle


_DOC_CACHE: dict[tuple[str, float], Any] = {}


def load_policy_document(
    name: str, policy_root: Path | str | None = None, *, validate: bool = True
) -> Any:
    """One document of :data:`COORDINATION_FILES`, schema-validated and frozen (read-only
    mappings and tuples; :func:`thaw` gives a mutable copy). Read once per file version.
    """
    rel = COORDINATION_FILES.get(name)
    if rel is None:
        raise PolicyError(
            f"no coordination policy document {name!r}; known: "
            f"{', '.join(sorted(COORDINATION_FILES))}"
        )
    pdir = get_policy_dir(policy_root)
    path = pdir / rel
    try:
        stamp = path.stat().st_mtime
    except OSError:
        raise PolicyError(
            f"{path}: file not found; the coordination document {name!r} must live at {rel} "
            "under the policy directory"
        ) from None
    key = (str(path), stamp)
    hit = _DOC_CACHE.get(key)
    if hit is not None:
        return hit
    doc, digest = load_yaml_digest(path)
    if validate:
        vkey = _validation_key("document", pdir, {rel: digest})
        if not cache.has_marker("validated", vkey):
            from labtrust_gym.policy.validate import raise_for_problems, validate_document

            raise_for_problems(validate_document(pdir, rel, doc, str(path)))
            cache.put_marker("validated", vkey)
    frozen = freeze(doc)
    _DOC_CACHE[key] = frozen
    return frozen
