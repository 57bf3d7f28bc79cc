"""Entry point of the ``labtrust`` command.

Exit codes: 0 success, 1 failure (a check failed, a run did not complete), 2 bad usage or
bad input (unknown id, malformed file, broken plugin). Machine-readable output goes to
stdout or files; progress and diagnostics go to stderr.

Before any command the installed plugins are loaded (:func:`labtrust_gym.plugins
.load_plugins`; ``LABTRUST_DISABLE_PLUGIN_AUTOLOAD=1`` turns that off) and the global
option ``--profile ID`` (or ``LABTRUST_PROFILE``) applies a lab profile
(:func:`labtrust_gym.profiles.apply_lab_profile`) to the command. ``--profile`` is an
option of ``labtrust`` itself, parsed before the command: ``labtrust --profile ID COMMAND``.
The profile id is passed to child processes through ``LABTRUST_PROFILE``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

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
    "labtrust_gym.cli.plugins_cmd",
    "labtrust_gym.cli.artifacts_cmd",
    "labtrust_gym.cli.assurance",
    "labtrust_gym.cli.studies",
    "labtrust_gym.cli.skillopt_cmds",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labtrust",
        description="LabTrust-Gym: multi-agent hospital-lab environment and benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"labtrust-gym {__version__}")
    parser.add_argument(
        "--profile",
        dest="lab_profile",
        metavar="ID",
        default=None,
        help="apply the lab profile lab_profiles/ID.v0.1.yaml to the command (partner "
        "overlay, providers, path overrides, extension packages); default: $LABTRUST_PROFILE",
    )
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


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    print(f"labtrust: warning: {message}", file=sys.stderr)


@contextlib.contextmanager
def _profile_env(profile_id: str | None) -> Iterator[None]:
    """``LABTRUST_PROFILE`` set for child processes while the command runs."""
    before = os.environ.get("LABTRUST_PROFILE")
    if profile_id:
        os.environ["LABTRUST_PROFILE"] = profile_id
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("LABTRUST_PROFILE", None)
        else:
            os.environ["LABTRUST_PROFILE"] = before


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    args, extra = parser.parse_known_args(argv)
    if any(a == "--profile" or a.startswith("--profile=") for a in extra):
        parser.error(
            "--profile is an option of labtrust itself; put it before the command: "
            "labtrust --profile ID COMMAND ..."
        )
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from labtrust_gym.artifacts import ArtifactShadowWarning
    from labtrust_gym.plugins import autoload_plugins
    from labtrust_gym.profiles import ProfilePathWarning, use_lab_profile

    parser = build_parser()
    args = _parse(parser, argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    profile_id = args.lab_profile or os.environ.get("LABTRUST_PROFILE") or None
    try:
        with warnings.catch_warnings(), contextlib.ExitStack() as stack:
            for category in (ProfilePathWarning, ArtifactShadowWarning):
                warnings.simplefilter("always", category)
            warnings.showwarning = _show_warning
            autoload_plugins()
            if profile_id:
                stack.enter_context(use_lab_profile(profile_id))
                stack.enter_context(_profile_env(profile_id))
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
