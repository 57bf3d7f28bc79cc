"""Assurance commands: ``security-suite``, ``safety-case``, ``run-pack`` and ``mutants``.

Each uses the provider (or pack loader) of the active lab profile unless ``--provider``
/ ``--loader`` names one, and the profile's partner overlay and path overrides. Exit
codes: 0 all good; 1 an attack succeeded, a claim is not supported, a security gate of a
pack run failed, or a mutant survived; 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]

_MATRIX_START = "<!-- mutant-matrix:start -->"
_MATRIX_END = "<!-- mutant-matrix:end -->"


def add_parser(sub: Any) -> None:
    s = sub.add_parser(
        "security-suite",
        help="run the attack catalogue (scripted engine and bus attacks, attack episodes); "
        "exit 1 if any attack succeeds",
    )
    s.add_argument(
        "--provider",
        default=None,
        help="security suite provider id (default: the lab profile's, else 'default')",
    )
    s.add_argument(
        "--attack",
        action="append",
        default=None,
        metavar="ID",
        help="run only this attack (repeatable; default: every attack)",
    )
    s.add_argument(
        "--category",
        action="append",
        default=None,
        metavar="CAT",
        help="run only the attacks of this category (repeatable; default: all categories)",
    )
    s.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the episode attacks (default: each attack's own, else the suite's)",
    )
    s.add_argument("--out", default=None, help="write the report JSON here (default: none)")
    s.add_argument(
        "--markdown",
        default=None,
        metavar="FILE",
        help="write the Markdown table and coverage matrix here (default: none)",
    )
    s.set_defaults(func=_security)

    c = sub.add_parser(
        "safety-case",
        help="build the safety case from fresh evidence; exit 1 if a claim is not supported",
    )
    c.add_argument(
        "--provider",
        default=None,
        help="safety case provider id (default: the lab profile's, else 'default')",
    )
    c.add_argument(
        "--results",
        nargs="*",
        default=[],
        metavar="FILE",
        help="results JSON files used as evidence (default: none)",
    )
    c.add_argument(
        "--bundle",
        action="append",
        default=[],
        metavar="DIR",
        help="evidence bundle to verify (repeatable; default: none)",
    )
    c.add_argument(
        "--trusted-key",
        default=None,
        metavar="K",
        help="trusted public audit key the bundles are verified against (default: none)",
    )
    c.add_argument(
        "--replay",
        action="store_true",
        help="re-run the engine when verifying bundles (default: only as the claims say)",
    )
    c.add_argument(
        "--claim",
        action="append",
        default=None,
        metavar="ID",
        help="evaluate only this claim (repeatable; default: every claim)",
    )
    c.add_argument(
        "--require-all",
        action="store_true",
        help="a claim that could not be evaluated fails too (default: only not-supported fails)",
    )
    c.add_argument("--out", default=None, help="write the safety case JSON here (default: none)")
    c.add_argument(
        "--markdown",
        default=None,
        metavar="FILE",
        help="write the claim -> argument -> evidence tree here (default: none)",
    )
    c.set_defaults(func=_safety)

    p = sub.add_parser(
        "run-pack",
        help="run a benchmark pack: one results file per run; exit 1 if a security gate fails",
    )
    p.add_argument(
        "--pack", default=None, metavar="ID", help="pack id (default: the loader's default pack)"
    )
    p.add_argument(
        "--loader",
        default=None,
        help="benchmark pack loader id (default: the lab profile's, else 'default')",
    )
    p.add_argument(
        "--prefer-v02",
        action="store_true",
        help="prefer <pack>.v0.2.yaml over <pack>.v0.1.yaml (default: v0.1)",
    )
    p.add_argument(
        "--out-dir",
        required=True,
        help="directory for the results files, pack_index.json and security_gates.json "
        "(required; no default)",
    )
    p.set_defaults(func=_pack)

    m = sub.add_parser(
        "mutants",
        help="engine mutants and their kill matrix (pytest, security suite, safety case, "
        "verify-bundle --replay)",
    )
    m.add_argument("--list", action="store_true", help="list the mutants and exit (default: no)")
    m.add_argument("--matrix", action="store_true", help="compute the kill matrix (default: no)")
    m.add_argument(
        "--mutant",
        action="append",
        default=None,
        metavar="ID",
        help="only this mutant (repeatable; default: every mutant)",
    )
    m.add_argument(
        "--pytest",
        nargs="+",
        default=[],
        metavar="PATH",
        help="test paths for the pytest column, run with each mutant applied "
        "(default: column not computed)",
    )
    m.add_argument("--out", default=None, help="write the matrix JSON here (default: none)")
    m.add_argument(
        "--markdown", default=None, metavar="FILE", help="write the table here (default: none)"
    )
    m.add_argument(
        "--update-doc",
        default=None,
        metavar="FILE",
        help=f"replace the table between {_MATRIX_START} and {_MATRIX_END} in FILE (default: none)",
    )
    m.set_defaults(func=_mutants)


def _check_outputs(*paths: str | None) -> None:
    from labtrust_gym.outputs import check_output_file

    for p in paths:
        if p:
            check_output_file(p)


def _write_json(doc: dict[str, Any], out: str | None) -> None:
    if out:
        from labtrust_gym.outputs import atomic_write_json

        atomic_write_json(out, doc)
        print(f"wrote {out}", file=sys.stderr)


def _write_text(text: str, out: str | None) -> None:
    if out:
        from labtrust_gym.outputs import atomic_write_text

        atomic_write_text(out, text)
        print(f"wrote {out}", file=sys.stderr)


# ------------------------------------------------------------------ security-suite ---
def _security(args: argparse.Namespace) -> int:
    from labtrust_gym.benchmarks.security_runner import run_security_suite
    from labtrust_gym.security.report import coverage_matrix, render_markdown

    _check_outputs(args.out, args.markdown)
    opts: dict[str, Any] = {"attack_ids": args.attack, "seed": args.seed}
    if args.category:
        opts["categories"] = args.category
    rep = run_security_suite(args.provider, **opts)
    for a in rep["attacks"]:
        outcome = a.get("outcome", "blocked" if a["passed"] else "succeeded")
        mark = "PASS" if a["passed"] else "FAIL"
        print(f"{mark}  {a['attack_id']:<20} {outcome:<10} {a.get('title', '')}")
        for f in a.get("findings") or ():
            print(f"        {f}")
        for c in a.get("checks", []) if not a.get("findings") else ():
            if not c["passed"]:
                print(f"        {c['metric']} {c['op']} {c['value']}: observed {c['observed']}")
    n_ok = sum(1 for a in rep["attacks"] if a["passed"])
    print(
        f"security suite {rep['suite_id']} (provider {rep['provider_id']}): "
        f"{n_ok}/{len(rep['attacks'])} attacks passed (blocked or detected)"
    )
    if rep.get("categories") or rep.get("controls"):
        rep["coverage"] = coverage_matrix(rep)
    _write_json(rep, args.out)
    _write_text(render_markdown(rep), args.markdown)
    return 0 if rep["passed"] else 1


# ------------------------------------------------------------------ safety-case ------
def _safety(args: argparse.Namespace) -> int:
    from labtrust_gym.security.safety_case import case_passed, run_safety_case
    from labtrust_gym.security.safety_render import render_safety_case

    _check_outputs(args.out, args.markdown)
    opts: dict[str, Any] = {
        "bundles": args.bundle,
        "trusted_key": args.trusted_key,
        "bundle_replay": args.replay,
        "claim_ids": args.claim,
    }
    case = run_safety_case(args.provider, results=args.results, **opts)
    for c in case["claims"]:
        print(f"{c['status']:<14} {c['claim_id']:<12} {c['statement']}")
        for e in c["evidence"]:
            if e.get("ok") is not True:
                print(f"               {e['type']}: {e.get('summary', '')}")
                for f in (e.get("findings") or ())[:5]:
                    print(f"                 {f}")
    s = case["summary"]
    print(
        f"safety case {case.get('case_id')} (provider {case['provider_id']}): "
        f"{s['supported']} supported, {s['not_supported']} not supported, "
        f"{s['not_evaluated']} not evaluated"
        + (" (--require-all: not evaluated fails)" if args.require_all else "")
    )
    _write_json(case, args.out)
    if args.markdown:
        _write_text(render_safety_case(case, Path(args.markdown).parent), args.markdown)
    return 0 if case_passed(case, args.require_all) else 1


# ------------------------------------------------------------------ run-pack ---------
def _pack(args: argparse.Namespace) -> int:
    from labtrust_gym.benchmarks.official_pack import load_benchmark_pack, run_benchmark_pack
    from labtrust_gym.cli.progress import Progress
    from labtrust_gym.outputs import atomic_write_json, check_output_dir
    from labtrust_gym.security.gates import check_gates, load_gates
    from labtrust_gym.security.safety_case import load_results_files

    out_dir = check_output_dir(args.out_dir)
    gates = load_gates()
    pack, version, path = load_benchmark_pack(
        prefer_v02=args.prefer_v02, loader_id=args.loader, pack_id=args.pack
    )
    prog = Progress(len(pack["runs"]), f"pack {pack.get('pack_id')}")
    index = run_benchmark_pack(pack, out_dir, progress=prog)
    for r in index["runs"]:
        print(f"{r['task']:<24} throughput {r['throughput_mean']}  -> {r['results']}")
    verdict = check_gates(load_results_files([r["results"] for r in index["runs"]]), gates)
    atomic_write_json(out_dir / "security_gates.json", verdict)
    for f in verdict["failures"]:
        print(
            f"FAIL  {f['gate_id']}: {f['metric']} {f['op']} {f['value']} observed "
            f"{f['observed']} in {f['results']} episode {f['episode']}"
            + (f" ({f['problem']})" if f.get("problem") else "")
        )
    print(
        f"pack {index['pack_id']} v{version} ({path}): {len(index['runs'])} runs, index "
        f"{out_dir / 'pack_index.json'}; security gates: "
        + (
            f"{verdict['checked']} checks passed"
            if verdict["passed"]
            else f"{len(verdict['failures'])} of {verdict['checked']} checks FAILED"
        )
    )
    return 0 if verdict["passed"] else 1


# ------------------------------------------------------------------ mutants ----------
def _mutants(args: argparse.Namespace) -> int:
    from labtrust_gym.security.mutant_matrix import (
        kill_matrix,
        matrix_passed,
        render_matrix_markdown,
    )
    from labtrust_gym.security.mutants import MUTANTS

    if args.list or not args.matrix:
        for mid, m in MUTANTS.items():
            print(f"{mid:<28} {m.title}")
        if not args.matrix:
            return 0
    _check_outputs(args.out, args.markdown, args.update_doc)
    doc_text = None
    if args.update_doc:
        doc_text = Path(args.update_doc).read_text(encoding="utf-8")
        if _MATRIX_START not in doc_text or _MATRIX_END not in doc_text:
            from labtrust_gym.errors import ConfigError

            raise ConfigError(
                f"{args.update_doc}: no {_MATRIX_START} ... {_MATRIX_END} block to replace; "
                "add the two markers where the table goes"
            )
    matrix = kill_matrix(
        args.mutant,
        pytest_paths=args.pytest,
        progress=lambda msg: print(f"  {msg}", file=sys.stderr),
    )
    table = render_matrix_markdown(matrix)
    print(table)
    _write_json(matrix, args.out)
    _write_text(table, args.markdown)
    if args.update_doc and doc_text is not None:
        head, rest = doc_text.split(_MATRIX_START, 1)
        _, tail = rest.split(_MATRIX_END, 1)
        _write_text(f"{head}{_MATRIX_START}\n{table}{_MATRIX_END}{tail}", args.update_doc)
    return 0 if matrix_passed(matrix) else 1
