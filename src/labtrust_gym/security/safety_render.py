"""The safety case as Markdown: a claim -> argument -> evidence tree.

Each claim is a section with its status, its statement, its argument and the list of its
evidence items; each item says whether it holds, what was checked, and links to what it
looked at (golden scenario files, the security suite, results files and episode logs, the
files of an evidence bundle). Links are relative to the directory the Markdown is written
to, so the document works next to (or inside) the evidence bundle.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["render_safety_case"]

_STATUS = {
    "supported": "supported",
    "not_supported": "**NOT SUPPORTED**",
    "not_evaluated": "not evaluated",
}
_OK = {True: "holds", False: "**fails**", None: "not evaluated"}


def _link(ref: str, base: Path | None) -> str:
    if ref in ("", "None") or ref.startswith("<"):
        return f"`{ref}`"
    p = Path(ref)
    name = p.name or ref
    if base is None:
        return f"[{name}]({p.as_posix()})"
    try:
        rel = os.path.relpath(p.resolve(), base.resolve())
    except ValueError:  # another drive (Windows)
        rel = str(p.resolve())
    return f"[{name}]({Path(rel).as_posix()})"


def render_safety_case(case: Mapping[str, Any], out_dir: Path | str | None = None) -> str:
    """Markdown of a safety case built by :func:`~labtrust_gym.security.safety_case
    .run_safety_case`; links are made relative to ``out_dir`` when given."""
    base = Path(out_dir) if out_dir is not None else None
    s = case.get("summary") or {}
    lines = [
        f"# Safety case `{case.get('case_id')}`",
        "",
        f"Provider `{case.get('provider_id')}`, claims {_link(str(case.get('source')), base)}, "
        f"policy `{str(case.get('policy_fingerprint', ''))[:16]}`: "
        f"**{s.get('supported', 0)} supported, {s.get('not_supported', 0)} not supported, "
        f"{s.get('not_evaluated', 0)} not evaluated**.",
    ]
    if case.get("results"):
        lines.append("")
        lines.append("Results files: " + ", ".join(_link(r, base) for r in case["results"]))
    if case.get("bundles"):
        lines.append("")
        lines.append("Evidence bundles: " + ", ".join(_link(b, base) for b in case["bundles"]))
    for c in case.get("claims") or ():
        lines += [
            "",
            f"## {c.get('claim_id')}: {_STATUS.get(c.get('status', ''), c.get('status'))}",
            "",
            f"**Claim.** {c.get('statement', '')}",
            "",
        ]
        if c.get("argument"):
            lines += [f"**Argument.** {c['argument']}", ""]
        lines.append("**Evidence.**")
        lines.append("")
        for e in c.get("evidence") or ():
            ok = e.get("ok")
            refs = [r for r in (e.get("refs") or ()) if r]
            shown = refs[:8]
            links = ", ".join(_link(r, base) for r in shown)
            if len(refs) > len(shown):
                links += f" and {len(refs) - len(shown)} more"
            lines.append(
                f"- `{e.get('type')}` {_OK.get(ok, ok)}: {e.get('summary', '')}"
                + (f" ({links})" if links else "")
            )
            for f in e.get("findings") or ():
                lines.append(f"  - {f}")
    return "\n".join(lines) + "\n"
