"""``labtrust bench``: speed benchmarks (engine; env and coordination where available)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="run a speed benchmark and print its figures")
    p.add_argument("target", choices=["engine"], help="what to benchmark")
    p.add_argument("--rounds", type=int, default=40, help="workload size (specimen rounds)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from labtrust_gym.bench.engine_bench import run_engine_bench

    res = run_engine_bench(args.rounds, args.seed, args.repeats)
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        print()
    else:
        print(f"engine: {res['events']} events, best of {args.repeats}: {res['best_wall_s']} s "
              f"-> {res['events_per_s']:,} events/s ({res['us_per_event']} us/event)")
        print(f"  accepted {res['accepted']}, blocked {res['blocked']}, "
              f"released results {res['released_results']}")
        print(f"  events/s by decile of the episode: {res['events_per_s_by_decile']}")
        print(f"  mix: {res['action_mix']}")
    return 0
