"""``labtrust validate-policy``: schema and cross-reference check of a policy tree.

Prints one ``file: path: message`` line per problem (``--json``: a JSON list of
``{"file", "path", "message"}`` objects) on stdout. Exit code 0 when the policy is valid,
1 when problems were found (an unreadable, malformed or hostile file is a problem too),
2 when the directory or partner overlay does not exist.

Besides the schemas and cross-references, every invariant must name a registered handler
(built-in or from an installed plugin). Plugins are loaded tolerantly: a broken plugin is
reported (stderr) and the policy is still checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate-policy",
        help="validate the policy files (schemas and cross-references)",
        description=(
            "Validate every policy file against its JSON Schema, then check the references "
            "between files (zones, sites, devices, roles, reason codes...)."
        ),
    )
    parser.add_argument(
        "--policy-dir",
        metavar="DIR",
        default=None,
        help="policy/ directory or the repository root holding it (default: configured one)",
    )
    parser.add_argument(
        "--partner",
        metavar="ID",
        default=None,
        help="merge the overlay partners/ID/ before validating (default: the partner of "
        "the lab profile given with labtrust --profile)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the problems as a JSON list on stdout"
    )
    parser.set_defaults(func=run, plugin_mode="tolerant")
    return parser


def run(args: argparse.Namespace) -> int:
    from labtrust_gym.policy.validate import check_policy_dir
    from labtrust_gym.profiles import active_lab_profile

    partner = args.partner
    prof = active_lab_profile()
    if partner is None and prof is not None:  # labtrust --profile ID validate-policy
        partner = prof.partner_id
    result = check_policy_dir(args.policy_dir, partner)
    problems = list(result.problems)
    inv = result.docs.get("invariant_registry")
    if inv is not None:
        from labtrust_gym.engine.invariant_check import invariant_handler_problems

        problems.extend(
            invariant_handler_problems(inv, result.sources.get("invariant_registry", ""))
        )
    if args.json:
        payload = [{"file": f, "path": p, "message": m} for f, p, m in problems]
        print(json.dumps(payload, indent=2))
    else:
        for f, p, m in problems:
            print(f"{f}: {p or '<root>'}: {m}")
    if problems:
        print(f"policy INVALID: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    summary = f"policy OK: {len(result.files)} files validated"
    print(summary, file=sys.stderr if args.json else sys.stdout)
    return 0
