"""Entry point of the ``labtrust`` command.

Exit codes: 0 success, 1 failure (a check failed, a run did not complete), 2 bad usage or
bad input (unknown id, malformed file). Machine-readable output goes to stdout or files;
progress and diagnostics go to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from labtrust_gym._version import __version__
from labtrust_gym.errors import LabTrustError

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

#: Sub-command modules; each exposes ``add_parser(subparsers)`` which sets ``func(args) -> int``.
COMMAND_MODULES = (
    "labtrust_gym.cli.validate_policy",
    "labtrust_gym.cli.benchmark_cmds",
    "labtrust_gym.cli.bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labtrust",
        description="LabTrust-Gym: multi-agent hospital-lab environment and benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"labtrust-gym {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for modname in COMMAND_MODULES:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name == modname:
                continue  # the command is not built yet in this checkout
            raise
        mod.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        rc: int = args.func(args)
        return rc
    except LabTrustError as exc:
        print(f"labtrust: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("labtrust: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
