"""Validation of the policy tree: JSON Schema per file, then cross-references between files.

Every problem is a ``(file, path, message)`` triple: ``file`` is the source of the document
(``<base> + <overlay>`` when a partner overlay was merged), ``path`` a dotted path into it
(``zones[3].site_id``; empty for the whole file) and ``message`` says what is wrong and how
to fix it. Validation never stops at the first problem.

* :func:`validate_documents` checks already-parsed documents (the loader calls it);
* :func:`validate_policy_dir` reads a policy directory itself, so a missing file or
  malformed YAML becomes a problem too, and also checks extra ``*.yaml`` files (for example
  ``coordination/*.yaml``) for which a schema exists;
* :func:`raise_for_problems` turns a non-empty list into :class:`PolicyValidationError`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from labtrust_gym.config import get_policy_dir
from labtrust_gym.errors import PolicyError, PolicyValidationError
from labtrust_gym.policy.loader import (
    COORDINATION_FILES,
    POLICY_FILES,
    load_yaml,
    merge_overlay,
    partner_overlay_dir,
    schema_path_for,
    thaw,
)

__all__ = [
    "Problem",
    "PolicyCheck",
    "ZONE_KINDS",
    "SLA_PRIORITIES",
    "validate_documents",
    "validate_document",
    "validate_policy_dir",
    "check_policy_dir",
    "raise_for_problems",
    "format_path",
]

#: ``(file, path, message)``.
Problem = tuple[str, str, str]

#: The zone kinds RBAC can grant (closed vocabulary, mirrored by the zone_layout schema).
ZONE_KINDS: tuple[str, ...] = (
    "reception",
    "corridor",
    "preanalytics",
    "analytics",
    "restricted",
    "stores",
    "office",
    "dispatch",
)

#: The priorities of ``sla_targets``, most urgent first.
SLA_PRIORITIES: tuple[str, ...] = ("STAT", "URGENT", "ROUTINE")

#: Directories under ``policy/`` never scanned for extra documents.
_SKIP_DIRS = frozenset({"schemas", "partners"})
#: Directories of artifacts named by the user (``<id>.v0.1.yaml``), one schema per kind.
KIND_SCHEMAS = {
    "lab_profiles": "schemas/lab_profile.v0.1.schema.json",
    "benchmark_packs": "schemas/benchmark_pack.v0.1.schema.json",
    "studies": "schemas/study_spec.v0.1.schema.json",
}


class PolicyCheck(NamedTuple):
    """Result of :func:`check_policy_dir`: the problems and the files that were read."""

    problems: list[Problem]
    files: list[str]


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def raise_for_problems(problems: Sequence[Problem]) -> None:
    """Raise :class:`PolicyValidationError` listing ``problems`` if there are any."""
    if problems:
        raise PolicyValidationError(list(problems))


def validate_documents(
    policy_dir: Path, docs: Mapping[str, Any], sources: Mapping[str, str]
) -> list[Problem]:
    """Schema-validate each document of :data:`POLICY_FILES` present in ``docs``, then
    cross-check them. ``docs`` maps logical names to parsed documents (names absent from
    ``docs`` are skipped: a missing file is reported by whoever tried to read it);
    ``sources`` maps logical names to the file names used in the problems.
    """
    policy_dir = Path(policy_dir)
    plain = {k: _plain(v) for k, v in docs.items()}
    problems: list[Problem] = []
    for name, rel in POLICY_FILES.items():
        if name not in plain:
            continue
        source = sources.get(name, str(policy_dir / rel))
        problems.extend(_schema_check(policy_dir, rel, source, plain[name]))
    problems.extend(_CrossChecker(plain, sources).run())
    return problems


def validate_document(
    policy_dir: Path | str, rel: str, doc: Any, source: str | None = None
) -> list[Problem]:
    """Schema-check one parsed document that lives at ``rel`` under ``policy_dir`` (for
    example a file of :data:`COORDINATION_FILES`); ``source`` names it in the problems."""
    pdir = Path(policy_dir)
    return _schema_check(pdir, rel, source or str(pdir / rel), _plain(doc))


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
        doc, problem = _read(path)
        if problem is not None:
            problems.append(problem)
            continue
        source = str(path)
        if overlay_dir is not None and (overlay_dir / rel).is_file():
            files.append(str(overlay_dir / rel))
            over, problem = _read(overlay_dir / rel)
            if problem is not None:
                problems.append(problem)
                continue
            doc = merge_overlay(doc, over)
            source += f" + {overlay_dir / rel}"
        docs[name] = doc
        sources[name] = source
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
    problems.extend(validate_documents(pdir, docs, sources))
    for path, schema in _extra_documents(pdir):
        files.append(str(path))
        doc, problem = _read(path)
        if problem is not None:
            problems.append(problem)
            continue
        problems.extend(_schema_check(pdir, "", str(path), doc, schema=schema))
    return PolicyCheck(problems, files)


def format_path(parts: Iterable[str | int]) -> str:
    """``["zones", 3, "site_id"]`` -> ``zones[3].site_id``."""
    out = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            key = str(part)
            if _PLAIN_KEY.fullmatch(key):
                out += f".{key}" if out else key
            else:
                out += f"[{json.dumps(key)}]"
    return out


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def _plain(doc: Any) -> Any:
    """Frozen bundle documents (mapping proxies, tuples) -> dicts and lists."""
    if isinstance(doc, Mapping) and not isinstance(doc, dict):
        return thaw(doc)
    if isinstance(doc, tuple):
        return thaw(doc)
    return doc


#: Parsed documents keyed by the SHA-256 of their bytes: validating many copies of one
#: policy tree (tests, sweeps over partner overlays) parses each distinct file once. The
#: documents are never mutated here, so sharing them is safe.
_PARSED: dict[bytes, Any] = {}
_PARSED_MAX = 512


def _read(path: Path) -> tuple[Any, Problem | None]:
    """Parse one YAML file with :func:`load_yaml`; a failure becomes a problem triple."""
    try:
        key: bytes | None = hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        key = None  # load_yaml reports it
    if key is not None and key in _PARSED:
        return _PARSED[key], None
    try:
        doc = load_yaml(path)
    except PolicyError as exc:
        msg = str(exc)
        prefix = f"{path}:"
        if msg.startswith(prefix):
            msg = msg[len(prefix) :].strip()
        if "malformed YAML" in msg:
            msg += "; fix the YAML syntax there (indentation, quoting, tabs, unclosed brackets)"
        return None, (str(path), "", msg)
    try:
        unchanged = key == hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        unchanged = False
    if key is not None and unchanged:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = doc
    return doc, None


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


# --------------------------------------------------------------------------------------
# JSON Schema
# --------------------------------------------------------------------------------------

_VALIDATORS: dict[str, Draft202012Validator | str] = {}


def _validator_for(schema_file: Path) -> Draft202012Validator | str:
    """The compiled validator of ``schema_file``, or a message saying why there is none.

    Cached on the schema's text, so copies of a policy tree share compiled schemas.
    """
    try:
        text = schema_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"no JSON Schema at {schema_file}; add one (every policy file needs a schema)"
    except OSError as exc:
        return f"cannot read schema {schema_file} ({exc.strerror}); fix its permissions"
    hit = _VALIDATORS.get(text)
    if hit is not None:
        return hit
    result: Draft202012Validator | str
    try:
        schema = json.loads(text)
        Draft202012Validator.check_schema(schema)
        if isinstance(schema, dict):
            schema = _inline_local_refs(schema, schema.get("$defs") or {}, ())
        result = Draft202012Validator(schema)
    except ValueError as exc:
        return f"schema {schema_file} is not valid JSON ({exc}); fix the schema file"
    except SchemaError as exc:
        return f"schema {schema_file} is not a valid JSON Schema ({exc.message}); fix it"
    _VALIDATORS[text] = result
    return result


def _inline_local_refs(node: Any, defs: Mapping[str, Any], stack: tuple[str, ...]) -> Any:
    """Replace bare ``{"$ref": "#/$defs/x"}`` by the definition itself.

    Resolving references is most of jsonschema's time on large documents (thousands of
    zones, devices or agents); inlining halves it. Recursive definitions are left as refs.
    """
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and len(node) == 1 and ref.startswith("#/$defs/"):
            name = ref[len("#/$defs/") :]
            if name in defs and name not in stack:
                return _inline_local_refs(defs[name], defs, (*stack, name))
        return {
            k: v if k == "$defs" else _inline_local_refs(v, defs, stack) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_inline_local_refs(v, defs, stack) for v in node]
    return node


def _schema_check(
    policy_dir: Path, rel: str, source: str, doc: Any, *, schema: str | None = None
) -> list[Problem]:
    validator = _validator_for(policy_dir / (schema or schema_path_for(rel)))
    if isinstance(validator, str):
        return [(source, "", validator)]
    if doc is None:
        return [
            (
                source,
                "",
                'the file is empty; it must be a mapping starting with version: "0.1"',
            )
        ]
    out: list[Problem] = []
    for err in validator.iter_errors(doc):
        for path, msg in _describe(err):
            out.append((source, path, msg))
    return out


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _type_name(value: Any) -> str:
    if value is None:
        return "null (an empty value)"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(err: ValidationError) -> list[tuple[str, str]]:
    """One schema error -> ``(path, message)`` pairs in plain words."""
    parts: list[str | int] = list(err.absolute_path)
    kw = err.validator
    val = err.validator_value
    inst = err.instance
    schema = err.schema if isinstance(err.schema, Mapping) else {}
    if "propertyNames" in err.relative_schema_path:
        where = format_path([*parts, str(inst)])
        if kw == "type":
            return [(where, f"key {inst!r} must be a string; quote it in the YAML")]
        return [(where, f"key {inst!r} {_pattern_text(schema)}")]
    where = format_path(parts)
    msg: str
    if kw == "required":
        missing = next(
            (
                p
                for p in val
                if isinstance(inst, Mapping) and p not in inst and err.message.startswith(repr(p))
            ),
            None,
        )
        msg = f"missing required field {missing!r}; add it" if missing else err.message
        if "then" in err.relative_schema_path and schema.get("description"):
            msg += f" ({schema['description']})"
    elif kw == "additionalProperties" and val is False and isinstance(inst, Mapping):
        props = schema.get("properties", {})
        extras = [k for k in inst if k not in props]
        allowed = ", ".join(props) or "(none)"
        return [
            (
                format_path([*parts, str(k)]),
                f"unknown field {k!r}; allowed fields here: {allowed} (check the spelling)",
            )
            for k in extras
        ]
    elif kw == "type":
        expected = [val] if isinstance(val, str) else list(val)
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in expected)
        msg = f"expected {words}, got {_type_name(inst)} {_short(inst)}"
        if isinstance(inst, bool) and "boolean" not in expected:
            msg += " (YAML reads yes/no/on/off/true/false as booleans; quote the value)"
        elif not parts and inst is None:
            msg = 'the file is empty; it must be a mapping starting with version: "0.1"'
    elif kw == "const":
        if parts == ["version"]:
            msg = (
                f'must be the string "{val}" (write version: "{val}" with quotes), '
                f"got {_type_name(inst)} {_short(inst)}"
            )
        else:
            msg = f"must be {val!r}, got {_short(inst)}"
    elif kw == "enum":
        msg = f"{_short(inst)} is not allowed; use one of: {', '.join(map(str, val))}"
    elif kw == "pattern":
        msg = f"{_short(inst)} {_pattern_text(schema)}"
    elif kw in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
        msg = f"must be {op[kw]} {val}, got {_short(inst)}"
    elif kw in ("minItems", "maxItems"):
        n = len(inst) if isinstance(inst, Sequence) else 0
        if schema.get("minItems") == schema.get("maxItems"):
            msg = f"needs exactly {val} item(s), got {n}"
        elif kw == "minItems":
            msg = f"needs at least {val} item(s), got {n}"
        else:
            msg = f"allows at most {val} item(s), got {n}"
    elif kw == "minProperties":
        n = len(inst) if isinstance(inst, Mapping) else 0
        msg = f"needs at least {val} entr{'y' if val == 1 else 'ies'}, got {n}"
        if schema.get("description"):
            msg += f" ({schema['description']})"
    elif kw == "uniqueItems":
        dups = _duplicates(inst if isinstance(inst, list) else [])
        msg = f"duplicate item(s): {', '.join(map(str, dups))}; list each once"
    elif kw == "minLength":
        msg = "must not be empty"
    else:
        msg = err.message
    return [(where, msg)]


def _pattern_text(schema: Mapping[str, Any]) -> str:
    text = f"does not match the pattern {schema.get('pattern')}"
    examples = schema.get("examples")
    if examples:
        text += f" (for example {examples[0]})"
    if schema.get("description"):
        text += f"; expected: {schema['description']}"
    return text


def _duplicates(items: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    dups: list[Any] = []
    for item in items:
        if item in seen and item not in dups:
            dups.append(item)
        seen.append(item)
    return dups


# --------------------------------------------------------------------------------------
# Cross-references
# --------------------------------------------------------------------------------------


def _action_types() -> tuple[frozenset[str], str]:
    from labtrust_gym.engine.action_types import ACTION_TYPES, CLOCK_TRIGGER

    return frozenset(ACTION_TYPES), CLOCK_TRIGGER


def _known(names: Iterable[Any], limit: int = 15) -> str:
    items = sorted({str(n) for n in names})
    if not items:
        return "(none)"
    if len(items) > limit:
        return ", ".join(items[:limit]) + f", ... (+{len(items) - limit} more)"
    return ", ".join(items)


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _fmt_num(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _entries(doc: Mapping[str, Any] | None, key: str) -> list[tuple[int, dict[str, Any]]]:
    """``(index, item)`` of the mapping items of list ``doc[key]``."""
    value = doc.get(key) if doc is not None else None
    if not isinstance(value, list):
        return []
    return [(i, x) for i, x in enumerate(value) if isinstance(x, dict)]


def _members(doc: Mapping[str, Any] | None, key: str) -> list[tuple[str, dict[str, Any]]]:
    """``(name, value)`` of the mapping values of mapping ``doc[key]``."""
    value = doc.get(key) if doc is not None else None
    if not isinstance(value, dict):
        return []
    return [(str(k), v) for k, v in value.items() if isinstance(v, dict)]


def _strings(value: Any) -> Iterator[tuple[int, str]]:
    if isinstance(value, list):
        for i, x in enumerate(value):
            if isinstance(x, str):
                yield i, x


class _CrossChecker:
    """Checks that run over several documents; each doc may be absent or schema-invalid."""

    def __init__(self, docs: Mapping[str, Any], sources: Mapping[str, str]) -> None:
        self.docs = docs
        self.sources = sources
        self.problems: list[Problem] = []
        self.actions, self.clock = _action_types()

    # -- plumbing ------------------------------------------------------------------------

    def add(self, name: str, path: Sequence[str | int], msg: str) -> None:
        source = self.sources.get(name, POLICY_FILES.get(name, name))
        self.problems.append((source, format_path(path), msg))

    def doc(self, name: str) -> dict[str, Any] | None:
        d = self.docs.get(name)
        return d if isinstance(d, dict) else None

    def rel(self, name: str) -> str:
        return POLICY_FILES.get(name, name)

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

    def _index(self) -> None:
        """Id -> entry maps; ``None`` when the defining document is absent."""
        zl = self.doc("zone_layout")
        self.placed: dict[str, int] | None = None  # device id -> placement index (zone check)
        self.zones: dict[str, dict[str, Any]] | None = None
        if zl is not None:
            self.zones = {}
            for _, z in _entries(zl, "zones"):
                zid = _s(z.get("zone_id"))
                if zid is not None:
                    self.zones.setdefault(zid, z)
        sp = self.doc("sites_policy")
        self.sites: dict[str, dict[str, Any]] | None = None
        if sp is not None:
            self.sites = {}
            for _, s in _entries(sp, "sites"):
                sid = _s(s.get("site_id"))
                if sid is not None:
                    self.sites.setdefault(sid, s)
        eq = self.doc("equipment_registry")
        self.device_types: dict[str, dict[str, Any]] | None = None
        self.devices: dict[str, dict[str, Any]] | None = None
        if eq is not None:
            self.device_types = dict(_members(eq, "device_types"))
            self.devices = {}
            for _, d in _entries(eq, "devices"):
                did = _s(d.get("device_id"))
                if did is not None:
                    self.devices.setdefault(did, d)
        cat = self.doc("test_catalogue")
        self.panels = dict(_members(cat, "panels")) if cat is not None else None
        self.tube_types = dict(_members(cat, "tube_types")) if cat is not None else None
        rg = self.doc("reagent_policy")
        self.reagents = dict(_members(rg, "reagents")) if rg is not None else None
        st = self.doc("stability_policy")
        self.bands = dict(_members(st, "temperature_bands")) if st is not None else None
        rb = self.doc("rbac_policy")
        self.roles = dict(_members(rb, "roles")) if rb is not None else None
        tk = self.doc("token_registry")
        self.token_types = dict(_members(tk, "token_types")) if tk is not None else None
        rc = self.doc("reason_code_registry")
        self.reason_codes: set[str] | None = None
        if rc is not None:
            self.reason_codes = {
                c for _, e in _entries(rc, "reason_codes") if (c := _s(e.get("code")))
            }
        ct = self.doc("critical_thresholds")
        self.thresholds = dict(_members(ct, "thresholds")) if ct is not None else None

    def _zone_site(self, zone_id: str) -> str | None:
        z = (self.zones or {}).get(zone_id)
        return _s(z.get("site_id")) if z else None

    def _analyzer_types(self) -> set[str]:
        return {k for k, v in (self.device_types or {}).items() if v.get("kind") == "analyzer"}

    # -- zones -----------------------------------------------------------------------------

    def _zone_layout(self) -> None:
        doc = self.doc("zone_layout")
        if doc is None:
            return
        n = "zone_layout"
        sites_rel = self.rel("sites_policy")
        first: dict[str, int] = {}
        for i, z in _entries(doc, "zones"):
            zid = _s(z.get("zone_id"))
            if zid is not None:
                if zid in first:
                    self.add(
                        n,
                        ["zones", i, "zone_id"],
                        f"zone {zid} is declared twice (also zones[{first[zid]}]); "
                        "give every zone a unique id",
                    )
                else:
                    first[zid] = i
            sid = _s(z.get("site_id"))
            if sid is not None and self.sites is not None and sid not in self.sites:
                self.add(
                    n,
                    ["zones", i, "site_id"],
                    f"zone {zid} names site {sid!r} which is not in {sites_rel} "
                    f"(known: {_known(self.sites)}); add the site or fix the site_id",
                )
        zones = self.zones or {}
        known_zones = _known(zones)

        # edges
        seen_edges: dict[frozenset[str], int] = {}
        adjacency: dict[str, list[str]] = {}
        doors_by_id: dict[str, tuple[int, dict[str, Any]]] = {}
        for j, d in _entries(doc, "doors"):
            did = _s(d.get("door_id"))
            if did is None:
                continue
            if did in doors_by_id:
                self.add(
                    n,
                    ["doors", j, "door_id"],
                    f"door {did} is declared twice (also doors[{doors_by_id[did][0]}]); "
                    "give every door a unique id",
                )
            else:
                doors_by_id[did] = (j, d)
        used_doors: set[str] = set()
        for i, e in _entries(doc, "edges"):
            a, b = _s(e.get("a")), _s(e.get("b"))
            for end, zid in (("a", a), ("b", b)):
                if zid is not None and zid not in zones:
                    self.add(
                        n,
                        ["edges", i, end],
                        f"edge endpoint {zid!r} is not a zone (known: {known_zones}); "
                        "declare the zone under zones or fix the id",
                    )
            if a is None or b is None:
                continue
            if a == b:
                self.add(
                    n,
                    ["edges", i, "b"],
                    f"edge joins zone {a} to itself; an edge must join two different zones",
                )
                continue
            key = frozenset((a, b))
            if key in seen_edges:
                self.add(
                    n,
                    ["edges", i],
                    f"duplicate edge {a} - {b} (also edges[{seen_edges[key]}]; edges are "
                    "undirected); remove one",
                )
            else:
                seen_edges[key] = i
            if a in zones and b in zones:
                adjacency.setdefault(a, []).append(b)
                adjacency.setdefault(b, []).append(a)
                sa, sb = self._zone_site(a), self._zone_site(b)
                if sa is not None and sb is not None and sa != sb:
                    self.add(
                        n,
                        ["edges", i],
                        f"edge joins {a} ({sa}) and {b} ({sb}); zones of different sites "
                        f"are linked only by transport routes in {sites_rel}",
                    )
            did = _s(e.get("door_id"))
            if did is None:
                continue
            used_doors.add(did)
            if did not in doors_by_id:
                self.add(
                    n,
                    ["edges", i, "door_id"],
                    f"edge {a} - {b} uses door {did!r} which is not declared under doors "
                    f"(known: {_known(doors_by_id)}); declare it or fix the id",
                )
                continue
            door_zones = doors_by_id[did][1].get("zones")
            if isinstance(door_zones, list) and set(map(str, door_zones)) != {a, b}:
                self.add(
                    n,
                    ["edges", i, "door_id"],
                    f"door {did} connects {_known(door_zones)} but this edge joins {a} and "
                    f"{b}; make the door's zones match the edge",
                )

        # doors
        for j, d in _entries(doc, "doors"):
            did = _s(d.get("door_id"))
            dz = d.get("zones")
            for k, zid in _strings(dz):
                if zid not in zones:
                    self.add(
                        n,
                        ["doors", j, "zones", k],
                        f"door {did} names zone {zid!r} which is not declared "
                        f"(known: {known_zones}); fix the id",
                    )
            if isinstance(dz, list) and len(dz) == 2 and dz[0] == dz[1]:
                self.add(
                    n,
                    ["doors", j, "zones"],
                    f"door {did} lists zone {dz[0]} twice; a door joins two different zones",
                )
            if did is not None and did not in used_doors and doors_by_id.get(did, (j,))[0] == j:
                self.add(
                    n,
                    ["doors", j],
                    f"door {did} is declared but no edge uses it; set door_id: {did} on the "
                    "edge between its zones, or remove the door",
                )
            tt = _s(d.get("token_type"))
            kind = d.get("kind")
            if kind == "restricted" and tt is not None and self.token_types is not None:
                if tt not in self.token_types:
                    self.add(
                        n,
                        ["doors", j, "token_type"],
                        f"restricted door {did} needs token type {tt!r} which is not in "
                        f"{self.rel('token_registry')} (known: {_known(self.token_types)}); "
                        "add the token type or fix the name",
                    )
            elif kind == "standard" and tt is not None:
                self.add(
                    n,
                    ["doors", j, "token_type"],
                    f"standard door {did} names token_type {tt}; only restricted doors take "
                    "a token: set kind: restricted or remove token_type",
                )

        # device placement
        placed: dict[str, int] = {}
        for i, p in _entries(doc, "device_placement"):
            dev = _s(p.get("device_id"))
            zid = _s(p.get("zone_id"))
            if dev is not None:
                if self.devices is not None and dev not in self.devices:
                    self.add(
                        n,
                        ["device_placement", i, "device_id"],
                        f"device {dev!r} is not in {self.rel('equipment_registry')} devices "
                        f"(known: {_known(self.devices)}); register it or fix the id",
                    )
                if dev in placed:
                    self.add(
                        n,
                        ["device_placement", i, "device_id"],
                        f"device {dev} is placed twice (also device_placement[{placed[dev]}]); "
                        "a device stands in exactly one zone",
                    )
                else:
                    placed[dev] = i
            if zid is not None and zid not in zones:
                self.add(
                    n,
                    ["device_placement", i, "zone_id"],
                    f"device {dev} is placed in zone {zid!r} which is not declared "
                    f"(known: {known_zones}); fix the zone id",
                )
        self.placed = placed

        # connectivity: every zone reachable from its site's reception zone
        if self.sites is not None:
            reached: set[str] = set()
            for sid, site in self.sites.items():
                start = _s(site.get("reception_zone"))
                if start is None or start not in zones or self._zone_site(start) != sid:
                    continue
                queue = deque([start])
                reached.add(start)
                while queue:
                    cur = queue.popleft()
                    for nxt in adjacency.get(cur, ()):
                        if nxt not in reached and self._zone_site(nxt) == sid:
                            reached.add(nxt)
                            queue.append(nxt)
            checked_sites = {
                sid
                for sid, site in self.sites.items()
                if (r := _s(site.get("reception_zone"))) in zones and self._zone_site(r) == sid
            }
            for i, z in _entries(doc, "zones"):
                zid = _s(z.get("zone_id"))
                sid = _s(z.get("site_id"))
                if zid is not None and sid in checked_sites and zid not in reached:
                    self.add(
                        n,
                        ["zones", i],
                        f"zone {zid} cannot be reached from the reception zone of {sid} "
                        "over edges; add an edge joining it to the rest of the site",
                    )

    # -- sites -----------------------------------------------------------------------------

    def _sites(self) -> None:
        doc = self.doc("sites_policy")
        if doc is None:
            return
        n = "sites_policy"
        zl_rel = self.rel("zone_layout")
        first: dict[str, int] = {}
        for i, s in _entries(doc, "sites"):
            sid = _s(s.get("site_id"))
            if sid is not None:
                if sid in first:
                    self.add(
                        n,
                        ["sites", i, "site_id"],
                        f"site {sid} is declared twice (also sites[{first[sid]}]); "
                        "give every site a unique id",
                    )
                else:
                    first[sid] = i
            if self.zones is None:
                continue
            for field, kind in (("reception_zone", "reception"), ("dispatch_zone", "dispatch")):
                zid = _s(s.get(field))
                if zid is None:
                    continue
                zone = self.zones.get(zid)
                if zone is None:
                    self.add(
                        n,
                        ["sites", i, field],
                        f"{field} {zid!r} of {sid} is not a zone in {zl_rel} "
                        f"(known: {_known(self.zones)}); declare it or fix the id",
                    )
                    continue
                zsite = _s(zone.get("site_id"))
                if zsite != sid:
                    self.add(
                        n,
                        ["sites", i, field],
                        f"{field} {zid} belongs to site {zsite}, not {sid}; name a zone of "
                        f"{sid} or fix the zone's site_id in {zl_rel}",
                    )
                if zone.get("kind") != kind:
                    self.add(
                        n,
                        ["sites", i, field],
                        f"{field} {zid} has kind {zone.get('kind')!r}; it must be a zone of "
                        f"kind {kind}",
                    )
        route_ids: dict[str, int] = {}
        for i, r in _entries(doc, "routes"):
            rid = _s(r.get("route_id"))
            if rid is not None:
                if rid in route_ids:
                    self.add(
                        n,
                        ["routes", i, "route_id"],
                        f"route {rid} is declared twice (also routes[{route_ids[rid]}]); "
                        "give every route a unique id",
                    )
                else:
                    route_ids[rid] = i
            frm, to = _s(r.get("from_site")), _s(r.get("to_site"))
            for field, sid in (("from_site", frm), ("to_site", to)):
                if sid is not None and sid not in first:
                    self.add(
                        n,
                        ["routes", i, field],
                        f"route {rid} names site {sid!r} which is not declared under sites "
                        f"(known: {_known(first)}); fix the id",
                    )
            if frm is not None and frm == to:
                self.add(
                    n,
                    ["routes", i, "to_site"],
                    f"route {rid} goes from {frm} to itself; from_site and to_site must differ",
                )
            band = _s(r.get("temp_band"))
            if band is not None and self.bands is not None:
                if band not in self.bands:
                    self.add(
                        n,
                        ["routes", i, "temp_band"],
                        f"route {rid} uses temperature band {band!r} which is not in "
                        f"{self.rel('stability_policy')} temperature_bands "
                        f"(known: {_known(self.bands)}); add it or fix the name",
                    )
                else:
                    lo = _num(self.bands[band].get("min_c"))
                    hi = _num(self.bands[band].get("max_c"))
                    t0 = _num(r.get("start_temp_c"))
                    if lo is not None and hi is not None and t0 is not None and not lo <= t0 <= hi:
                        self.add(
                            n,
                            ["routes", i, "start_temp_c"],
                            f"route {rid} starts at {t0} C, outside its band {band} "
                            f"[{lo}, {hi}] C; every consignment would be an excursion",
                        )
            ts, mx = _num(r.get("transit_s")), _num(r.get("max_transit_s"))
            if ts is not None and mx is not None and mx < ts:
                self.add(
                    n,
                    ["routes", i, "max_transit_s"],
                    f"route {rid} has max_transit_s {_fmt_num(mx)} below its nominal "
                    f"transit_s {_fmt_num(ts)}; every delivery would be late",
                )

    # -- equipment -------------------------------------------------------------------------

    def _equipment(self) -> None:
        doc = self.doc("equipment_registry")
        if doc is None:
            return
        n = "equipment_registry"
        types = self.device_types or {}
        first: dict[str, int] = {}
        placed = self.placed
        for i, d in _entries(doc, "devices"):
            did = _s(d.get("device_id"))
            if did is not None:
                if did in first:
                    self.add(
                        n,
                        ["devices", i, "device_id"],
                        f"device {did} is declared twice (also devices[{first[did]}]); "
                        "give every device a unique id",
                    )
                    continue
                first[did] = i
            dt = _s(d.get("device_type"))
            if dt is not None and dt not in types:
                self.add(
                    n,
                    ["devices", i, "device_type"],
                    f"device {did} uses device_type {dt!r} which is not in device_types "
                    f"(known: {_known(types)}); add it or fix the type",
                )
            if did is not None and placed is not None and did not in placed:
                self.add(
                    n,
                    ["devices", i],
                    f"device {did} is not placed in any zone; add {{device_id: {did}, "
                    f"zone_id: ...}} to device_placement in {self.rel('zone_layout')}",
                )
        for i, w in _entries(doc, "maintenance_windows"):
            did = _s(w.get("device_id"))
            if did is not None and did not in first:
                self.add(
                    n,
                    ["maintenance_windows", i, "device_id"],
                    f"maintenance window names device {did!r} which is not under devices "
                    f"(known: {_known(first)}); fix the id",
                )
        if self.panels is None:
            return
        for tname, t in types.items():
            service = t.get("service_s")
            if not isinstance(service, dict):
                continue
            for key in service:
                if key == "default" or not isinstance(key, str):
                    continue
                panel = self.panels.get(key)
                if panel is None:
                    self.add(
                        n,
                        ["device_types", tname, "service_s", key],
                        f"service time for {key!r}, which is not a panel in "
                        f"{self.rel('test_catalogue')} (known: {_known(self.panels)}); "
                        "use a panel id or `default`",
                    )
                elif (
                    panel.get("analyzer_type") != tname
                    and panel.get("analyzer_type") in self._analyzer_types()
                ):
                    self.add(
                        n,
                        ["device_types", tname, "service_s", key],
                        f"panel {key} runs on {panel.get('analyzer_type')}, not {tname}; "
                        f"move this service time to device type {panel.get('analyzer_type')}",
                    )

    # -- catalogue -------------------------------------------------------------------------

    def _catalogue(self) -> None:
        doc = self.doc("test_catalogue")
        if doc is None:
            return
        n = "test_catalogue"
        types = self.device_types
        kinds = {v.get("kind") for v in (types or {}).values()}
        device_type_counts: dict[str, int] = {}
        for d in (self.devices or {}).values():
            dt = _s(d.get("device_type"))
            if dt is not None:
                device_type_counts[dt] = device_type_counts.get(dt, 0) + 1
        eq_rel = self.rel("equipment_registry")
        for pid, p in _members(doc, "panels"):
            tube = _s(p.get("tube_type"))
            if tube is not None and self.tube_types is not None and tube not in self.tube_types:
                self.add(
                    n,
                    ["panels", pid, "tube_type"],
                    f"panel {pid} uses tube type {tube!r} which is not in tube_types "
                    f"(known: {_known(self.tube_types)}); add it or fix the name",
                )
            at = _s(p.get("analyzer_type"))
            if at is not None and types is not None:
                if at not in types:
                    self.add(
                        n,
                        ["panels", pid, "analyzer_type"],
                        f"panel {pid} runs on device type {at!r} which is not in {eq_rel} "
                        f"device_types (known analyzers: {_known(self._analyzer_types())}); "
                        "add it or fix the type",
                    )
                elif types[at].get("kind") != "analyzer":
                    self.add(
                        n,
                        ["panels", pid, "analyzer_type"],
                        f"panel {pid} runs on {at}, a device type of kind "
                        f"{types[at].get('kind')!r}; name an analyzer type "
                        f"({_known(self._analyzer_types())})",
                    )
                elif self.devices is not None and not device_type_counts.get(at):
                    self.add(
                        n,
                        ["panels", pid, "analyzer_type"],
                        f"no device of type {at} is registered in {eq_rel}, so panel {pid} "
                        "can never run; add a device or change the analyzer_type",
                    )
            if types is not None:
                for flag, kind in (
                    ("needs_centrifuge", "centrifuge"),
                    ("needs_aliquot", "aliquoter"),
                ):
                    if p.get(flag) is True and kind not in kinds:
                        self.add(
                            n,
                            ["panels", pid, flag],
                            f"panel {pid} needs a {kind} but {eq_rel} has no device type of "
                            f"kind {kind}; add one or set {flag}: false",
                        )
            rid = _s(p.get("reagent_id"))
            if rid is not None and self.reagents is not None:
                reagent = self.reagents.get(rid)
                if reagent is None:
                    self.add(
                        n,
                        ["panels", pid, "reagent_id"],
                        f"panel {pid} uses reagent {rid!r} which is not in "
                        f"{self.rel('reagent_policy')} (known: {_known(self.reagents)}); "
                        "add it or fix the id",
                    )
                elif (
                    at is not None
                    and (types is None or at in self._analyzer_types())
                    and reagent.get("analyzer_type") != at
                ):
                    self.add(
                        n,
                        ["panels", pid, "reagent_id"],
                        f"reagent {rid} is for analyzer type {reagent.get('analyzer_type')} "
                        f"but panel {pid} runs on {at}; use a reagent of {at} or fix the "
                        "reagent's analyzer_type",
                    )
            if self.thresholds is None:
                continue
            ct_rel = self.rel("critical_thresholds")
            for aid, a in _members(p, "analytes"):
                pc = _num(a.get("p_critical"))
                if pc is None or pc <= 0:
                    continue
                thr = self.thresholds.get(aid)
                if thr is None:
                    self.add(
                        n,
                        ["panels", pid, "analytes", aid],
                        f"analyte {aid} has p_critical {a.get('p_critical')} but {ct_rel} has "
                        f"no threshold for it; add thresholds.{aid} with low and/or high, "
                        "or set p_critical: 0",
                    )
                    continue
                cv = _num(a.get("critical_value"))
                lo, hi = _num(thr.get("low")), _num(thr.get("high"))
                if cv is None or (lo is None and hi is None):
                    continue
                if not ((lo is not None and cv < lo) or (hi is not None and cv > hi)):
                    self.add(
                        n,
                        ["panels", pid, "analytes", aid, "critical_value"],
                        f"critical_value {a.get('critical_value')} of {aid} is not critical "
                        f"by {ct_rel} (low {lo}, high {hi}); it must lie below low or above "
                        "high",
                    )

    def _critical_thresholds(self) -> None:
        doc = self.doc("critical_thresholds")
        if doc is None:
            return
        n = "critical_thresholds"
        analytes: set[str] | None = None
        if self.panels is not None:
            analytes = {aid for p in self.panels.values() for aid, _ in _members(p, "analytes")}
        for aid, t in _members(doc, "thresholds"):
            if analytes is not None and aid not in analytes:
                self.add(
                    n,
                    ["thresholds", aid],
                    f"threshold for analyte {aid} which no panel in "
                    f"{self.rel('test_catalogue')} measures (known analytes: "
                    f"{_known(analytes)}); remove it or fix the name",
                )
            lo, hi = _num(t.get("low")), _num(t.get("high"))
            if lo is not None and hi is not None and lo >= hi:
                self.add(
                    n,
                    ["thresholds", aid],
                    f"low {t.get('low')} is not below high {t.get('high')}; swap or fix them",
                )

    # -- stability -------------------------------------------------------------------------

    def _stability(self) -> None:
        doc = self.doc("stability_policy")
        if doc is None:
            return
        n = "stability_policy"
        for bid, b in _members(doc, "temperature_bands"):
            lo, hi = _num(b.get("min_c")), _num(b.get("max_c"))
            if lo is not None and hi is not None and lo >= hi:
                self.add(
                    n,
                    ["temperature_bands", bid],
                    f"min_c {b.get('min_c')} is not below max_c {b.get('max_c')}; fix the band",
                )
        seen: dict[str, int] = {}
        for i, e in _entries(doc, "stability"):
            tube = _s(e.get("tube_type"))
            if tube is not None:
                if self.tube_types is not None and tube not in self.tube_types:
                    self.add(
                        n,
                        ["stability", i, "tube_type"],
                        f"tube type {tube!r} is not in {self.rel('test_catalogue')} "
                        f"tube_types (known: {_known(self.tube_types)}); fix the name",
                    )
                if tube in seen:
                    self.add(
                        n,
                        ["stability", i, "tube_type"],
                        f"tube type {tube} has two stability entries (also stability"
                        f"[{seen[tube]}]); keep one",
                    )
                else:
                    seen[tube] = i
            band = _s(e.get("temp_band"))
            if band is not None and self.bands is not None and band not in self.bands:
                self.add(
                    n,
                    ["stability", i, "temp_band"],
                    f"temperature band {band!r} is not in temperature_bands "
                    f"(known: {_known(self.bands)}); add it or fix the name",
                )
        if self.tube_types is not None:
            for tube in self.tube_types:
                if tube not in seen:
                    self.add(
                        n,
                        ["stability"],
                        f"tube type {tube} (from {self.rel('test_catalogue')}) has no "
                        f"stability entry; add {{tube_type: {tube}, max_age_s: ..., "
                        "temp_band: ...}",
                    )

    # -- acceptance ------------------------------------------------------------------------

    def _check_reason_code(self, name: str, path: list[str | int], code: Any, who: str) -> None:
        code = _s(code)
        if code is None or self.reason_codes is None or code in self.reason_codes:
            return
        self.add(
            name,
            path,
            f"{who} uses reason code {code!r} which is not in "
            f"{self.rel('reason_code_registry')}; register it there or fix the code",
        )

    def _acceptance(self) -> None:
        doc = self.doc("acceptance_rules")
        if doc is None:
            return
        n = "acceptance_rules"
        seen: dict[str, int] = {}
        for i, r in _entries(doc, "rules"):
            rid = _s(r.get("rule_id"))
            if rid is not None:
                if rid in seen:
                    self.add(
                        n,
                        ["rules", i, "rule_id"],
                        f"rule {rid} is declared twice (also rules[{seen[rid]}]); "
                        "give every rule a unique id",
                    )
                else:
                    seen[rid] = i
            self._check_reason_code(
                n, ["rules", i, "reason_code"], r.get("reason_code"), f"rule {rid}"
            )
            if self.tube_types is None:
                continue
            for k, tube in _strings(r.get("tube_types")):
                if tube not in self.tube_types:
                    self.add(
                        n,
                        ["rules", i, "tube_types", k],
                        f"rule {rid} is limited to tube type {tube!r} which is not in "
                        f"{self.rel('test_catalogue')} tube_types "
                        f"(known: {_known(self.tube_types)}); fix the name",
                    )

    # -- reagents --------------------------------------------------------------------------

    def _reagents(self) -> None:
        doc = self.doc("reagent_policy")
        if doc is None:
            return
        n = "reagent_policy"
        if self.device_types is not None:
            analyzers = self._analyzer_types()
            for rid, r in _members(doc, "reagents"):
                at = _s(r.get("analyzer_type"))
                if at is not None and at not in analyzers:
                    what = (
                        f"is a device type of kind {self.device_types[at].get('kind')!r}"
                        if at in self.device_types
                        else f"is not in {self.rel('equipment_registry')} device_types"
                    )
                    self.add(
                        n,
                        ["reagents", rid, "analyzer_type"],
                        f"reagent {rid} names analyzer_type {at!r} which {what}; use an "
                        f"analyzer type ({_known(analyzers)})",
                    )
        inventory = doc.get("stores_inventory")
        if not isinstance(inventory, dict):
            return
        for sid, stock in inventory.items():
            if self.sites is not None and sid not in self.sites:
                self.add(
                    n,
                    ["stores_inventory", str(sid)],
                    f"stores inventory for site {sid!r} which is not in "
                    f"{self.rel('sites_policy')} (known: {_known(self.sites)}); fix the id",
                )
            if not isinstance(stock, dict) or self.reagents is None:
                continue
            for rid in stock:
                if rid not in self.reagents:
                    self.add(
                        n,
                        ["stores_inventory", str(sid), str(rid)],
                        f"stock of reagent {rid!r} which is not under reagents "
                        f"(known: {_known(self.reagents)}); fix the id",
                    )

    # -- rbac ------------------------------------------------------------------------------

    def _not_action(self, name: str, path: list[str | int], value: str, who: str) -> None:
        self.add(
            name,
            path,
            f"{who} lists {value!r} which is not an engine action type "
            f"(known: {_known(self.actions, limit=40)}); fix the name",
        )

    def _rbac(self) -> None:
        doc = self.doc("rbac_policy")
        if doc is None:
            return
        n = "rbac_policy"
        for k, a in _strings(doc.get("open_actions")):
            if a not in self.actions:
                self._not_action(n, ["open_actions", k], a, "open_actions")
        zone_kinds_used: set[str] | None = None
        if self.zones is not None:
            zone_kinds_used = {str(z["kind"]) for z in self.zones.values() if _s(z.get("kind"))}
        for rid, role in _members(doc, "roles"):
            for k, a in _strings(role.get("actions")):
                if a not in self.actions:
                    self._not_action(n, ["roles", rid, "actions", k], a, f"role {rid}")
            if zone_kinds_used is not None:
                for k, kind in _strings(role.get("zone_kinds")):
                    if kind in ZONE_KINDS and kind not in zone_kinds_used:
                        self.add(
                            n,
                            ["roles", rid, "zone_kinds", k],
                            f"role {rid} grants zone kind {kind!r} but no zone in "
                            f"{self.rel('zone_layout')} has that kind (used: "
                            f"{_known(zone_kinds_used)}); remove it or add such a zone",
                        )
            if self.device_types is not None:
                for k, dt in _strings(role.get("device_types")):
                    if dt not in self.device_types:
                        self.add(
                            n,
                            ["roles", rid, "device_types", k],
                            f"role {rid} grants device type {dt!r} which is not in "
                            f"{self.rel('equipment_registry')} device_types "
                            f"(known: {_known(self.device_types)}); fix the name",
                        )
        roles = dict(_members(doc, "roles"))
        seen: dict[str, int] = {}
        for i, ag in _entries(doc, "agents"):
            aid = _s(ag.get("agent_id"))
            if aid is not None:
                if aid in seen:
                    self.add(
                        n,
                        ["agents", i, "agent_id"],
                        f"agent {aid} is declared twice (also agents[{seen[aid]}]); "
                        "give every agent a unique id",
                    )
                else:
                    seen[aid] = i
            role_id = _s(ag.get("role"))
            agent_role = roles.get(role_id) if role_id is not None else None
            if role_id is not None and agent_role is None:
                self.add(
                    n,
                    ["agents", i, "role"],
                    f"agent {aid} has role {role_id!r} which is not under roles "
                    f"(known: {_known(roles)}); fix the role",
                )
            home = _s(ag.get("home_zone"))
            if home is None or self.zones is None:
                continue
            zone = self.zones.get(home)
            if zone is None:
                self.add(
                    n,
                    ["agents", i, "home_zone"],
                    f"agent {aid} has home_zone {home!r} which is not in "
                    f"{self.rel('zone_layout')} (known: {_known(self.zones)}); fix the zone",
                )
            elif agent_role is not None and isinstance(agent_role.get("zone_kinds"), list):
                home_kind = zone.get("kind")
                if home_kind not in agent_role["zone_kinds"]:
                    self.add(
                        n,
                        ["agents", i, "home_zone"],
                        f"agent {aid} starts in {home} (kind {home_kind}) but role {role_id} "
                        f"may not be in zones of that kind (zone_kinds: "
                        f"{_known(agent_role['zone_kinds'])}); change the home_zone or the role",
                    )

    # -- tokens ----------------------------------------------------------------------------

    def _tokens(self) -> None:
        doc = self.doc("token_registry")
        if doc is None:
            return
        n = "token_registry"
        rb_rel = self.rel("rbac_policy")
        for tid, t in _members(doc, "token_types"):
            allowed = [a for _, a in _strings(t.get("allowed_action_types"))]
            for k, a in _strings(t.get("allowed_action_types")):
                if a not in self.actions:
                    self._not_action(
                        n, ["token_types", tid, "allowed_action_types", k], a, f"token type {tid}"
                    )
            if self.roles is None:
                continue
            for field in ("approver_roles", "subject_roles"):
                for k, rid in _strings(t.get(field)):
                    role = self.roles.get(rid)
                    path: list[str | int] = ["token_types", tid, field, k]
                    if role is None:
                        self.add(
                            n,
                            path,
                            f"token type {tid} names role {rid!r} in {field}, which is not "
                            f"in {rb_rel} roles (known: {_known(self.roles)}); fix the role",
                        )
                    elif field == "approver_roles" and role.get("approves_tokens") is not True:
                        self.add(
                            n,
                            path,
                            f"role {rid} approves token type {tid} but does not set "
                            f"approves_tokens: true in {rb_rel}; set it or remove the role",
                        )
                    elif (
                        field == "subject_roles"
                        and allowed
                        and isinstance(role.get("actions"), list)
                        and not set(allowed) & set(role["actions"])
                    ):
                        self.add(
                            n,
                            path,
                            f"role {rid} may hold token type {tid} but its actions in "
                            f"{rb_rel} include none of {_known(allowed)}; grant the "
                            "action or remove the role",
                        )

    # -- critical-result ladder ------------------------------------------------------------

    def _ladder(self) -> None:
        doc = self.doc("escalation_ladder")
        if doc is None:
            return
        n = "escalation_ladder"
        channels = {c for _, c in _strings(doc.get("channels"))}
        for k, c in _strings(doc.get("downtime_channels")):
            if c not in channels:
                self.add(
                    n,
                    ["downtime_channels", k],
                    f"downtime channel {c!r} is not one of the channels "
                    f"({_known(channels)}); add it to channels or fix the name",
                )
        for i, t in _entries(doc, "tiers"):
            tier = t.get("tier")
            if isinstance(tier, int) and not isinstance(tier, bool) and tier != i + 1:
                self.add(
                    n,
                    ["tiers", i, "tier"],
                    f"tier number {tier} at position {i + 1}; tiers must be numbered "
                    f"1..n in order (expected {i + 1})",
                )

    # -- invariants ------------------------------------------------------------------------

    def _invariants(self) -> None:
        doc = self.doc("invariant_registry")
        if doc is None:
            return
        n = "invariant_registry"
        seen: dict[str, int] = {}
        for i, inv in _entries(doc, "invariants"):
            iid = _s(inv.get("invariant_id"))
            if iid is not None:
                if iid in seen:
                    self.add(
                        n,
                        ["invariants", i, "invariant_id"],
                        f"invariant {iid} is declared twice (also invariants[{seen[iid]}]); "
                        "give every invariant a unique id",
                    )
                else:
                    seen[iid] = i
            for k, trig in _strings(inv.get("triggers")):
                if trig not in self.actions and trig != self.clock:
                    self.add(
                        n,
                        ["invariants", i, "triggers", k],
                        f"invariant {iid} is triggered by {trig!r} which is neither an engine "
                        f"action type nor {self.clock} (known: "
                        f"{_known(self.actions, limit=40)}); fix the trigger",
                    )
            self._check_reason_code(
                n, ["invariants", i, "reason_code"], inv.get("reason_code"), f"invariant {iid}"
            )

    # -- vocabularies ----------------------------------------------------------------------

    def _reason_codes(self) -> None:
        doc = self.doc("reason_code_registry")
        if doc is None:
            return
        seen: dict[str, int] = {}
        for i, e in _entries(doc, "reason_codes"):
            code = _s(e.get("code"))
            if code is None:
                continue
            if code in seen:
                self.add(
                    "reason_code_registry",
                    ["reason_codes", i, "code"],
                    f"reason code {code} is registered twice (also reason_codes[{seen[code]}]); "
                    "remove the duplicate",
                )
            else:
                seen[code] = i

    def _emits(self) -> None:
        doc = self.doc("emits_vocab")
        if doc is None:
            return
        seen: dict[str, int] = {}
        for k, emit in _strings(doc.get("emits")):
            if emit in seen:
                self.add(
                    "emits_vocab",
                    ["emits", k],
                    f"emit {emit} is listed twice (also emits[{seen[emit]}]); remove the duplicate",
                )
            else:
                seen[emit] = k

    def _sla(self) -> None:
        doc = self.doc("sla_targets")
        if doc is None:
            return
        n = "sla_targets"
        prios = dict(_members(doc, "priorities"))
        by_rank: dict[int, str] = {}
        ranked: list[tuple[int, str, float]] = []
        for pid in SLA_PRIORITIES:
            p = prios.get(pid)
            if p is None:
                continue
            rank = p.get("rank")
            if not isinstance(rank, int) or isinstance(rank, bool):
                continue
            if rank in by_rank:
                self.add(
                    n,
                    ["priorities", pid, "rank"],
                    f"rank {rank} of {pid} is also the rank of {by_rank[rank]}; ranks must "
                    "be distinct (lower = more urgent)",
                )
                continue
            by_rank[rank] = pid
            target = _num(p.get("target_tat_s"))
            if target is not None:
                ranked.append((rank, pid, target))
        ranked.sort()
        for (r1, p1, t1), (r2, p2, t2) in zip(ranked, ranked[1:], strict=False):
            if t1 > t2:
                self.add(
                    n,
                    ["priorities", p1, "target_tat_s"],
                    f"{p1} (rank {r1}) has a looser turnaround target ({_fmt_num(t1)} s) than "
                    f"the less urgent {p2} (rank {r2}, {_fmt_num(t2)} s); a more urgent "
                    "priority needs a target no longer than a less urgent one",
                )
