"""Benchmark commands: run-benchmark, quick-eval, run-summary, summarize-results, replay,
determinism-report."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from labtrust_gym.cli.llm_options import add_llm_arguments, llm_config_from_args
from labtrust_gym.cli.progress import Progress
from labtrust_gym.errors import ConfigError
from labtrust_gym.outputs import atomic_write_text, check_output_dir, check_output_file

__all__ = ["add_parser"]

QUICK_EVAL_TASKS = ("throughput_sla", "adversarial_disruption", "multi_site_stat")


#: What running an episode imports (see ``preload`` in :func:`labtrust_gym.cli.main._run`).
_EPISODE_MODULES = (
    "labtrust_gym.benchmarks.runner",
    "labtrust_gym.envs.core",
    "labtrust_gym.baselines.scripted",
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run-benchmark", help="run episodes of a task and write results JSON")
    p.add_argument("--task", required=True, help="task name (required; see 'labtrust list-tasks')")
    p.add_argument(
        "--episodes", type=int, default=1, help="number of episodes (default: %(default)s)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="base seed; episode i runs with a seed derived from it and i (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="results JSON path, checked before the first episode and written atomically "
        "(default: none; only the summary table is printed)",
    )
    p.add_argument(
        "--controller",
        default="scripted",
        choices=["scripted", "random", "llm"],
        help="what drives the team: the scripted baseline, uniform random actions (not "
        "with --coord-method), or LLM agents for --llm-roles (default: %(default)s)",
    )
    p.add_argument(
        "--timing",
        choices=["explicit", "simulated"],
        default=None,
        help="timing mode (default: the task's own, from the tasks file)",
    )
    p.add_argument(
        "--scale",
        default=None,
        help="scale preset id, only for tasks with a scale config (coord_scale, coord_risk; "
        "default: the task's own preset)",
    )
    p.add_argument(
        "--coord-method",
        default=None,
        help="coordination method id driving the team (see the method catalogue); not with "
        "--controller random (default: none, the task's own controllers)",
    )
    p.add_argument(
        "--injection",
        default=None,
        metavar="ID",
        help="risk injection id for coord_risk / coord_scale (e.g. INJ-NET-PARTITION-001; "
        "an unknown id lists the known ones; default: the task's own, if any)",
    )
    p.add_argument(
        "--log-dir",
        default=None,
        help="write replayable episode logs here, checked before the first episode "
        "(default: none, no logs)",
    )
    add_llm_arguments(p)
    p.add_argument(
        "--domain",
        default=None,
        metavar="ID",
        help="domain adapter the run drives (see 'labtrust plugins list --kind domains'; "
        "default: the lab profile's domain_id, else hospital_lab)",
    )
    p.set_defaults(func=_run_benchmark, preload=_EPISODE_MODULES)

    q = sub.add_parser("quick-eval", help="one episode each of three headline tasks")
    q.add_argument("--seed", type=int, default=0, help="base seed (default: %(default)s)")
    q.add_argument(
        "--out-dir",
        default=None,
        help="run directory, checked before the first episode (default: "
        "./labtrust_runs/quick_eval_<time>)",
    )
    q.set_defaults(func=_quick_eval, preload=_EPISODE_MODULES)

    s = sub.add_parser("run-summary", help="summarize the results of a run directory")
    s.add_argument("--run", required=True, help="run directory or results JSON (required)")
    s.add_argument(
        "--format", choices=["text", "json"], default="text", help="(default: %(default)s)"
    )
    s.set_defaults(func=_run_summary)

    m = sub.add_parser("summarize-results", help="CSV and Markdown with mean and 95%% CI")
    m.add_argument(
        "--in",
        dest="inputs",
        nargs="+",
        required=True,
        help="results JSON files or directories (required)",
    )
    m.add_argument(
        "--out",
        required=True,
        help="output directory for summary.csv and summary.md (required; checked first)",
    )
    m.set_defaults(func=_summarize)

    r = sub.add_parser("replay", help="re-run an episode log and confirm its hash chain")
    r.add_argument("log", help="episode log (JSONL)")
    r.set_defaults(func=_replay)

    d = sub.add_parser(
        "determinism-report", help="run a benchmark twice in separate processes and compare"
    )
    d.add_argument("--task", default="throughput_sla", help="task name (default: %(default)s)")
    d.add_argument(
        "--episodes", type=int, default=1, help="episodes per run (default: %(default)s)"
    )
    d.add_argument("--seed", type=int, default=0, help="base seed (default: %(default)s)")
    d.add_argument(
        "--out",
        default=None,
        help="also write the report JSON here, checked before the runs (default: none; the "
        "report goes to stdout)",
    )
    d.set_defaults(func=_determinism)

    lt = sub.add_parser("list-tasks", help="list the registered tasks")
    lt.set_defaults(func=_list_tasks)


def _list_tasks(args: argparse.Namespace) -> int:
    from labtrust_gym.benchmarks.tasks import get_task, list_tasks

    for name in list_tasks():
        doc = (get_task(name).__doc__ or "").strip().splitlines()
        print(f"{name:<24} {doc[0] if doc else ''}")
    return 0


def _run_benchmark(args: argparse.Namespace) -> int:
    from labtrust_gym.benchmarks.runner import run_benchmark, write_results

    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    # Before any episode: a bad path is exit 2 now, not a traceback after the last episode.
    if args.out:
        check_output_file(args.out, "--out")
    if args.log_dir:
        check_output_dir(args.log_dir, "--log-dir")
    prog = Progress(args.episodes, f"{args.task}")
    try:
        res = run_benchmark(
            args.task,
            args.episodes,
            args.seed,
            controller=args.controller,
            coord_method=args.coord_method,
            timing=args.timing,
            scale=args.scale,
            injection=args.injection,
            log_dir=args.log_dir,
            progress=prog,
            llm=llm_config_from_args(args),
            domain=args.domain,
        )
        digest = write_results(res, args.out) if args.out else None
    except OSError as exc:
        return _write_failed(exc)
    if args.out:
        # The digest of the bytes this process wrote: another process writing the same
        # path later replaces the file, never mixes into it.
        print(
            f"wrote {args.out} ({res['task']}, {_plural(len(res['episodes']), 'episode')}, seed "
            f"{args.seed}, sha256 {digest})",
            file=sys.stderr,
        )
    _print_table([res])
    return 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _write_failed(exc: OSError) -> int:
    where = f" {exc.filename}" if exc.filename else ""
    print(
        f"labtrust: error: writing{where} failed: {exc.strerror or exc}; nothing partial was "
        "left (a file written before keeps its old content)",
        file=sys.stderr,
    )
    return 1


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    if pct:
        return f"{100 * v:.1f}%"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def _attacks(mean: Any) -> str:
    """Attack attempts / blocked / accepted (means over episodes); "-" without attackers."""
    att = mean("attack_attempts")
    if att is None:
        return "-"
    parts = [mean(k) for k in ("attack_attempts", "attacks_blocked", "attacks_accepted")]
    return "/".join(
        "-" if v is None else str(int(v)) if float(v).is_integer() else f"{v:.1f}" for v in parts
    )


def _print_table(results: list[dict[str, Any]], file: Any = None) -> None:
    file = file or sys.stdout
    cols = (
        "task",
        "episodes",
        "throughput",
        "on_time",
        "completion",
        "backlog",
        "TAT p50 s",
        "TAT p95 s",
        "violations",
        "critical",
        "blocked",
        "attacks att/blk/ok",
        "impact",
        "s/episode",
    )
    rows = []
    for r in results:
        s = r["summary"]

        def mean(k: str, s: dict[str, Any] = s) -> Any:
            return s.get(k, {}).get("mean")

        rows.append(
            (
                r["task"],
                str(len(r["episodes"])),
                _fmt(mean("throughput")),
                _fmt(mean("on_time_rate"), pct=True),
                _fmt(mean("completion_rate"), pct=True),
                _fmt(mean("backlog_at_end")),
                _fmt(mean("turnaround_p50_s")),
                _fmt(mean("turnaround_p95_s")),
                _fmt(mean("violations_total")),
                _fmt(mean("critical_violations")),
                _fmt(mean("blocked")),
                _attacks(mean),
                _fmt(mean("throughput_impact"), pct=True),
                _fmt(mean("wall_s")),
            )
        )
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)), file=file)
    for row in rows:
        print("  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)), file=file)


def _quick_eval(args: argparse.Namespace) -> int:
    from labtrust_gym.benchmarks.runner import run_benchmark

    out = (
        Path(args.out_dir)
        if args.out_dir
        else (Path("labtrust_runs") / time.strftime("quick_eval_%Y%m%d_%H%M%S"))
    )
    check_output_dir(out, "--out-dir")
    check_output_dir(out / "logs", "log directory")
    for task in QUICK_EVAL_TASKS:
        check_output_file(out / f"results_{task}.json", "results file")
    results = []
    prog = Progress(len(QUICK_EVAL_TASKS), "quick-eval")
    try:
        for i, task in enumerate(QUICK_EVAL_TASKS):
            res = run_benchmark(
                task, 1, args.seed, log_dir=out / "logs", out=out / f"results_{task}.json"
            )
            results.append(res)
            prog(i + 1)
    except OSError as exc:
        return _write_failed(exc)
    _print_table(results)
    print(f"\nresults and replayable logs in {out}/", file=sys.stderr)
    bad = [r["task"] for r in results if r["summary"]["throughput"]["mean"] in (None, 0)]
    if bad:
        print(f"labtrust: no result released in {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def _load_results(paths: list[str]) -> list[dict[str, Any]]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob("*.json"))
        elif p.is_file():
            files.append(p)
        else:
            raise ConfigError(f"{p}: no such results file or directory")
    from labtrust_gym.benchmarks.runner import validate_results

    out = []
    for f in files:
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{f}: cannot read it ({exc.strerror or exc})") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{f}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{f}: not valid JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("schema_version") != "labtrust.results.v0.1":
            continue
        try:
            validate_results(doc)
        except ConfigError as exc:
            raise ConfigError(f"{f}: {exc}") from None
        out.append(doc)
    if not out:
        raise ConfigError(f"no results files (schema labtrust.results.v0.1) in {paths}")
    return out


def _run_summary(args: argparse.Namespace) -> int:
    results = _load_results([args.run])
    if args.format == "json":
        json.dump(
            [
                {"task": r["task"], "episodes": len(r["episodes"]), "summary": r["summary"]}
                for r in results
            ],
            sys.stdout,
            indent=2,
        )
        print()
    else:
        _print_table(results)
    return 0


def _summarize(args: argparse.Namespace) -> int:
    from labtrust_gym.benchmarks.summarize import write_summary

    out = check_output_dir(args.out, "--out")
    results = _load_results(args.inputs)
    try:
        paths = write_summary(results, out)
    except OSError as exc:
        return _write_failed(exc)
    for p in paths:
        print(p)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from labtrust_gym.benchmarks.replay import replay_log

    rep = replay_log(args.log)
    json.dump(rep, sys.stdout, indent=2)
    print()
    return 0 if rep["ok"] and rep["chain_verifies"] else 1


def _determinism(args: argparse.Namespace) -> int:
    from labtrust_gym.benchmarks.runner import CI_STABLE_METRICS
    from labtrust_gym.benchmarks.tasks import get_task

    # Bad input is exit 2 here, before two child processes find it (and exit 1 said
    # "not deterministic" for what was a typo).
    get_task(args.task)
    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    if args.out:
        check_output_file(args.out, "--out")
    import subprocess  # only this command starts processes (an import a short run spares)
    import tempfile

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, hashseed in enumerate(("1", "2")):
            out = Path(tmp) / f"run{n}.json"
            env = dict(os.environ, PYTHONHASHSEED=hashseed)
            cmd = [
                sys.executable,
                "-m",
                "labtrust_gym.cli.main",
                "run-benchmark",
                "--task",
                args.task,
                "--episodes",
                str(args.episodes),
                "--seed",
                str(args.seed),
                "--out",
                str(out),
            ]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 2 if proc.returncode == 2 else 1
            runs.append(json.loads(out.read_text(encoding="utf-8")))
    diffs = []
    for i, (a, b) in enumerate(zip(runs[0]["episodes"], runs[1]["episodes"], strict=True)):
        for k in CI_STABLE_METRICS:
            if a["metrics"].get(k) != b["metrics"].get(k):
                diffs.append(
                    {
                        "episode": i,
                        "metric": k,
                        "run1": a["metrics"].get(k),
                        "run2": b["metrics"].get(k),
                    }
                )
    report = {
        "task": args.task,
        "episodes": args.episodes,
        "seed": args.seed,
        "identical": not diffs,
        "compared_metrics": list(CI_STABLE_METRICS),
        "log_hashes": [[e["metrics"]["episode_log_sha256"] for e in r["episodes"]] for r in runs],
        "differences": diffs,
    }
    text = json.dumps(report, indent=2)
    if args.out:
        try:
            atomic_write_text(args.out, text + "\n")
        except OSError as exc:
            return _write_failed(exc)
    print(text)
    return 0 if not diffs else 1
