"""improve/ sits above skillopt and studies and below the CLI."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import labtrust_gym

PKG = Path(labtrust_gym.__file__).resolve().parent


def _imported(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_improve_never_imports_the_cli() -> None:
    bad = {
        str(p.relative_to(PKG)): sorted(m for m in _imported(p) if m.startswith("labtrust_gym.cli"))
        for p in (PKG / "improve").rglob("*.py")
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_lower_layers_never_import_improve() -> None:
    users = sorted(
        str(p.relative_to(PKG))
        for p in PKG.rglob("*.py")
        if p.parts[len(PKG.parts)] not in ("improve", "cli", "dashboard")
        and any(m.startswith("labtrust_gym.improve") for m in _imported(p))
    )
    assert users == []


def test_importing_improve_loads_no_cli_at_run_time() -> None:
    code = (
        "import json, sys\nimport labtrust_gym.improve\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('labtrust_gym.cli'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
