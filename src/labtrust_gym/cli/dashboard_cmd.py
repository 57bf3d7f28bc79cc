"""``labtrust dashboard``: the web dashboard over a directory of runs (docs/dashboard.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "dashboard",
        help="serve a read-only web dashboard of the runs, studies, episodes, evidence "
        "bundles and improvement runs under a directory",
    )
    p.add_argument(
        "--root", default=".", help="directory to index (default: the current directory)"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default: %(default)s; anything else exposes the dashboard "
        "to the network, which it is not built for)",
    )
    p.add_argument("--port", type=int, default=8321, help="port (default: %(default)s)")
    p.add_argument(
        "--allow-approve",
        action="store_true",
        help="let the page approve improvement-run candidates awaiting a human decision "
        "(default: read-only)",
    )
    p.add_argument(
        "--trusted-key",
        metavar="K",
        default=None,
        help="the audit public key (file or hex, as `labtrust audit-key --public-out` "
        "writes it) that evidence bundles must be signed with (default: none; the keys "
        "a bundle names are used and the page says so)",
    )
    p.set_defaults(func=_run, plugin_mode="none")


def _run(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ModuleNotFoundError as exc:
        print(
            f"labtrust dashboard: {exc.name} is not installed; install the extra: "
            "pip install 'labtrust-gym[dashboard]'",
            file=sys.stderr,
        )
        return 2
    from labtrust_gym.dashboard.server import LOCAL_HOSTS, serve
    from labtrust_gym.evidence.verify import load_trusted_key

    if not 0 < args.port < 65536:
        print(f"labtrust dashboard: --port {args.port}: give 1-65535", file=sys.stderr)
        return 2
    trusted = None
    if args.trusted_key is not None:
        try:
            trusted = load_trusted_key(args.trusted_key)
        except ValueError as exc:
            print(
                f"labtrust dashboard: --trusted-key {args.trusted_key}: {exc}; give the file "
                "`labtrust audit-key --public-out FILE` writes, or its hex",
                file=sys.stderr,
            )
            return 2
    if args.host not in LOCAL_HOSTS:
        print(
            f"labtrust dashboard: warning: binding {args.host} exposes the dashboard beyond "
            "this machine",
            file=sys.stderr,
        )
    print(
        f"labtrust dashboard: http://{args.host}:{args.port}/ (root {args.root})", file=sys.stderr
    )
    serve(
        args.root,
        host=args.host,
        port=args.port,
        allow_approve=args.allow_approve,
        trusted_key=trusted,
    )
    return 0
