"""What ``labtrust --version`` and ``--help`` load: start-up cost is kept down by design
(the timings themselves are in ``labtrust bench startup``, not in tests)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "jsonschema", "yaml", "gymnasium", "pettingzoo", "scipy", "cryptography")


def _loaded(code: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    mods: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return mods


def test_version_builds_no_parser_and_loads_no_plugins() -> None:
    mods = _loaded("from labtrust_gym.cli.main import main\nassert main(['--version']) == 0")
    assert "argparse" not in mods
    assert not [
        m for m in mods if m.startswith("labtrust_gym.cli.") and m != "labtrust_gym.cli.main"
    ]
    assert "labtrust_gym.plugins" not in mods and "importlib.metadata" not in mods
    assert not [m for m in mods if m.split(".")[0] in HEAVY]


def test_help_imports_no_command_module_and_loads_no_plugins() -> None:
    mods = _loaded(
        "from labtrust_gym.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
    )
    # The list of commands comes from COMMAND_HELP: no command module is imported.
    assert [m for m in mods if m.startswith("labtrust_gym.cli.")] == ["labtrust_gym.cli.main"]
    assert not [m for m in mods if m.split(".")[0] in HEAVY]
    assert "importlib.metadata" not in mods  # no plugin scan


def test_full_parser_imports_no_heavy_dependency() -> None:
    mods = _loaded("from labtrust_gym.cli.main import build_parser\nbuild_parser()\n")
    assert "labtrust_gym.cli.benchmark_cmds" in mods  # every command module was imported
    assert not [m for m in mods if m.split(".")[0] in HEAVY]
    assert "importlib.metadata" not in mods


def _registered(modname: str) -> list[str]:
    import argparse
    import importlib

    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(modname).add_parser(sub)
    return list(sub.choices)


def test_command_map_names_every_registered_command() -> None:
    from labtrust_gym.cli.main import COMMAND_MODULES, COMMANDS

    registered = {c: m for m in COMMAND_MODULES for c in _registered(m)}
    assert registered == COMMANDS


def test_command_help_table_matches_the_modules() -> None:
    import argparse

    from labtrust_gym.cli.main import COMMAND_HELP, build_parser

    full = build_parser()  # every module, as for an unknown command
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    assert {ca.dest: ca.help for ca in sub._choices_actions} == COMMAND_HELP


def test_a_command_imports_only_its_own_module() -> None:
    mods = _loaded(
        "from labtrust_gym.cli.main import main\n"
        "try:\n    main(['validate-policy', '--help'])\nexcept SystemExit as e:\n"
        "    assert e.code == 0\n"
    )
    cli_mods = {m for m in mods if m.startswith("labtrust_gym.cli.")}
    assert cli_mods == {"labtrust_gym.cli.main", "labtrust_gym.cli.validate_policy"}


def test_unknown_command_still_lists_every_command(capsys: object) -> None:
    from labtrust_gym.cli.main import COMMANDS, main

    try:
        main(["no-such-command"])
    except SystemExit as e:
        assert e.code == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "invalid choice: 'no-such-command'" in err
    assert all(c in err for c in COMMANDS)
