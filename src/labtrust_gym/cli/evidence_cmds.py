"""Evidence commands: export-evidence, verify-bundle, audit-key (see docs/evidence.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    e = sub.add_parser(
        "export-evidence",
        help="bundle a run's results, episode logs, policy and environment, signed",
    )
    e.add_argument(
        "--run",
        required=True,
        help="run directory (results JSON files, found recursively, and their --log-dir "
        "logs) or one results file",
    )
    e.add_argument("--out", required=True, help="bundle directory to create (new or empty)")
    e.set_defaults(func=_export)

    v = sub.add_parser(
        "verify-bundle",
        help="check an evidence bundle without the simulator; exit 0 if every check passes",
    )
    v.add_argument("bundle", help="bundle directory (from export-evidence)")
    v.add_argument(
        "--trusted-key",
        default=None,
        metavar="K",
        help="the lab's public audit key (a file with a PEM block or 64 hex digits, or the "
        "hex itself); without it a bundle re-signed end to end is not detected "
        "(default: none)",
    )
    v.add_argument(
        "--replay",
        action="store_true",
        help="also re-run every episode on the engine with the bundle's policy snapshot "
        "and compare every field (default: off)",
    )
    v.add_argument("--json", action="store_true", help="print the report as JSON (default: lines)")
    v.set_defaults(func=_verify)

    k = sub.add_parser("audit-key", help="show the audit signing key in use (public part)")
    k.add_argument(
        "--public-out",
        default=None,
        metavar="FILE",
        help="write the public key (PEM) to FILE for verifiers (default: print only)",
    )
    k.set_defaults(func=_audit_key)


def _export(args: argparse.Namespace) -> int:
    from labtrust_gym.evidence.export import export_evidence

    out = export_evidence(args.run, args.out)
    print(f"wrote evidence bundle {out}", file=sys.stderr)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from labtrust_gym.evidence.verify import print_report, verify_bundle

    report = verify_bundle(args.bundle, trusted_key=args.trusted_key, replay=args.replay)
    return print_report(report, as_json=args.json)


def _audit_key(args: argparse.Namespace) -> int:
    from labtrust_gym.evidence.keys import audit_key, public_key_pem
    from labtrust_gym.outputs import atomic_write_text, check_output_file

    if args.public_out:
        check_output_file(args.public_out, "--public-out")
    key = audit_key()
    print(f"key id:     {key.key_id}")
    print(f"public key: {key.public_key_hex}")
    print(f"source:     {key.source}")
    if args.public_out:
        atomic_write_text(args.public_out, public_key_pem(key.private_key))
        print(f"wrote {args.public_out}", file=sys.stderr)
    return 0
