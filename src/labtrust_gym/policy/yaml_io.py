"""Reading policy YAML defensively: every hostile file is a clear error, fast.

:func:`load_yaml` is the one reader of policy files. Before PyYAML builds any Python object
it enforces, naming the file, the line and column, the key path and the fix:

* **size**: a file over ``LABTRUST_YAML_MAX_BYTES`` (default 4 MiB) is refused from its
  size alone, before it is read;
* **encoding**: the bytes must be UTF-8 (a leading BOM is allowed); a bad byte is named
  with its offset, line and column;
* **syntax**: PyYAML's safe loader (libyaml when installed); the problem's line and column;
* **duplicate keys**: a key given twice in one mapping (YAML would silently keep the
  last) is an error; merge keys (``<<``) still work;
* **non-finite numbers**: ``.inf``, ``-.inf``, ``.nan`` (and literals such as ``1e999``
  that overflow to infinity) are refused unless the file's JSON Schema opts in with
  ``"x-allow-nonfinite": true`` at the places they may appear (the schema check then
  refuses them everywhere else); ``allow_nonfinite`` overrides the look-up;
* **alias bombs and depth**: the document, with every alias expanded, may hold at most
  ``LABTRUST_YAML_MAX_NODES`` nodes (default 1,000,000) and nest at most 64 levels;
  recursive aliases are refused.

Parsed documents are kept in the compiled-policy cache (:mod:`labtrust_gym.policy.cache`)
keyed by the file's bytes, so an unchanged file is parsed once, not once per process.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any, NamedTuple

from labtrust_gym.envvars import env_int
from labtrust_gym.errors import PolicyError, PolicyFileError

__all__ = [
    "ALLOW_NONFINITE",
    "ENV_MAX_BYTES",
    "schema_allows_nonfinite",
    "ENV_MAX_NODES",
    "MAX_DEPTH",
    "YamlLimits",
    "yaml_limits",
    "load_yaml",
    "load_yaml_digest",
    "parse_yaml",
    "read_policy_bytes",
]

#: Schema keyword that lets a ``number`` place hold ``.inf``/``-.inf``/``.nan``.
ALLOW_NONFINITE = "x-allow-nonfinite"
ENV_MAX_BYTES = "LABTRUST_YAML_MAX_BYTES"
ENV_MAX_NODES = "LABTRUST_YAML_MAX_NODES"
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_NODES = 1_000_000
MAX_DEPTH = 64


class YamlLimits(NamedTuple):
    """The caps of :func:`load_yaml` (see the module docstring)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_nodes: int = DEFAULT_MAX_NODES
    max_depth: int = MAX_DEPTH


def yaml_limits() -> YamlLimits:
    """The caps in force (``LABTRUST_YAML_MAX_BYTES``, ``LABTRUST_YAML_MAX_NODES``)."""
    return YamlLimits(
        env_int(ENV_MAX_BYTES, DEFAULT_MAX_BYTES, minimum=1),
        env_int(ENV_MAX_NODES, DEFAULT_MAX_NODES, minimum=1),
    )


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def read_policy_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, refusing files over ``max_bytes`` before reading them."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_big(path, size, max_bytes)
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise PolicyError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise PolicyError(f"{path}: is a directory, expected a YAML file") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > max_bytes:  # grew while we looked, or a device file
        raise _too_big(path, len(data), max_bytes)
    return data


def _too_big(path: Path, size: int, max_bytes: int) -> PolicyFileError:
    return PolicyFileError(
        str(path),
        f"the file is {_mib(size)} ({size} bytes), over the {_mib(max_bytes)} limit for a "
        f"policy file; split it or trim it (or raise {ENV_MAX_BYTES} if it really must be "
        "this large)",
    )


def _decode(data: bytes, source: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        off = exc.start
        line = data.count(b"\n", 0, off) + 1
        col = off - (data.rfind(b"\n", 0, off) + 1) + 1
        raise PolicyFileError(
            source,
            f"byte 0x{data[off]:02x} at byte offset {off} is not valid UTF-8; policy files "
            "must be UTF-8 text: re-save the file as UTF-8 (or remove the character)",
            line=line,
            column=col,
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


# ---------------------------------------------------------------------- node checks ---
_MERGE = "tag:yaml.org,2002:merge"
_FLOAT = "tag:yaml.org,2002:float"


def _key_label(key: Any) -> str:
    return key if isinstance(key, str) else repr(key)


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def _find_path(root: Any, target: Any, constructor: Any) -> str:
    """The key path of ``target`` at its first place in document order (breadth first,
    so the shortest); only called to word an error."""
    from collections import deque

    import yaml

    seen: set[int] = set()
    queue: deque[tuple[Any, str]] = deque([(root, "")])
    while queue:
        node, path = queue.popleft()
        if node is target:
            return path
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k is target:
                    return path
                if isinstance(k, yaml.ScalarNode):
                    raw = k.value if k.tag == _MERGE else constructor.construct_object(k)
                    label = _key_label(raw)
                else:
                    label = "<complex key>"
                queue.append((v, _join(path, label)))
        elif isinstance(node, yaml.SequenceNode):
            queue.extend((v, _join(path, n)) for n, v in enumerate(node.value))
    return ""


def _error(loader: Any, node: Any, problem: str, key: str | None = None) -> PolicyFileError:
    path = _find_path(loader.policy_root_node, node, loader)
    if key is not None:
        path = _join(path, key)
    mark = node.start_mark
    return PolicyFileError(
        loader.policy_source, problem, key_path=path, line=mark.line + 1, column=mark.column + 1
    )


_LOADERS: dict[bool, Any] = {}


def _loader_class(allow_nonfinite: bool) -> Any:
    """PyYAML's safe loader (libyaml's parser when installed) refusing duplicate keys and,
    unless allowed, non-finite numbers, as it builds the objects (no extra pass)."""
    hit = _LOADERS.get(allow_nonfinite)
    if hit is not None:
        return hit
    import yaml

    base = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader

    class PolicyLoader(base):  # type: ignore[misc,valid-type]  # a PyYAML loader class
        policy_source = ""
        policy_root_node: Any = None

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                seen: dict[Any, int] = {}
                for k, _ in node.value:
                    if not isinstance(k, yaml.ScalarNode) or k.tag == _MERGE:
                        continue
                    key = self.construct_object(k)
                    try:
                        first = seen.get(key)
                    except TypeError:
                        continue  # an unhashable key: the base constructor refuses it
                    if first is not None:
                        label = _key_label(key)
                        raise _error(
                            self,
                            k,
                            f"duplicate key {label!r} (first given on line {first}); YAML "
                            "would silently keep only the last value: remove or rename one "
                            "of them",
                            key=label,
                        )
                    seen[key] = k.start_mark.line + 1
            return super().construct_mapping(node, deep=deep)

        def construct_finite_float(self, node: Any) -> Any:
            value = self.construct_yaml_float(node)
            if not allow_nonfinite and not math.isfinite(value):
                raise _error(
                    self,
                    node,
                    f"non-finite number {node.value!r} ({value}); policy values must be "
                    "finite numbers: write a finite value (a large bound such as 1e9 if "
                    "'unlimited' is meant, or remove the field where it is optional)",
                )
            return value

    PolicyLoader.add_constructor(_FLOAT, PolicyLoader.construct_finite_float)
    _LOADERS[allow_nonfinite] = PolicyLoader
    return PolicyLoader


def _check_shape(root: Any, loader: Any, limits: YamlLimits) -> None:
    """Expanded size (aliases counted at every place they are used), depth and recursive
    aliases, over the container nodes only (a scalar counts 1 and is never shared in a
    way that matters)."""
    import yaml

    scalar_cls = yaml.ScalarNode
    mapping_cls = yaml.MappingNode
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_ids: set[int] = set()

    def kids(node: Any) -> list[Any]:
        if isinstance(node, mapping_cls):
            return [x for pair in node.value for x in pair]
        return list(node.value)

    if isinstance(root, scalar_cls):
        return
    stack: list[list[Any]] = [[root, kids(root), 0]]
    open_ids.add(id(root))
    while stack:
        frame = stack[-1]
        node, children, i = frame
        while i < len(children) and (type(children[i]) is scalar_cls or id(children[i]) in size):
            i += 1
        if i < len(children):
            frame[2] = i + 1
            child = children[i]
            if id(child) in open_ids:
                raise _error(
                    loader,
                    child,
                    "recursive alias: this node contains itself; policy data must be a tree",
                )
            open_ids.add(id(child))
            stack.append([child, kids(child), 0])
            continue
        stack.pop()
        nid = id(node)
        open_ids.discard(nid)
        n = 1
        d = 0
        for c in children:
            if type(c) is scalar_cls:
                n += 1
                d = d or 1
            else:
                n += size[id(c)]
                d = max(d, depth[id(c)])
        size[nid] = n
        depth[nid] = d + 1
        if n > limits.max_nodes:
            raise _error(
                loader,
                node,
                f"expands to {n:,} nodes with its aliases, over the {limits.max_nodes:,} "
                f"limit (an alias bomb?); remove the nested aliases (or raise "
                f"{ENV_MAX_NODES})",
            )
        if d + 1 > limits.max_depth:
            raise _error(
                loader,
                node,
                f"nests {d + 1} levels deep, over the limit of {limits.max_depth}; "
                "flatten the structure",
            )


def parse_yaml(
    text: str, source: str, *, allow_nonfinite: bool = False, limits: YamlLimits | None = None
) -> Any:
    """Parse YAML text with every check of the module docstring (no cache)."""
    import yaml

    lim = limits or yaml_limits()
    loader = _loader_class(allow_nonfinite)(text)
    loader.policy_source = source
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            raise PolicyFileError(
                source,
                f"malformed YAML: {problem}; fix the YAML syntax there (indentation, "
                "quoting, tabs, unclosed brackets)",
                line=mark.line + 1 if mark else 0,
                column=mark.column + 1 if mark else 0,
            ) from None
        except RecursionError:
            raise PolicyFileError(
                source, f"nests too deeply to parse; flatten it (at most {lim.max_depth} levels)"
            ) from None
        if node is None:
            return None
        loader.policy_root_node = node
        _check_shape(node, loader, lim)  # before building anything
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            raise PolicyFileError(
                source,
                f"cannot build the document: {problem}",
                line=mark.line + 1 if mark else 0,
                column=mark.column + 1 if mark else 0,
            ) from None
    finally:
        loader.dispose()


_SCHEMA_FLAG: dict[tuple[str, float], bool] = {}


def schema_allows_nonfinite(schema_file: Path) -> bool:
    """Whether a JSON Schema lets some place hold non-finite numbers."""
    try:
        key = (str(schema_file), schema_file.stat().st_mtime)
    except OSError:
        return False
    hit = _SCHEMA_FLAG.get(key)
    if hit is None:
        try:
            hit = f'"{ALLOW_NONFINITE}"' in schema_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            hit = False
        _SCHEMA_FLAG[key] = hit
    return hit


def _own_schema_allows_nonfinite(path: Path) -> bool:
    """The opt-in of the file's own schema: ``schemas/<stem>.schema.json`` in the policy
    directory that holds it (searched upwards), else in the base policy directory."""
    name = path.name
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name
    rel = Path("schemas") / f"{stem}.schema.json"
    for parent in list(path.absolute().parents)[:4]:
        if (parent / rel).is_file():
            return schema_allows_nonfinite(parent / rel)
    from labtrust_gym.paths import get_policy_dir

    try:
        return schema_allows_nonfinite(get_policy_dir(None) / rel)
    except PolicyError:
        return False


def load_yaml(path: Path | str, *, allow_nonfinite: bool | None = None) -> Any:
    """Read and parse one policy YAML file (see the module docstring); every problem is a
    :class:`~labtrust_gym.errors.PolicyFileError` (a ``PolicyError``) naming the file."""
    return load_yaml_digest(path, allow_nonfinite=allow_nonfinite)[0]


def load_yaml_digest(path: Path | str, *, allow_nonfinite: bool | None = None) -> tuple[Any, str]:
    """:func:`load_yaml` and the SHA-256 (hex) of the very bytes that were parsed."""
    from labtrust_gym.policy import cache

    p = Path(path)
    lim = yaml_limits()
    data = read_policy_bytes(p, lim.max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    key = hashlib.sha256(
        f"yaml2|{cache.code_digest()}|{lim.max_nodes}|{lim.max_depth}|".encode() + data
    ).hexdigest()
    ok, doc, finite = cache.read_json("yaml", key)
    # A finite document parses the same whether or not its schema allows inf/nan, so only
    # a cached document holding them needs the schema's opt-in looked up.
    if ok and finite:
        return doc, digest
    if allow_nonfinite is None:
        allow_nonfinite = _own_schema_allows_nonfinite(p)
    if ok and allow_nonfinite:
        return doc, digest
    doc = parse_yaml(_decode(data, str(p)), str(p), allow_nonfinite=allow_nonfinite, limits=lim)
    cache.put_json("yaml", key, doc)
    return doc, digest
