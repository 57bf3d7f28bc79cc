"""``labtrust dashboard`` as a process, and the package's place in the layering."""

from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import labtrust_gym
from labtrust_gym.cli.main import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_command_serves_the_root_on_loopback(dash_root: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labtrust_gym.cli.main",
            "dashboard",
            "--root",
            str(dash_root),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/runs", timeout=5) as r:
                    runs = json.load(r)
                    headers = r.headers
                break
            except OSError:
                assert time.monotonic() < deadline, "the dashboard did not answer"
                time.sleep(0.2)
        assert {x["rel"] for x in runs} >= {"runs/adv/results.json", "runs/sla/results.json"}
        assert headers["X-Content-Type-Options"] == "nosniff"
        # bound to loopback only
        conns = subprocess.run(
            ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=False
        ).stdout
        if conns.strip():
            assert all("127.0.0.1:" in line for line in conns.strip().splitlines()), conns
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/improve/x/approve",
            data=b"{}",
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError("an approval without --allow-approve was accepted")
        except urllib.error.HTTPError as exc:
            exc.close()
            assert exc.code in (403, 404)
    finally:
        proc.terminate()
        proc.communicate(timeout=20)  # reaps it and closes its pipes


def test_bad_root_and_port_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing"
    assert main(["dashboard", "--root", str(missing), "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "--root" in err and "Traceback" not in err
    assert main(["dashboard", "--root", str(tmp_path), "--port", "70000"]) == 2
    assert "--port 70000" in capsys.readouterr().err
    assert main(["dashboard", "--root", str(tmp_path), "--trusted-key", "not-a-key"]) == 2
    err = capsys.readouterr().err
    assert "--trusted-key not-a-key" in err and "audit-key --public-out" in err


def _imports_dashboard(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        if any(
            n == "labtrust_gym.dashboard" or n.startswith("labtrust_gym.dashboard.") for n in names
        ):
            return True
    return False


def test_no_lower_layer_imports_the_dashboard() -> None:
    """Only the CLI may import ``labtrust_gym.dashboard`` (at any depth, deferred imports
    included)."""
    pkg = Path(labtrust_gym.__file__).resolve().parent
    offenders = [
        path.relative_to(pkg).as_posix()
        for path in pkg.rglob("*.py")
        if not path.relative_to(pkg).as_posix().startswith(("dashboard/", "cli/"))
        and _imports_dashboard(path)
    ]
    assert offenders == []
    # the check sees a deferred import inside a function: the CLI's
    assert _imports_dashboard(pkg / "cli/dashboard_cmd.py")


def test_without_the_extra_the_command_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    assert main(["dashboard", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "uvicorn is not installed" in err and "labtrust-gym[dashboard]" in err
