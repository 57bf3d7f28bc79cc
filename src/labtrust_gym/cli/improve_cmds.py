"""``labtrust improve``: the improvement orchestrator (docs/improve.md).

``run -c improve.yaml`` | ``status RUN [--json]`` | ``resume RUN`` |
``approve RUN CANDIDATE`` | ``verify RUN`` | ``lint [DIR]`` | ``demo``.
Exit codes: 0 done (or waiting for an approval), 1 a check failed or the run stopped on
a fatal rule, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError

__all__ = ["add_parser"]

EXIT_OK = 0
EXIT_FAILURE = 1


def _exec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--executor",
        choices=["inline", "local", "dask"],
        default=None,
        help="where episodes run (default: the config's executor.kind): inline (this "
        "process), local (process pool), dask ([dask] extra)",
    )
    p.add_argument("--workers", type=int, default=None, help="worker processes (local, dask)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="Dask scheduler address")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def add_parser(sub: Any) -> None:
    imp = sub.add_parser(
        "improve",
        help="the improvement orchestrator: a constitution, a hash-chained event log, a "
        "resumable SQLite job store, knowledge pages",
    )
    isub = imp.add_subparsers(dest="improve_command", metavar="SUBCOMMAND", required=True)

    r = isub.add_parser("run", help="run an improvement loop from a config")
    r.add_argument("-c", "--config", required=True, help="improve config YAML")
    r.add_argument("--out", default=None, help="run directory (default runs/improve/RUN_ID)")
    r.add_argument(
        "--llm", default=None, help="advisory LLM proposer backend spec (overrides the config)"
    )
    _exec_args(r)
    r.set_defaults(func=_run)

    s = isub.add_parser("status", help="show a run: cycles, proposals, gate, decisions")
    s.add_argument("run", help="run directory")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=_status)

    re_ = isub.add_parser("resume", help="continue a run: unfinished stages run again")
    re_.add_argument("run", help="run directory")
    _exec_args(re_)
    re_.set_defaults(func=_resume)

    a = isub.add_parser("approve", help="record a human approval of a waiting decision")
    a.add_argument("run", help="run directory")
    a.add_argument("candidate", help="candidate hash (or cycle-N for a non-promote decision)")
    a.add_argument("--approver", default="human", help="who approves (recorded)")
    a.add_argument("--note", default="", help="a note (recorded)")
    a.add_argument("--resume", action="store_true", help="continue the run at once")
    _exec_args(a)
    a.set_defaults(func=_approve)

    v = isub.add_parser("verify", help="check a run's event hash chain")
    v.add_argument("run", help="run directory or events.jsonl")
    v.add_argument("--json", action="store_true", help="print JSON")
    v.set_defaults(func=_verify)

    li = isub.add_parser("lint", help="check knowledge pages (front matter, provenance, status)")
    li.add_argument("path", help="a run directory or a knowledge directory")
    li.add_argument("--json", action="store_true", help="print JSON")
    li.set_defaults(func=_lint)

    d = isub.add_parser("demo", help="run the bundled 3-cycle demo offline")
    d.add_argument("--out", default="runs/improve_demo", help="run directory (must not hold a run)")
    d.add_argument("--json", action="store_true", help="print the summary as JSON")
    _exec_args(d)
    d.set_defaults(func=_demo)


def _log(args: argparse.Namespace) -> Any:
    if getattr(args, "quiet", False):
        return None

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    return log


def _executor_cfg(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    ex = dict(base)
    if args.executor is not None:
        ex = {"kind": args.executor}
    if args.workers is not None:
        if ex.get("kind", "inline") == "inline":
            raise ConfigError("--workers needs --executor local or dask")
        ex["workers"] = args.workers
    if args.scheduler is not None:
        ex["scheduler"] = args.scheduler
    return ex


def _with_overrides(cfg: Any, args: argparse.Namespace) -> Any:
    from labtrust_gym.improve.config import ImproveConfig

    d = cfg.to_dict()
    d["executor"] = _executor_cfg(args, d["executor"])
    if getattr(args, "llm", None):
        d["proposer"] = {**d["proposer"], "llm": args.llm}
    return ImproveConfig.from_mapping(d, "command line")


def _print_summary(s: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(s, indent=1, sort_keys=True))
        return
    status = s["status"]
    if status == "running" and not s["live"]:
        status = "interrupted (no process runs it: labtrust improve resume RUN)"
    print(f"run {s['run_id']}: {status} ({s['status_reason']})")
    print(f"constitution {s['constitution']}; champion {s['champion']}; rung {s['rung']}")
    for c in s["cycles"]:
        g = c["gate"]
        gate = (
            "no candidate"
            if g is None
            else f"gate {g['action']} (delta {g['mean_delta']:+.4f}, vetoes {g['vetoes']})"
            if g["mean_delta"] is not None
            else f"gate {g['action']}"
        )
        denied = [p for p in c["proposals"] if p["status"] == "rejected"]
        print(
            f"  cycle {c['cycle']} [{c['rung']}]: {gate} -> {c['decision'] or c['status']}"
            + (
                f"; {len(denied)} proposal(s) denied ({', '.join(p['rule'] for p in denied)})"
                if denied
                else ""
            )
        )
    ev = s["events"]
    print(f"events: {ev['count']}, chain {'ok' if ev['chain_ok'] else 'BROKEN'}")


def _exit_for(s: dict[str, Any]) -> int:
    return EXIT_OK if s["status"] in ("completed", "awaiting_approval") else EXIT_FAILURE


def _run(args: argparse.Namespace) -> int:
    from labtrust_gym.improve.config import load_config
    from labtrust_gym.improve.loop import start_run

    cfg = _with_overrides(load_config(args.config), args)
    out = Path(args.out) if args.out else Path("runs") / "improve" / cfg.run_id
    s = start_run(cfg, out, log=_log(args))
    _print_summary(s, False)
    print(f"run directory: {out}")
    return _exit_for(s)


def _status(args: argparse.Namespace) -> int:
    from labtrust_gym.improve.run_dir import run_summary

    s = run_summary(Path(args.run))
    _print_summary(s, args.json)
    return EXIT_OK


def _resume(args: argparse.Namespace) -> int:
    from labtrust_gym.improve.loop import resume_run

    s = resume_run(Path(args.run), log=_log(args), executor_cfg=_executor_cfg(args, {}) or None)
    _print_summary(s, False)
    return _exit_for(s)


def _approve(args: argparse.Namespace) -> int:
    from labtrust_gym.improve.loop import approve

    approve(Path(args.run), args.candidate, approver=args.approver, note=args.note)
    print(f"approved {args.candidate} in {args.run}")
    if args.resume:
        return _resume(args)
    print(f"continue with: labtrust improve resume {args.run}")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from labtrust_gym.improve.events import verify_chain

    r = verify_chain(Path(args.run))
    if args.json:
        print(json.dumps(r, indent=1))
    else:
        print(f"{r['events']} events, chain {'ok' if r['ok'] else 'BROKEN'}; head {r['head']}")
        for p in r["problems"]:
            print(f"  {p}")
    return EXIT_OK if r["ok"] else EXIT_FAILURE


def _lint(args: argparse.Namespace) -> int:
    from labtrust_gym.improve.knowledge import KnowledgeAgent
    from labtrust_gym.improve.run_dir import MANIFEST, RunPaths, read_manifest

    p = Path(args.path)
    if (p / MANIFEST).is_file():
        man = read_manifest(RunPaths(p))
        p = RunPaths(p).knowledge(man["config"].get("knowledge_dir"))
    if not p.is_dir():
        raise ConfigError(f"{p}: no knowledge directory here; give a run or knowledge directory")
    findings = KnowledgeAgent(p).lint()
    pages = len(list(p.rglob("*.md")))
    if args.json:
        print(json.dumps({"pages": pages, "findings": findings}, indent=1))
    else:
        print(f"{pages} page(s), {len(findings)} finding(s)")
        for f in findings:
            print(f"  {f['page']}: {f['problem']}")
    return EXIT_OK if not findings else EXIT_FAILURE


def _demo(args: argparse.Namespace) -> int:
    from labtrust_gym.improve.config import load_config
    from labtrust_gym.improve.events import verify_chain
    from labtrust_gym.improve.loop import start_run

    cfg = _with_overrides(load_config(Path(__file__).parents[1] / "improve" / "demo.yaml"), args)
    t0 = time.perf_counter()
    s = start_run(cfg, Path(args.out), log=_log(args))
    wall = time.perf_counter() - t0
    chain = verify_chain(Path(args.out))
    s["demo"] = {"wall_s": round(wall, 1), "chain_ok": chain["ok"], "run_dir": str(args.out)}
    _print_summary(s, args.json)
    if not args.json:
        print(f"demo: {wall:.1f} s wall; run directory {args.out}; chain verified: {chain['ok']}")
    return _exit_for(s) if chain["ok"] else EXIT_FAILURE


def bench_improve_resume(args: argparse.Namespace) -> int:
    """``labtrust bench improve-resume --kills N [--seed S] [--json]``."""
    from labtrust_gym.improve.bench_resume import kill_resume_bench

    if args.kills < 1:
        raise ConfigError(f"--kills must be >= 1, got {args.kills}")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    r = kill_resume_bench(args.kills, seed=args.seed, log=log)
    r["wall_s"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(r, indent=1))
    else:
        print(
            f"improve-resume: {r['kills']} trials, {r['killed']} kill(s) landed, final state equal "
            f"to the uninterrupted run in {r['equal']}/{r['kills']}, chain ok in "
            f"{r['chain_ok']}/{r['kills']} (reference {r['reference_wall_s']} s, decisions "
            f"{r['reference_decisions']}; total {r['wall_s']} s)"
        )
    return EXIT_OK if r["equal"] == r["kills"] and r["chain_ok"] == r["kills"] else EXIT_FAILURE
