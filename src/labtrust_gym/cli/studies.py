"""Study commands: run-study, run-coordination-study, make-plots."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.outputs import check_output_dir

__all__ = ["add_parser"]

EXIT_OK = 0
EXIT_PARTIAL = 1


def _study_args(p: argparse.ArgumentParser, spec_default: str | None) -> None:
    p.add_argument(
        "--spec",
        required=spec_default is None,
        default=spec_default,
        help="study spec: a YAML path, or the name of a spec in the policy's studies/ "
        + (f"(default {spec_default})" if spec_default else "(e.g. coord_default)"),
    )
    p.add_argument(
        "--out",
        required=True,
        help="study directory (required; checked before any cell, created; re-run to resume)",
    )
    p.add_argument(
        "--executor",
        choices=["local", "dask", "inline"],
        default="local",
        help="local: process pool (default); dask: dask.distributed ([dask] extra); "
        "inline: this process, one cell at a time (debugging)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (local, and the local Dask cluster; default: CPU count)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler address (tcp://host:8786); without it --executor dask starts a "
        "local cluster",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list the cells and their seeds; run nothing"
    )
    p.add_argument("--json", action="store_true", help="with --dry-run: print JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run-study",
        help="run a study spec (task x scale x method x injection cells) for any task",
    )
    _study_args(p, None)
    p.set_defaults(func=_run_study, coordination=False)

    c = sub.add_parser(
        "run-coordination-study",
        help="run a coordination study (coord_scale / coord_risk cells); writes "
        "summary_coord.csv, pareto.md and a leaderboard",
    )
    _study_args(c, "coord_default")
    c.set_defaults(func=_run_study, coordination=True)

    m = sub.add_parser(
        "make-plots", help="PNG figures of a study directory ([plots] extra: matplotlib)"
    )
    m.add_argument("--run", required=True, help="study directory (--out of a study run)")
    m.add_argument(
        "--out", default=None, help="figure directory, checked first (default: RUN/plots)"
    )
    m.set_defaults(func=_make_plots)


def _run_study(args: argparse.Namespace) -> int:
    from labtrust_gym.studies.cells import expand_cells
    from labtrust_gym.studies.report import summary_file_name
    from labtrust_gym.studies.run_record import describe_run, stale_run
    from labtrust_gym.studies.runner import MANIFEST_FILE, cell_states, read_error, run_study
    from labtrust_gym.studies.spec import load_study_spec

    spec = load_study_spec(args.spec)
    if args.coordination and not spec.is_coordination:
        raise ConfigError(
            f"{spec.source}: task: run-coordination-study needs coordination tasks "
            f"(coord_scale, coord_risk), got {', '.join(spec.tasks)}; use labtrust run-study"
        )
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    if args.scheduler is not None and args.executor != "dask":
        raise ConfigError("--scheduler needs --executor dask")
    cells = expand_cells(spec)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory; give a study directory")
    states = cell_states(out, cells) if out.is_dir() else {c.cell_id: "pending" for c in cells}
    if args.dry_run:
        try:
            manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = None
        gone = stale_run(manifest)
        if gone is not None:
            print(
                f"the last run of {out} ({describe_run(gone)}) was interrupted: its manifest "
                "says running but the process is gone; a real run resumes it",
                file=sys.stderr,
            )
        _print_dry_run(spec, cells, states, args.json)
        return EXIT_OK
    check_output_dir(out, "--out")
    todo = sum(1 for s in states.values() if s != "done")
    print(
        f"study {spec.study_id}: {len(cells)} cells, {len(cells) - todo} already done, "
        f"{todo} to run ({args.executor} executor) -> {out}",
        file=sys.stderr,
    )
    progress = None
    if not args.no_progress and todo:
        from labtrust_gym.cli.progress import Progress

        progress = Progress(todo, f"study {spec.study_id}")
    outcome = run_study(
        spec,
        out,
        executor=args.executor,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=progress,
    )
    for p in outcome.reports:
        print(p)
    t = outcome.manifest.get("timing") or {}
    if t.get("cells_run"):
        print(
            f"{t['cells_run']} cells in {t['run_s']} s (executor start {t['executor_startup_s']} "
            f"s; mean cell {t['cell_wall_s_mean']} s, executor overhead "
            f"{t['executor_overhead_s_per_cell']} s per cell)",
            file=sys.stderr,
        )
    if outcome.complete:
        print(
            f"study complete: {len(cells)} cells; {summary_file_name(spec.is_coordination)} "
            f"in {out}",
            file=sys.stderr,
        )
        return EXIT_OK
    for cid in outcome.failed:
        err = read_error(out, cid) or {}
        msg = str(err.get("message", "")).splitlines()[0] if err.get("message") else ""
        print(f"cell {cid} failed: {err.get('type', 'error')}: {msg}", file=sys.stderr)
    if outcome.executor_error:
        print(
            f"the executor stopped ({outcome.executor_error}); the cells it had not "
            "finished were not recorded",
            file=sys.stderr,
        )
    print(
        f"study partial: {len(cells) - len(outcome.failed) - len(outcome.not_run)} of "
        f"{len(cells)} cells done, {len(outcome.failed)} failed (cells/<id>/error.json), "
        f"{len(outcome.not_run)} not run; re-run the same command to complete it",
        file=sys.stderr,
    )
    return EXIT_PARTIAL


def _print_dry_run(spec: Any, cells: list[Any], states: dict[str, str], as_json: bool) -> None:
    from labtrust_gym.benchmarks.runner import episode_seed

    if as_json:
        doc = {
            "study_id": spec.study_id,
            "spec_hash": spec.spec_hash,
            "cells": [
                {
                    **c.to_dict(),
                    "episode_seeds": [episode_seed(c.seed, i) for i in range(c.episodes)],
                    "status": states[c.cell_id],
                }
                for c in cells
            ],
        }
        json.dump(doc, sys.stdout, indent=2)
        print()
        return
    cols = ("cell_id", "method", "scale", "injection", "episodes", "seed", "status")
    rows = [
        (
            c.cell_id,
            c.method,
            c.scale_label,
            c.injection,
            str(c.episodes),
            str(c.seed),
            states[c.cell_id],
        )
        for c in cells
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(cols)]
    print(
        f"# study {spec.study_id} ({spec.spec_hash[:12]}): {len(cells)} cells, "
        f"seeding {spec.seeding}, base seed {spec.base_seed}"
    )
    print("  ".join(h.ljust(w) for h, w in zip(cols, widths, strict=True)))
    for r in rows:
        print("  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)))


def _make_plots(args: argparse.Namespace) -> int:
    from labtrust_gym.studies.plots import make_plots

    run = Path(args.run)
    if not run.is_dir():
        what = "is not a directory" if run.exists() else "does not exist"
        raise ConfigError(
            f"--run {run}: {what}; give the --out directory of run-study or run-coordination-study"
        )
    check_output_dir(args.out if args.out else run / "plots", "--out")
    paths = make_plots(args.run, args.out)
    for p in paths:
        print(p)
    return EXIT_OK
