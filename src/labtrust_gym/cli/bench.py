"""``labtrust bench``: speed benchmarks (engine; env and coordination where available)."""

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
        choices=["engine", "env", "episodes", "coord", "startup"],
        help="engine: events/s; env: NOOP env steps at scale; episodes: one "
        "scripted episode per task; coord: coordination methods per scale preset; "
        "startup: whole-process time of --version, --help and a one-episode run",
    )
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
        help="coordination method(s) for 'coord' (repeat, or 'all'; default all)",
    )
    p.add_argument(
        "--scale",
        action="append",
        default=None,
        help="scale preset for 'env' (default corridor_heavy); repeat it, or give 'all' "
        "(small_smoke, corridor_heavy, hospital_network_2k, hospital_network_10k), to run "
        "several, each in a fresh process",
    )
    p.add_argument("--steps", type=int, default=100, help="env steps for 'env'")
    p.add_argument("--task", action="append", default=None, help="task(s) for 'episodes'")
    p.add_argument("--rounds", type=int, default=40, help="workload size (specimen rounds)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repetitions (default: 3 for 'engine', 5 for 'startup', medians reported)",
    )
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.target == "coord":
        return _coord(args)
    if args.target == "startup":
        return _startup(args)
    if args.target == "env":
        from labtrust_gym.bench.env_bench import (
            ENV_SCALES,
            bench_env_noop,
            bench_env_noop_isolated,
        )

        scales: list[str] = []
        for sc in args.scale or ["corridor_heavy"]:
            scales += list(ENV_SCALES) if sc == "all" else [sc]
        if len(scales) == 1:
            rows = [bench_env_noop(scales[0], args.steps, args.seed)]
        else:
            rows = [bench_env_noop_isolated(sc, args.steps, args.seed) for sc in scales]
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
    return 0
