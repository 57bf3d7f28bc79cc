"""Every option of run-benchmark, quick-eval, determinism-report and bench has help text
that states its default (``run-pack`` is checked with the assurance commands)."""

from __future__ import annotations

import argparse

import pytest

from labtrust_gym.cli.main import build_parser

COMMANDS = ("run-benchmark", "quick-eval", "determinism-report", "bench")


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for action in parser._actions:  # argparse offers no public way to list subparsers
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise AssertionError("labtrust has no subcommands")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help_with_its_default(command: str) -> None:
    sub = _subparser(command)
    options = [a for a in sub._actions if a.option_strings and a.dest != "help"]
    assert options
    for action in options:
        name = action.option_strings[-1]
        text = action.help or ""
        assert text.strip(), f"{command} {name}: no help text"
        if action.required:
            assert "required" in text, f"{command} {name}: help does not say it is required"
            continue
        assert "default" in text, f"{command} {name}: help does not state its default"
        if action.default not in (None, False) and "%(default)s" not in text:
            # a default written out by hand must be the real one
            shown = ",".join(action.default) if isinstance(action.default, list) else action.default
            assert str(shown) in text, f"{command} {name}: help states a stale default"
        # the text renders (a stray % would break --help)
        assert sub.format_help()
