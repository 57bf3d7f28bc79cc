"""``labtrust plugins list``: every registered id of every extension kind and its origin,
the plugin distributions loaded, the ones that could not be loaded (with their error) and
the overrides. The command loads plugins tolerantly: one broken plugin is listed, not
fatal (exit 0; the runs that need it fail with the same error)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    from labtrust_gym.registry import ENTRY_POINT_GROUPS

    p = sub.add_parser("plugins", help="extension registries and loaded plugins")
    psub = p.add_subparsers(dest="plugins_command", metavar="SUBCOMMAND")
    ls = psub.add_parser(
        "list",
        help="every registered id by kind, with where it came from",
        description="Lists the ids of the eight extension registries (built-ins, plugins "
        "loaded from entry points, lab-profile extension packages, runtime registrations), "
        "then the plugin distributions loaded and any overrides.",
    )
    ls.add_argument("--kind", choices=sorted(ENTRY_POINT_GROUPS.values()), default=None)
    ls.add_argument("--json", action="store_true", help="print one JSON document")
    ls.set_defaults(func=_list, plugin_mode="tolerant")
    p.set_defaults(func=lambda args: _usage(p), plugin_mode="none")


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def _list(args: argparse.Namespace) -> int:
    from labtrust_gym.extensions import registered_extensions
    from labtrust_gym.plugins import broken_plugins, loaded_plugins, plugin_overrides

    regs = registered_extensions()
    if args.kind:
        regs = {args.kind: regs[args.kind]}
    broken = broken_plugins()
    if args.json:
        doc = {
            "registries": regs,
            "plugins": loaded_plugins(),
            "broken": broken,
            "overrides": plugin_overrides(),
        }
        print(json.dumps(doc, indent=2))
        return 0
    rows = [(kind, e["id"], e["origin"]) for kind, items in regs.items() for e in items]
    w0 = max(len("KIND"), *(len(r[0]) for r in rows))
    w1 = max(len("ID"), *(len(r[1]) for r in rows))
    print(f"{'KIND':<{w0}}  {'ID':<{w1}}  ORIGIN")
    for kind, ident, origin in rows:
        print(f"{kind:<{w0}}  {ident:<{w1}}  {origin}")
    plugins = loaded_plugins()
    print(f"\nplugins loaded: {len(plugins)}")
    for r in plugins:
        print(
            f"  {r['distribution']} {r['version']}: {r['group']} {r['name']} = {r['value']}"
            + (" (override)" if r.get("override") else "")
        )
    if broken:
        print(f"\nplugins that could not be loaded: {len(broken)}")
        for r in broken:
            print(f"  {r['distribution']} {r['version']}: {r['group']} {r['name']} = {r['value']}")
            print(f"    error: {r['error']}")
    overrides = plugin_overrides()
    if overrides:
        print(f"\noverrides: {len(overrides)}")
        for o in overrides:
            print(f"  {o['kind']} {o['id']}: {o['by']} replaced {o['replaced']}")
    return 0
