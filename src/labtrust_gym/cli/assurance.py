"""Assurance commands: ``security-suite``, ``safety-case`` and ``run-pack``.

Each uses the provider (or pack loader) of the active lab profile unless ``--provider``
/ ``--loader`` names one, and the profile's partner overlay and path overrides.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    s = sub.add_parser(
        "security-suite",
        help="run the security suite (attacks as benchmark episodes), pass/fail per attack",
    )
    s.add_argument("--provider", default=None, help="security suite provider id")
    s.add_argument(
        "--attack",
        action="append",
        default=None,
        metavar="ID",
        help="run only this attack (repeatable)",
    )
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--out", default=None, help="write the report JSON here")
    s.set_defaults(func=_security)

    c = sub.add_parser("safety-case", help="build the safety case: claims and their evidence")
    c.add_argument("--provider", default=None, help="safety case provider id")
    c.add_argument(
        "--results",
        nargs="*",
        default=[],
        metavar="FILE",
        help="results JSON files used as evidence",
    )
    c.add_argument("--out", default=None, help="write the safety case JSON here")
    c.set_defaults(func=_safety)

    p = sub.add_parser("run-pack", help="run a benchmark pack: one results file per run")
    p.add_argument("--pack", default=None, metavar="ID", help="pack id (default: the loader's)")
    p.add_argument("--loader", default=None, help="benchmark pack loader id")
    p.add_argument("--prefer-v02", action="store_true", help="prefer <pack>.v0.2.yaml")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=_pack)


def _write(doc: dict[str, Any], out: str | None) -> None:
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)


def _security(args: argparse.Namespace) -> int:
    from labtrust_gym.benchmarks.security_runner import run_security_suite

    rep = run_security_suite(args.provider, attack_ids=args.attack, seed=args.seed)
    for a in rep["attacks"]:
        print(f"{'PASS' if a['passed'] else 'FAIL'}  {a['attack_id']:<22} {a.get('title', '')}")
        for c in a.get("checks", []):
            if not c["passed"]:
                print(
                    f"        {c['metric']} {c['op']} {c['value']}: observed {c['observed']}"
                    + (f" ({'; '.join(c['problems'])})" if c.get("problems") else "")
                )
    n_ok = sum(1 for a in rep["attacks"] if a["passed"])
    print(
        f"security suite {rep['suite_id']} (provider {rep['provider_id']}): "
        f"{n_ok}/{len(rep['attacks'])} attacks passed"
    )
    _write(rep, args.out)
    return 0 if rep["passed"] else 1


def _safety(args: argparse.Namespace) -> int:
    from labtrust_gym.security.safety_case import run_safety_case

    case = run_safety_case(args.provider, results=args.results)
    for c in case["claims"]:
        print(f"{c['status']:<14} {c['claim_id']:<12} {c['statement']}")
        for e in c["evidence"]:
            if e.get("ok") is False:
                detail = e.get("missing") or e.get("problems") or e.get("files")
                print(f"               {e['type']}: {detail}")
    s = case["summary"]
    print(
        f"safety case {case.get('case_id')} (provider {case['provider_id']}): "
        f"{s['supported']} supported, {s['not_supported']} not supported, "
        f"{s['not_evaluated']} not evaluated"
    )
    _write(case, args.out)
    return 1 if s["not_supported"] else 0


def _pack(args: argparse.Namespace) -> int:
    from labtrust_gym.benchmarks.official_pack import load_benchmark_pack, run_benchmark_pack
    from labtrust_gym.cli.progress import Progress

    pack, version, path = load_benchmark_pack(
        prefer_v02=args.prefer_v02, loader_id=args.loader, pack_id=args.pack
    )
    prog = Progress(len(pack["runs"]), f"pack {pack.get('pack_id')}")
    index = run_benchmark_pack(pack, args.out_dir, progress=prog)
    for r in index["runs"]:
        print(f"{r['task']:<24} throughput {r['throughput_mean']}  -> {r['results']}")
    print(
        f"pack {index['pack_id']} v{version} ({path}): {len(index['runs'])} runs, index "
        f"{Path(args.out_dir) / 'pack_index.json'}"
    )
    return 0
