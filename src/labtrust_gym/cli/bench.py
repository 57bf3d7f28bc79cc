"""``labtrust bench``: speed benchmarks (engine, env, episodes, coordination, LLM agents) and
the env fuzzer (``labtrust bench fuzz``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="run a speed benchmark and print its figures")
    p.add_argument(
        "target",
        choices=[
            "engine",
            "env",
            "episodes",
            "coord",
            "llm",
            "fuzz",
            "startup",
            "improve-resume",
            "dashboard",
        ],
        help="engine: events/s; env: NOOP env steps at scale; episodes: one "
        "scripted episode per task; coord: coordination methods per scale preset; llm: LLM "
        "agents' cost per decision, model time excluded (--task, --roles); fuzz: hostile "
        "actions through the env (uncaught exceptions, BLOCKED by code, mask truth); "
        "startup: whole-process time of --version, --help and a one-episode run; "
        "improve-resume: kill -9 an improvement run at random moments, resume, compare "
        "(--kills); dashboard: API and page times on the 105-cell default study and a "
        "50-cycle improvement run (--root DIR: on existing data instead)",
    )
    p.add_argument("--kills", type=int, default=20, help="trials of 'improve-resume' (default 20)")
    p.add_argument(
        "--case",
        action="append",
        default=None,
        help="start-up case(s) for 'startup' (python, version, help, episode, episode_cold, "
        "breakdown; default all)",
    )
    p.add_argument(
        "--method",
        action="append",
        default=None,
        help="coordination method(s) for 'coord' (repeat, or 'all'; default: all)",
    )
    p.add_argument(
        "--scale",
        action="append",
        default=None,
        help="scale preset for 'env' and 'coord' (default: corridor_heavy); repeat it, or give "
        "'all' (small_smoke, corridor_heavy, hospital_network_2k, hospital_network_10k), to "
        "run several, each in a fresh process",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="env steps for 'env' (default: 100); fuzzed agent-steps for 'fuzz' (default: 20000)",
    )
    p.add_argument(
        "--task",
        "--tasks",
        action="append",
        default=None,
        help="task(s) for 'episodes' (repeat; default: every registered task) and 'fuzz' "
        "(default: throughput_sla, adversarial_disruption, coord_risk, multi_site_stat)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=40,
        help="workload size of 'engine' in specimen rounds (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed (default: %(default)s; 'coord' uses 1 for 0)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repetitions (default: 3 for 'engine' and 'llm', the best reported; 5 for "
        "'startup', medians reported)",
    )
    p.add_argument(
        "--json", action="store_true", help="print JSON on stdout (default: a text table)"
    )
    p.add_argument(
        "--roles",
        default="all",
        help="roles under LLM control for 'llm' (comma-separated, or all; default: %(default)s)",
    )
    p.add_argument(
        "--root",
        default=None,
        help="data directory for 'dashboard' (default: make the study, improvement run and "
        "episode in a temporary directory)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from labtrust_gym.errors import ConfigError

    for opt in ("steps", "rounds", "repeats"):
        value = getattr(args, opt, None)
        if value is not None and value < 1:
            raise ConfigError(f"--{opt} must be >= 1, got {value}")
    if args.target == "improve-resume":
        from labtrust_gym.cli.improve_cmds import bench_improve_resume

        return bench_improve_resume(args)
    if args.target == "coord":
        return _coord(args)
    if args.target == "llm":
        return _llm(args)
    if args.target == "fuzz":
        return _fuzz(args)
    if args.target == "startup":
        return _startup(args)
    if args.target == "dashboard":
        return _dashboard(args)
    if args.target == "env":
        from labtrust_gym.bench.env_bench import (
            ENV_SCALES,
            bench_env_noop,
            bench_env_noop_isolated,
        )

        scales: list[str] = []
        for sc in args.scale or ["corridor_heavy"]:
            scales += list(ENV_SCALES) if sc == "all" else [sc]
        steps = 100 if args.steps is None else args.steps
        if len(scales) == 1:
            rows = [bench_env_noop(scales[0], steps, args.seed)]
        else:
            rows = [bench_env_noop_isolated(sc, steps, args.seed) for sc in scales]
        if args.json:
            json.dump(rows[0] if len(rows) == 1 else rows, sys.stdout, indent=2)
            print()
        else:
            for r in rows:
                print(
                    f"env NOOP step, {r['scale']} ({r['agents']:,} agents, obs {r['obs_dim']}): "
                    f"{r['agent_steps_per_s']:,} agent-steps/s, {r['ms_per_step']} ms/step "
                    f"(setup {r['setup_s']} s, reset {r['reset_s']} s, "
                    f"peak RSS {r['peak_rss_mib']} MiB)"
                )
        return 0
    if args.target == "episodes":
        from labtrust_gym.bench.env_bench import bench_episodes

        rows = bench_episodes(args.task, args.seed)
        if args.json:
            json.dump(rows, sys.stdout, indent=2)
            print()
        else:
            for r in rows:
                print(
                    f"{r['task']:<24} {r['agents']:>5} agents {r['steps']:>4} steps  "
                    f"{r['episode_wall_s']:.3f} s/episode  "
                    f"{r['agent_steps_per_s']:>9,} agent-steps/s  released {r['throughput']}"
                )
        return 0
    from labtrust_gym.bench.engine_bench import run_engine_bench

    repeats = args.repeats or 3
    res = run_engine_bench(args.rounds, args.seed, repeats)
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        print()
    else:
        print(
            f"engine: {res['events']} events, best of {repeats}: {res['best_wall_s']} s "
            f"-> {res['events_per_s']:,} events/s ({res['us_per_event']} us/event)"
        )
        print(
            f"  accepted {res['accepted']}, blocked {res['blocked']}, "
            f"released results {res['released_results']}"
        )
        print(f"  events/s by decile of the episode: {res['events_per_s_by_decile']}")
        print(f"  mix: {res['action_mix']}")
    return 0


def _coord(args: argparse.Namespace) -> int:
    from labtrust_gym.baselines.coordination import list_coordination_methods
    from labtrust_gym.bench.coord_bench import COORD_SCALES, CURVE_SCALES, bench_coord
    from labtrust_gym.benchmarks.coordination_scale import list_scale_presets
    from labtrust_gym.errors import UnknownIdError

    known = list_coordination_methods()
    methods: list[str] = []
    for m in args.method or ["all"]:
        methods += known if m == "all" else [m]
    for m in methods:
        if m not in known:
            raise UnknownIdError(f"unknown coordination method {m!r}; known: {', '.join(known)}")
    scales: list[str] = []
    for sc in args.scale or ["corridor_heavy"]:
        scales += list(COORD_SCALES if sc == "all" else CURVE_SCALES if sc == "curve" else [sc])
    presets = list_scale_presets()
    for sc in scales:
        if sc not in presets:
            raise UnknownIdError(f"unknown scale preset {sc!r}; known: {', '.join(presets)}")
    rows = []
    for sc in scales:
        for m in methods:
            row = bench_coord([m], [sc], args.seed or 1)[0]
            rows.append(row)
            if not args.json:
                print(
                    f"{row['scale']:<26} {row['method']:<20} {row['agents']:>6} agents "
                    f"{row['agent_steps_per_s']:>10,} agent-steps/s "
                    f"{row['ms_per_step']:>8} ms/step "
                    f"{row['episode_wall_s']:>7} s/episode  peak {row['peak_rss_mib']:>6} MiB  "
                    f"released {row['throughput']:>5}  blocked {100 * row['blocked_rate']:.1f}%",
                    flush=True,
                )
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    return 0


def _llm(args: argparse.Namespace) -> int:
    from labtrust_gym.bench.llm_bench import bench_llm

    roles = tuple(r.strip() for r in args.roles.split(",") if r.strip())
    res = bench_llm((args.task or ["throughput_sla"])[0], roles, args.seed, args.repeats or 3)
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        print()
        return 0
    for i, r in enumerate(res["episodes"]):
        print(
            f"llm agents ({','.join(res['roles'])}) on {res['task']} episode {i}: "
            f"{r['calls']} calls, {r['forced']} forced, {r['tokens_in_per_call']} tokens in/call, "
            f"{r['decision_ms']} ms/decision, {r['screen_ms']} ms/agent-step screening, "
            f"{r['overhead_ms_per_call']} ms/call all in (model excluded), "
            f"{r['episode_wall_s']} s/episode"
        )
    verdict = "within" if res["within_target"] else "OVER"
    print(
        f"agent overhead per decision (model excluded): mean {res['decision_ms_mean']} ms, "
        f"max {res['decision_ms_max']} ms ({verdict} the {res['target_ms']} ms target)"
    )
    return 0


def _fuzz(args: argparse.Namespace) -> int:
    from labtrust_gym.bench.fuzz_bench import FUZZ_TASKS, run_fuzz, run_mask_truth
    from labtrust_gym.benchmarks.tasks import list_tasks
    from labtrust_gym.errors import UnknownIdError

    steps = 20000 if args.steps is None else args.steps
    tasks = list(args.task or FUZZ_TASKS)
    known = list_tasks()
    for t in tasks:
        if t not in known:
            raise UnknownIdError(f"unknown task {t!r}; known: {', '.join(known)}")
    res = run_fuzz(steps, tasks, args.seed)
    scripted = run_mask_truth(tasks, args.seed)
    res["mask_truth_scripted"] = scripted
    for site, n in scripted["uncaught_by_site"].items():  # the scripted-state pass too
        res["uncaught_by_site"][site] = res["uncaught_by_site"].get(site, 0) + n
        res["uncaught_samples"].setdefault(site, scripted["uncaught_samples"][site])
    res["uncaught"] += scripted["uncaught"]
    bad = res["uncaught"] > 0 or bool(res["audit_problems"])
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        print()
        return 1 if bad else 0
    print(
        f"fuzz: {res['agent_steps']:,} agent-steps ({res['env_steps']:,} env steps, "
        f"{res['episodes']} episodes) over {', '.join(tasks)}, seed {args.seed}: "
        f"{res['wall_s']} s, {res['agent_steps_per_s']:,} agent-steps/s"
    )
    print(f"uncaught exceptions: {res['uncaught']}")
    for site, n in res["uncaught_by_site"].items():
        print(f"  {n:>7,}  {site}: {res['uncaught_samples'][site]}")
    print(
        "audit: "
        + ("; ".join(res["audit_problems"]) or "every chain verifies, no event id repeats")
    )
    print("blocked by reason code:")
    for code, n in res["blocked_by_code"].items():
        print(f"  {n:>7,}  {code}")
    for name, mt in (
        ("random states", res["mask_truth"]),
        ("scripted states", res["mask_truth_scripted"]),
    ):
        ap = mt["apart"]
        print(
            f"mask truth ({name}): {mt['blocked']:,} of {mt['probes']:,} mask-allowed "
            f"actions BLOCKED ({100 * mt['blocked_share']:.2f} %); "
            f"RESTOCK_REAGENT apart: {ap['blocked']:,} of {ap['probes']:,} "
            f"({100 * ap['blocked_share']:.1f} %)"
        )
        for cause, n in mt["causes"].items():
            print(f"  {n:>7,}  {cause}")
    return 1 if bad else 0


def _startup(args: argparse.Namespace) -> int:
    from labtrust_gym.bench.startup_bench import bench_startup

    rows = bench_startup(args.repeats or 5, args.case)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    for r in rows:
        target = ""
        if r["target_s"] is not None:
            target = f"  target {r['target_s']} s: {'met' if r['meets_target'] else 'NOT met'}"
        extra = ""
        if r["case"] == "breakdown":
            extra = (
                f"  (cpu: import {r['import_s']} s, first run {r['first_run_s']} s, "
                f"second run {r['second_run_s']} s)"
            )
        print(
            f"{r['case']:<13} wall median {r['wall_median_s']:.3f} s (min {r['wall_min_s']:.3f})"
            f"  cpu {r['cpu_median_s']:.3f} s  x{r['runs']}{target}{extra}"
        )
    if rows:
        print(f"load average (1 min): {rows[0]['load_average_1m']}")
        if rows[0].get("steal_pct") is not None:
            print(f"CPU time stolen by the hypervisor while measuring: {rows[0]['steal_pct']}%")
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from labtrust_gym.dashboard.bench import bench_dashboard

    res = bench_dashboard(
        args.root, repeats=args.repeats or 5, log=lambda m: print(m, file=sys.stderr)
    )
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        print()
        return 0
    print(f"dashboard on {res['root']}: {res['entries']}; index scan {res['index_scan_s']} s")
    if res["data_made_s"]:
        print(f"  data made in {res['data_made_s']}")
    print(f"  API (HTTP on 127.0.0.1; first, then median/max of {res['repeats']}):")
    for r in res["api"]:
        print(
            f"    {r['endpoint']:<52} {r['first_ms']:>8.1f} ms  {r['median_ms']:>7.1f} ms "
            f"{r['max_ms']:>7.1f} ms  {r['bytes']:>9,} B"
        )
    if res["pages"]:
        print(
            "  pages (chromium, navigation start to view drawn by the browser's clock; first, "
            f"then median/max of {res['repeats']}; wall median incl. automation):"
        )
        for r in res["pages"]:
            print(
                f"    {r['view']:<52} {r['first_ms']:>8.1f} ms  {r['median_ms']:>7.1f} ms "
                f"{r['max_ms']:>7.1f} ms  wall {r['wall_median_ms']:>7.1f} ms"
            )
    else:
        print(f"  pages: {res['pages_note']}")
    return 0
