"""Entry point of the ``labtrust`` command.

Exit codes: 0 success, 1 failure (a check failed, a run did not complete), 2 bad usage or
bad input (unknown id, malformed file, broken plugin). Machine-readable output goes to
stdout or files; progress and diagnostics go to stderr.

Before a command the installed plugins are loaded
(:func:`labtrust_gym.extensions.load_all_plugins`; ``LABTRUST_DISABLE_PLUGIN_AUTOLOAD=1``
turns that off) and the global option ``--profile ID`` (or ``LABTRUST_PROFILE``) applies
a lab profile (:func:`labtrust_gym.extensions.apply_lab_profile`) to the command.
``--profile`` is an option of ``labtrust`` itself, parsed before the command:
``labtrust --profile ID COMMAND``. The profile id is passed to child processes through
``LABTRUST_PROFILE``.

How a command loads plugins is its ``plugin_mode`` default: ``strict`` (every command
that runs something: a plugin that cannot be imported is an error, exit 2, and one that a
registry the command uses rejects too), ``tolerant`` (``plugins list``,
``validate-policy``: a broken plugin is shown with its error and the command goes on) or
``none`` (``artifacts``). ``--version`` and ``--help`` load no plugins and import no
command's dependencies: ``--version`` does not even build the parser.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from labtrust_gym._version import __version__
from labtrust_gym.errors import LabTrustError

if TYPE_CHECKING:
    import argparse

# Nothing heavier than the above is imported at module level: ``labtrust --version``
# answers from here, ``--help`` imports argparse and the command modules only (which import
# no numpy, jsonschema or yaml when they build their parsers).

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
    "labtrust_gym.cli.evidence_cmds",
    "labtrust_gym.cli.skillopt_cmds",
    "labtrust_gym.cli.improve_cmds",
    "labtrust_gym.cli.dashboard_cmd",
)


#: The module of each command, so that running one command imports only its module (the
#: others' imports cost start-up time for nothing). ``tests/cli`` checks it against what
#: the modules register; a command missing here still works, through the full parser.
COMMANDS: dict[str, str] = {
    "validate-policy": "labtrust_gym.cli.validate_policy",
    **{
        c: "labtrust_gym.cli.benchmark_cmds"
        for c in (
            "run-benchmark",
            "quick-eval",
            "run-summary",
            "summarize-results",
            "replay",
            "determinism-report",
            "list-tasks",
        )
    },
    "bench": "labtrust_gym.cli.bench",
    "plugins": "labtrust_gym.cli.plugins_cmd",
    "artifacts": "labtrust_gym.cli.artifacts_cmd",
    **{
        c: "labtrust_gym.cli.assurance"
        for c in ("security-suite", "safety-case", "run-pack", "mutants")
    },
    **{
        c: "labtrust_gym.cli.studies" for c in ("run-study", "run-coordination-study", "make-plots")
    },
    **{
        c: "labtrust_gym.cli.evidence_cmds"
        for c in ("export-evidence", "verify-bundle", "audit-key")
    },
    **{
        c: "labtrust_gym.cli.skillopt_cmds"
        for c in ("optimize-skill", "eval-skill", "optimize-params")
    },
    "improve": "labtrust_gym.cli.improve_cmds",
    "dashboard": "labtrust_gym.cli.dashboard_cmd",
}


#: Each command's one-line help, so that ``labtrust --help`` lists the commands without
#: importing their modules (``tests/cli`` checks it against what the modules register).
COMMAND_HELP: dict[str, str] = {
    "validate-policy": "validate the policy files (schemas and cross-references)",
    "run-benchmark": "run episodes of a task and write results JSON",
    "quick-eval": "one episode each of three headline tasks",
    "run-summary": "summarize the results of a run directory",
    "summarize-results": "CSV and Markdown with mean and 95%% CI",
    "replay": "re-run an episode log and confirm its hash chain",
    "determinism-report": "run a benchmark twice in separate processes and compare",
    "list-tasks": "list the registered tasks",
    "bench": "run a speed benchmark and print its figures",
    "plugins": "extension registries and loaded plugins",
    "artifacts": "where lab profiles, presets, packs, overlays... resolve",
    "security-suite": (
        "run the attack catalogue (scripted engine and bus attacks, attack episodes); "
        "exit 1 if any attack succeeds"
    ),
    "safety-case": "build the safety case from fresh evidence; exit 1 if a claim is not supported",
    "run-pack": "run a benchmark pack: one results file per run; exit 1 if a security gate fails",
    "mutants": (
        "engine mutants and their kill matrix (pytest, security suite, safety case, "
        "verify-bundle --replay)"
    ),
    "run-study": "run a study spec (task x scale x method x injection cells) for any task",
    "run-coordination-study": (
        "run a coordination study (coord_scale / coord_risk cells); writes "
        "summary_coord.csv, pareto.md and a leaderboard"
    ),
    "make-plots": "PNG figures of a study directory ([plots] extra: matplotlib)",
    "export-evidence": "bundle a run's results, episode logs, policy and environment, signed",
    "verify-bundle": "check an evidence bundle without the simulator; exit 0 if every check passes",
    "audit-key": "show the audit signing key in use (public part)",
    "optimize-skill": (
        "improve a team skill document offline: rollout, reflect, aggregate, select, "
        "update, and a validation gate with a safety veto"
    ),
    "eval-skill": "play a team skill on a split and score it",
    "optimize-params": (
        "tune a coordination method's default_params with Optuna (TPE, SQLite, resumable)"
        " behind the same gate"
    ),
    "improve": (
        "the improvement orchestrator: a constitution, a hash-chained event log, a "
        "resumable SQLite job store, knowledge pages"
    ),
    "dashboard": (
        "serve a read-only web dashboard of the runs, studies, episodes, evidence bundles"
        " and improvement runs under a directory"
    ),
}


def _command_of(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (after ``labtrust``'s own options), if any."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--profile":
            i += 2
        elif a.startswith("-"):
            return None  # --help, or an option the full parser will report
        else:
            return a
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``labtrust`` parser; given ``argv`` whose command is in :data:`COMMANDS`, with
    only that command's module (the others are not imported)."""
    import argparse

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
    command = _command_of(argv) if argv is not None else None
    if argv is not None and command is None:
        # No command (``labtrust --help``, or nothing): the list of commands is all
        # that can be shown, and it needs none of their modules.
        for name, text in COMMAND_HELP.items():
            sub.add_parser(name, help=text)
        return parser
    modules = (COMMANDS[command],) if command in COMMANDS else COMMAND_MODULES
    for modname in modules:
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


def _version_only(argv: Sequence[str]) -> bool:
    """``labtrust [--profile ID] --version``: answered without building the parser."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--version":
            return True
        if a in ("-h", "--help") or not a.startswith("-"):
            return False
        i += 2 if a == "--profile" else 1
    return False


def _run(args: argparse.Namespace, profile_id: str | None, stack: contextlib.ExitStack) -> int:
    """Load the installed plugins as the command's ``plugin_mode`` says, apply the lab
    profile, run the command."""
    from labtrust_gym.extensions import use_lab_profile
    from labtrust_gym.plugins import (
        autoload_disabled,
        broken_plugins,
        load_plugins,
        tolerant_plugins,
    )

    # A command's modules (``preload``: those it imports when it runs) and the plugins
    # load while the collector is off under console_main; what they made lives as long as
    # the process, so it is frozen out of later collections before the command runs.
    for modname in getattr(args, "preload", ()):
        importlib.import_module(modname)
    mode = getattr(args, "plugin_mode", "strict")
    if mode == "tolerant":
        stack.enter_context(tolerant_plugins())
    if mode != "none" and not autoload_disabled():
        load_plugins(strict=mode != "tolerant")
    if profile_id:
        stack.enter_context(use_lab_profile(profile_id))
        stack.enter_context(_profile_env(profile_id))
    _collect_again()
    rc: int = args.func(args)
    if mode == "tolerant":
        for rec in broken_plugins():
            print(f"labtrust: warning: {rec['error']}", file=sys.stderr)
    return rc


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if _version_only(argv):
        print(f"labtrust-gym {__version__}")
        return EXIT_OK
    parser = build_parser(argv)
    args = _parse(parser, argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    profile_id = args.lab_profile or os.environ.get("LABTRUST_PROFILE") or None
    import warnings

    try:
        from labtrust_gym.artifacts import ArtifactShadowWarning
        from labtrust_gym.profiles import ProfilePathWarning

        with warnings.catch_warnings(), contextlib.ExitStack() as stack:
            for category in (ProfilePathWarning, ArtifactShadowWarning):
                warnings.simplefilter("always", category)
            warnings.showwarning = _show_warning
            return _run(args, profile_id, stack)
    except LabTrustError as exc:
        print(f"labtrust: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("labtrust: interrupted", file=sys.stderr)
        return 130


#: Whether console_main turned the collector off for start-up (and nobody turned it on).
_GC_OFF = [False]


def _collect_again() -> None:
    if _GC_OFF[0]:
        _GC_OFF[0] = False
        gc.freeze()
        gc.enable()


def console_main() -> NoReturn:
    """The ``labtrust`` command: :func:`main`, then the process exits.

    The collector is off during start-up (see :func:`_run`). Tearing the interpreter down
    (every module, every object, numpy's BLAS threads) costs a short command a tenth of
    its time and does nothing a finished command needs: with no thread of ours left
    running, the exit handlers run, the standard streams are flushed and the process
    ends (``os._exit``). Otherwise it is the normal shutdown.
    """
    # No command does matrix algebra worth a thread pool, yet OpenBLAS (under numpy)
    # starts one at import: a tenth of a short command on a 2-core machine, and a thread
    # that then competes with the main one. Study workers are processes of their own. A
    # value the user set (or OMP_NUM_THREADS) wins.
    if "OPENBLAS_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
    # Start-up allocates objects that live until the end (modules, classes, the parser);
    # collecting while they are made only scans them again and again (a twentieth of a
    # one-episode run). _run turns the collector back on before the command runs.
    if gc.isenabled():
        gc.disable()
        _GC_OFF[0] = True
    try:
        rc = main()
    except BrokenPipeError:
        # The reader went away (labtrust list-tasks | head): stop quietly, as cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        rc = 1
    import threading

    if threading.active_count() > 1:
        sys.exit(rc)
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe (labtrust ... | head): nothing left to tell anyone.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(rc)


if __name__ == "__main__":  # pragma: no cover
    console_main()
