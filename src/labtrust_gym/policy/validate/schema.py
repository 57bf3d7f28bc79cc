"""JSON Schema checks of one document, with messages in plain words."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labtrust_gym.policy import cache
from labtrust_gym.policy.yaml_io import ALLOW_NONFINITE, schema_allows_nonfinite

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
from labtrust_gym.policy.files import schema_path_for
from labtrust_gym.policy.validate._common import Problem, format_path

__all__ = [
    "ALLOW_NONFINITE",
    "MAX_SAFE_INTEGER",
    "PolicyValidator",
    "schema_check",
    "schema_allows_nonfinite",
]

#: Integers beyond this lose precision as JSON numbers (and overflow 64-bit fingerprints).
MAX_SAFE_INTEGER = 2**53


def _type(validator: Any, types: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    """``type``, plus: non-finite numbers only where the schema allows them
    (``x-allow-nonfinite: true``), and no integer beyond 2**53."""
    error = _JS["ValidationError"]
    if isinstance(instance, float) and not math.isfinite(instance):
        wanted = [types] if isinstance(types, str) else list(types)
        if schema.get(ALLOW_NONFINITE) is True and "number" in wanted:
            return
        yield error(f"non-finite number {instance!r}")
        return
    if (
        isinstance(instance, int)
        and not isinstance(instance, bool)
        and abs(instance) > MAX_SAFE_INTEGER
    ):
        yield error(f"integer {instance} is too large")
        return
    yield from _JS["draft_type"](validator, types, instance, schema)


_CLASS: list[Any] = []
_JS: dict[str, Any] = {}


def PolicyValidator(schema: Any) -> Any:  # noqa: N802 - used like the validator class
    """A Draft 2020-12 validator of ``schema`` with the stricter ``type`` above (every
    policy schema is checked with it). jsonschema is imported on first use only."""
    if not _CLASS:
        from jsonschema import Draft202012Validator, validators
        from jsonschema.exceptions import ValidationError

        _JS["ValidationError"] = ValidationError
        _JS["draft_type"] = Draft202012Validator.VALIDATORS["type"]
        _CLASS.append(validators.extend(Draft202012Validator, {"type": _type}))
    return _CLASS[0](schema)


_VALIDATORS: dict[str, Any] = {}


def _check_schema(schema: Any, text: str) -> None:
    """Draft202012Validator.check_schema, skipped for a schema text already known good
    (the verdict is kept in the compiled-policy cache)."""
    from jsonschema import Draft202012Validator

    if "meta" not in _JS:  # the verdict depends on the meta-schema jsonschema checks with
        meta = json.dumps(Draft202012Validator.META_SCHEMA, sort_keys=True)
        _JS["meta"] = hashlib.sha256(meta.encode()).hexdigest()
    key = hashlib.sha256(f"schema|{_JS['meta']}|".encode() + text.encode()).hexdigest()
    if cache.has_marker("schema", key):
        return
    Draft202012Validator.check_schema(schema)
    cache.put_marker("schema", key)


def _validator_for(schema_file: Path) -> Any:
    """The compiled validator of ``schema_file``, or a message (str) saying why there is
    none. Cached on the schema's text, so copies of a policy tree share compiled schemas.
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
    from jsonschema.exceptions import SchemaError

    result: Any
    try:
        schema = json.loads(text)
        _check_schema(schema, text)
        if isinstance(schema, dict):
            schema = _inline_local_refs(schema, schema.get("$defs") or {}, ())
        result = PolicyValidator(schema)
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


def _verdict_key(schema_file: Path, digest: str) -> str | None:
    """Cache key of "this document (by the digest of its bytes) passed this schema"."""
    try:
        schema_bytes = schema_file.read_bytes()
    except OSError:
        return None
    h = hashlib.sha256(f"schemacheck|{cache.code_digest()}|{digest}|".encode())
    h.update(hashlib.sha256(schema_bytes).digest())
    return h.hexdigest()


def schema_check(
    policy_dir: Path,
    rel: str,
    source: str,
    doc: Any,
    *,
    schema: str | None = None,
    digest: str | None = None,
) -> list[Problem]:
    """Check ``doc`` against its schema (``schema``, else the one named after ``rel``).

    ``digest`` (the SHA-256 of the bytes ``doc`` was parsed from, overlays included) lets
    a clean verdict be kept in the compiled-policy cache: the same bytes under the same
    schema and code are not checked again.
    """
    schema_file = policy_dir / (schema or schema_path_for(rel))
    key = _verdict_key(schema_file, digest) if digest and doc is not None else None
    if key is not None and cache.has_marker("schemacheck", key):
        return []
    validator = _validator_for(schema_file)
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
    if not out and key is not None:
        cache.put_marker("schemacheck", key)
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
    elif kw == "type" and isinstance(inst, float) and not math.isfinite(inst):
        msg = (
            f"non-finite number {inst!r} is not allowed here; write a finite number (a "
            "large bound such as 1e9 if 'unlimited' is meant)"
        )
    elif (
        kw == "type"
        and isinstance(inst, int)
        and not isinstance(inst, bool)
        and (abs(inst) > MAX_SAFE_INTEGER)
    ):
        msg = (
            f"integer {inst} is too large (beyond 2**53, it cannot be stored exactly); "
            "use a sane value"
        )
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
