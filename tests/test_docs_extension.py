"""docs/extension_development.md cannot drift from the code: its Python blocks run (in
order, in a fresh process), its TOML and YAML blocks parse and match the real entry-point
groups and schemas, and its ``labtrust`` command lines parse with the real CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from labtrust_gym.cli.main import build_parser
from labtrust_gym.config import get_policy_dir
from labtrust_gym.plugins import ENTRY_POINT_GROUPS

DOC = Path(__file__).resolve().parents[1] / "docs" / "extension_development.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCK.findall(DOC.read_text(encoding="utf-8")) if kind == lang]


def _schema(name: str) -> Draft202012Validator:
    path = get_policy_dir() / "schemas" / name
    return Draft202012Validator(json.loads(path.read_text(encoding="utf-8")))


def test_the_guide_has_a_worked_example_for_every_kind() -> None:
    text = DOC.read_text(encoding="utf-8")
    for group in ENTRY_POINT_GROUPS:
        assert f"`{group}`" in text, group
    code = "\n".join(_blocks("python"))
    for fn in (
        "register_domain",
        "register_coordination_method",
        "register_task",
        "register_invariant_handler",
        "register_security_suite_provider",
        "register_safety_case_provider",
        "register_metrics_aggregator",
        "register_benchmark_pack_loader",
    ):
        assert f"{fn}(" in code, fn


def test_python_blocks_run(tmp_path: Path) -> None:
    script = "\n\n".join(_blocks("python"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABTRUST_")}
    env["LABTRUST_CACHE_DIR"] = os.environ["LABTRUST_CACHE_DIR"]  # the session's own cache
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "night_lab" in out and "example_partner" in out
    assert "'tracing_lab'] tracing_lab True" in out  # the registered domain really stepped
    assert "SEC-KEY-MISUSE-001" in out and "'supported': 1" in out
    assert (tmp_path / "pack_out" / "pack_index.json").is_file()


def test_toml_blocks_parse_and_use_the_real_groups() -> None:
    blocks = _blocks("toml")
    assert blocks
    groups: set[str] = set()
    for body in blocks:
        doc = tomllib.loads(body)
        for group, eps in doc.get("project", {}).get("entry-points", {}).items():
            assert group in ENTRY_POINT_GROUPS, group
            groups.add(group)
            for name, value in eps.items():
                assert re.fullmatch(r"[\w.]+:[\w.]+", value), value
                if group == "labtrust_gym.invariant_handlers":
                    assert name.count(".") == 1, name
    assert groups == set(ENTRY_POINT_GROUPS)  # every group shown
    # The two example plugins' pyproject files parse and register what the guide says.
    root = DOC.parents[1] / "examples"
    ext = tomllib.loads((root / "extension_example" / "pyproject.toml").read_text())
    assert ext["project"]["entry-points"]["labtrust_gym.tasks"] == {
        "example_task": "labtrust_example_plugin.tasks:ExampleTask"
    }
    coord = tomllib.loads((root / "coord_method_example" / "pyproject.toml").read_text())
    assert list(coord["project"]["entry-points"]["labtrust_gym.coordination_methods"]) == [
        "example_noop_coord"
    ]


def test_yaml_blocks_parse_and_validate() -> None:
    docs = [yaml.safe_load(body) for body in _blocks("yaml")]
    assert docs
    profiles = [d for d in docs if isinstance(d, dict) and "profile_id" in d]
    packs = [d for d in docs if isinstance(d, dict) and "pack_id" in d]
    assert profiles and packs
    for d in profiles:
        assert not list(_schema("lab_profile.v0.1.schema.json").iter_errors(d))
    for d in packs:
        assert not list(_schema("benchmark_pack.v0.1.schema.json").iter_errors(d))
    invariants = [d for d in docs if isinstance(d, list)]
    inv_schema = json.loads(
        (get_policy_dir() / "schemas" / "invariant_registry.v0.1.schema.json").read_text()
    )
    doc = {"version": "0.1", "invariants": invariants[0]}
    assert not list(Draft202012Validator(inv_schema).iter_errors(doc))
    # The shipped example profile is the one the guide describes.
    example = yaml.safe_load((get_policy_dir() / "lab_profiles" / "example.v0.1.yaml").read_text())
    assert example["extension_packages"] == ["labtrust_example_plugin"]


def _pip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _project(root: Path, pyproject: str) -> Path:
    """A package from a pyproject.toml: every module its entry points name, empty, under
    the layout its wheel target declares."""
    doc = tomllib.loads(pyproject)
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    pkg_dirs = doc["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    src = root / Path(pkg_dirs[0]).parent
    for eps in doc["project"]["entry-points"].values():
        for value in eps.values():
            if not isinstance(value, str):
                continue
            parts = value.split(":")[0].split(".")
            for i in range(1, len(parts) + 1):
                d = src.joinpath(*parts[:i])
                if i < len(parts):
                    d.mkdir(parents=True, exist_ok=True)
                    (d / "__init__.py").touch()
                else:
                    d.with_suffix(".py").touch()
    return root


def test_the_guide_pyproject_builds_and_installs_with_pip(tmp_path: Path) -> None:
    """The guide's TOML is a pyproject.toml that pip builds and installs, and the installed
    distribution carries exactly the entry points the guide lists (offline: the build
    backend comes from the dev extra)."""
    body = next(b for b in _blocks("toml") if "[project]" in b)
    proj = _project(tmp_path / "proj", body)
    wheels = tmp_path / "wheels"
    built = _pip(
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        str(wheels),
        ".",
        cwd=proj,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (whl,) = wheels.glob("*.whl")
    target = tmp_path / "site"
    inst = _pip("install", "--no-deps", "--no-index", "--target", str(target), str(whl), cwd=proj)
    assert inst.returncode == 0, inst.stdout[-2000:] + inst.stderr[-2000:]
    import importlib.metadata as md

    (dist,) = [d for d in md.distributions(path=[str(target)]) if d.metadata["Name"]]
    installed = {(ep.group, ep.name, ep.value) for ep in dist.entry_points}
    expected = {
        (group, name, value)
        for group, eps in tomllib.loads(body)["project"]["entry-points"].items()
        for name, value in eps.items()
    }
    assert installed == expected
    assert (
        "labtrust_gym.invariant_handlers",
        "state.runner_carry_limit",
        "mylab.invariants:runner_carry_limit",
    ) in installed
    assert (target / "mylab" / "invariants.py").is_file()


def test_an_unquoted_dotted_entry_point_name_does_not_build(tmp_path: Path) -> None:
    """What the quoting in the guide prevents: unquoted, TOML reads a table ``state``, and
    the build is refused (so the test above would catch a guide that lost its quotes)."""
    body = next(b for b in _blocks("toml") if "[project]" in b)
    assert '"state.runner_carry_limit" =' in body
    broken = body.replace('"state.runner_carry_limit" =', "state.runner_carry_limit =")
    proj = _project(tmp_path / "proj", broken)
    built = _pip(
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        str(tmp_path),
        ".",
        cwd=proj,
    )
    assert built.returncode != 0
    assert not list(tmp_path.glob("*.whl"))


@pytest.mark.parametrize(
    "line",
    [
        ln.strip()
        for body in _blocks("bash")
        for ln in body.splitlines()
        if ln.strip().startswith("labtrust ")
    ],
)
def test_command_lines_parse(line: str) -> None:
    argv = shlex.split(line)[1:]
    args = build_parser().parse_args(argv)
    assert callable(getattr(args, "func", None)), line
