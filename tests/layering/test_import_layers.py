"""The package's import graph: no cycles, and no lower layer importing a higher one.

The graph is built from the source with ``ast``: every ``import`` of a ``labtrust_gym``
module, at module level or inside a function (a deferred import is still a dependency),
except under ``if TYPE_CHECKING:``. ``from pkg import sub`` where ``sub`` is a module is an
edge to ``pkg.sub`` only (importing a submodule initialises its package anyway, so the
package itself is not a dependency). The layering is also checked at run time: each lower
layer is imported in a fresh interpreter and ``sys.modules`` must hold no higher layer.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import labtrust_gym

PKG_DIR = Path(labtrust_gym.__file__).resolve().parent
PKG = "labtrust_gym"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG_DIR.rglob("*.py")):
        parts = list(path.relative_to(PKG_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _owner(name: str) -> str | None:
    """The module ``name`` denotes, or its closest enclosing package module."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, path in MODULES.items():
        is_pkg = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                subs = [f"{src}.{a.name}" for a in node.names if f"{src}.{a.name}" in MODULES]
                targets = subs
                if len(subs) < len(node.names):
                    targets.append(src)
            for t in targets:
                if not t.startswith(PKG):
                    continue
                owner = _owner(t)
                if owner is not None and owner != mod:
                    graph[mod].add(owner)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_graph_sees_deferred_imports() -> None:
    """A check that cannot fail is no check: the builder must see function-level imports."""
    g = import_graph()
    # run_benchmark imports the plugin loader inside the function.
    assert "labtrust_gym.plugins" in g["labtrust_gym.benchmarks.runner"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    cycles = _cycles(import_graph())
    assert cycles == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


#: Lower layer -> packages/modules it must never import (the project's layering:
#: policy data < engine < envs/coordination < baselines < benchmarks < studies < cli).
TOP = ("labtrust_gym.cli", "labtrust_gym.extensions", "labtrust_gym.studies")
FORBIDDEN = {
    "labtrust_gym.registry": (
        "labtrust_gym.plugins",
        "labtrust_gym.policy",
        "labtrust_gym.engine",
        "labtrust_gym.benchmarks",
        "labtrust_gym.baselines",
        *TOP,
    ),
    "labtrust_gym.plugins": (
        "labtrust_gym.engine",
        "labtrust_gym.envs",
        "labtrust_gym.benchmarks",
        "labtrust_gym.baselines",
        "labtrust_gym.security",
        *TOP,
    ),
    "labtrust_gym.policy": (
        "labtrust_gym.engine",
        "labtrust_gym.envs",
        "labtrust_gym.coordination",
        "labtrust_gym.baselines",
        "labtrust_gym.benchmarks",
        "labtrust_gym.plugins",
        *TOP,
    ),
    "labtrust_gym.engine": (
        "labtrust_gym.envs",
        "labtrust_gym.coordination",
        "labtrust_gym.baselines",
        "labtrust_gym.benchmarks",
        "labtrust_gym.plugins",
        *TOP,
    ),
    "labtrust_gym.envs": (
        "labtrust_gym.baselines",
        "labtrust_gym.benchmarks",
        *TOP,
    ),
    "labtrust_gym.coordination": ("labtrust_gym.baselines", "labtrust_gym.benchmarks", *TOP),
    "labtrust_gym.baselines": ("labtrust_gym.benchmarks", *TOP),
    "labtrust_gym.benchmarks.runner": TOP,
    "labtrust_gym.rl": TOP,
}


#: Entry points that live in a lower package by name but sit at the top by role:
#: ``labtrust_gym.envs.make_env(task_name)`` resolves a task (benchmarks) and loads the
#: plugins. Their deferred imports are not the package's own dependencies (their module
#: is still imported at run time below, and must load nothing higher).
ENTRY_POINT_MODULES = frozenset({"labtrust_gym.envs"})


def _below(name: str, prefixes: tuple[str, ...]) -> list[str]:
    return [
        m
        for m in MODULES
        if any(m == p or m.startswith(p + ".") for p in prefixes) and m not in ENTRY_POINT_MODULES
    ]


@pytest.mark.parametrize("lower", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_higher_ones_statically(lower: str) -> None:
    g = import_graph()
    # Everything reachable from the lower layer's modules, deferred imports included.
    start = _below(lower, (lower,))
    seen = set(start)
    todo = list(start)
    while todo:
        for nxt in g[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    bad = sorted(m for m in seen if any(m == p or m.startswith(p + ".") for p in FORBIDDEN[lower]))
    assert bad == [], f"{lower} reaches higher layers: {bad}"


@pytest.mark.parametrize("lower", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_higher_ones_at_run_time(lower: str) -> None:
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({lower!r})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('labtrust_gym'))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = json.loads(proc.stdout)
    assert lower in loaded
    bad = [m for m in loaded if any(m == p or m.startswith(p + ".") for p in FORBIDDEN[lower])]
    assert bad == [], f"importing {lower} loaded {bad}"


_FIRST_IMPORT = r"""
import importlib, json, os, sys, traceback
for dep in ("numpy", "yaml", "jsonschema", "gymnasium", "pettingzoo", "cryptography", "orjson"):
    try:
        importlib.import_module(dep)  # third-party modules: loaded once, shared by the forks
    except ImportError:
        pass
failed = {}
for mod in json.loads(sys.argv[1]):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            importlib.import_module(mod)
            code = 0
        except BaseException:
            os.write(w, traceback.format_exc()[-1500:].encode())
            code = 1
        os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        text = f.read()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        failed[mod] = text
print(json.dumps(failed))
"""


#: The platform and the lower layers, where package ``__init__`` files re-export eagerly.
FIRST_IMPORT = (
    "labtrust_gym.envvars",
    "labtrust_gym.paths",
    "labtrust_gym.config",
    "labtrust_gym.registry",
    "labtrust_gym.plugins",
    "labtrust_gym.profiles",
    "labtrust_gym.artifacts",
    "labtrust_gym.extensions",
    "labtrust_gym.policy",
    "labtrust_gym.domain",
    "labtrust_gym.engine",
)


def test_every_platform_module_can_be_imported_first() -> None:
    """Each module of the platform and the lower layers, imported first in a fresh process,
    loads: no import-order cycle through a package ``__init__`` (the static graph above
    leaves package initialisation out)."""
    mods = _below("", FIRST_IMPORT) + [m for m in FIRST_IMPORT if m in ENTRY_POINT_MODULES]
    proc = subprocess.run(
        [sys.executable, "-c", _FIRST_IMPORT, json.dumps(sorted(set(mods)))],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    failed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert failed == {}, "\n\n".join(f"{m}:\n{tb}" for m, tb in failed.items())
