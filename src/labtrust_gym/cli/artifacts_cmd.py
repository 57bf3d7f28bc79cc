"""``labtrust artifacts``: where policy artifacts resolve across the artifact roots.

* ``labtrust artifacts roots``: the roots searched, in order;
* ``labtrust artifacts list [--kind K]``: every artifact of every root, with collisions;
* ``labtrust artifacts which KIND NAME``: the path an artifact resolves to.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    from labtrust_gym.artifacts import ARTIFACT_KINDS

    p = sub.add_parser(
        "artifacts",
        help="where lab profiles, presets, packs, overlays... resolve",
        description="Policy artifacts are searched in ./policy, then each root of "
        "LABTRUST_EXTRA_ROOTS, then LABTRUST_POLICY_DIR / LABTRUST_ROOT / the installed "
        "policy. An artifact defined in two roots is an error unless "
        "LABTRUST_ALLOW_ROOT_OVERRIDE=1 (the earliest root wins).",
    )
    psub = p.add_subparsers(dest="artifacts_command", metavar="SUBCOMMAND")
    r = psub.add_parser("roots", help="the artifact roots, in search order")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_roots)
    ls = psub.add_parser("list", help="every artifact of every root (collisions marked)")
    ls.add_argument("--kind", choices=list(ARTIFACT_KINDS), default=None)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)
    w = psub.add_parser("which", help="the path one artifact resolves to")
    w.add_argument("kind", choices=list(ARTIFACT_KINDS))
    w.add_argument("name")
    w.set_defaults(func=_which)
    p.set_defaults(func=lambda args: _usage(p), plugin_mode="none")


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def _roots(args: argparse.Namespace) -> int:
    from labtrust_gym.artifacts import artifact_roots

    roots = artifact_roots()
    if args.json:
        print(
            json.dumps(
                [{"label": r.label, "policy_dir": str(r.policy_dir)} for r in roots], indent=2
            )
        )
        return 0
    for i, r in enumerate(roots):
        print(f"{i + 1}. {r.policy_dir}  ({r.label})")
    return 0


def _list(args: argparse.Namespace) -> int:
    from labtrust_gym.artifacts import ARTIFACT_KINDS, allow_root_override, discover_artifacts

    kinds = [args.kind] if args.kind else list(ARTIFACT_KINDS)
    override = allow_root_override()
    doc: dict[str, list[dict[str, Any]]] = {}
    collisions = 0
    for kind in kinds:
        items = []
        for name, cands in discover_artifacts(kind).items():
            clash = len(cands) > 1
            collisions += clash and not override
            items.append(
                {
                    "name": name,
                    "path": str(cands[0].path),
                    "root": cands[0].root.label,
                    "status": ("shadows" if override else "COLLISION") if clash else "ok",
                    "others": [f"{c.path} ({c.root.label})" for c in cands[1:]],
                }
            )
        doc[kind] = items
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        for kind, items in doc.items():
            print(f"{kind} ({len(items)})")
            for it in items:
                mark = "" if it["status"] == "ok" else f"  [{it['status']}]"
                print(f"  {it['name']:<28} {it['path']}  ({it['root']}){mark}")
                for other in it["others"]:
                    print(f"  {'':<28} also {other}")
    if collisions:
        print(
            f"labtrust: {collisions} artifact(s) defined in more than one root; remove the "
            "duplicates or set LABTRUST_ALLOW_ROOT_OVERRIDE=1",
            file=sys.stderr,
        )
        return 1
    return 0


def _which(args: argparse.Namespace) -> int:
    from labtrust_gym.artifacts import find_artifact, resolve_artifact

    path = resolve_artifact(args.kind, args.name)
    root = next(c.root.label for c in find_artifact(args.kind, args.name) if c.path == path)
    print(f"{path}  ({root})")
    return 0
