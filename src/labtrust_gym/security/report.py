"""Security suite reports: the coverage matrix and the Markdown rendering.

Both work from the report of :func:`labtrust_gym.benchmarks.security_runner
.run_security_suite` alone (its ``categories``, ``controls`` and ``attacks``), so a report
written to JSON can be rendered again later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["coverage_matrix", "render_markdown"]

_MARK = {
    "blocked": "blocked",
    "detected": "detected",
    "succeeded": "**SUCCEEDED**",
    "error": "**ERROR**",
}


def coverage_matrix(report: Mapping[str, Any]) -> dict[str, dict[str, dict[str, int]]]:
    """``{category: {control: {"attacks": n, "passed": k}}}`` over every declared category
    and every control an attack targets (declared categories without attacks map to
    ``{}``)."""
    out: dict[str, dict[str, dict[str, int]]] = {c: {} for c in report.get("categories") or {}}
    for a in report.get("attacks") or ():
        cat = str(a.get("category", "?"))
        ctl = str(a.get("control", "?"))
        cell = out.setdefault(cat, {}).setdefault(ctl, {"attacks": 0, "passed": 0})
        cell["attacks"] += 1
        cell["passed"] += 1 if a.get("passed") else 0
    return out


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown: a summary line, one table row per attack, the coverage
    matrix (categories x controls: blocked-or-detected / attacks) and the findings of
    every attack that did not pass."""
    attacks = list(report.get("attacks") or ())
    summary = report.get("summary") or {}
    n_ok = sum(1 for a in attacks if a.get("passed"))
    lines = [
        f"# Security suite `{report.get('suite_id')}`",
        "",
        f"Provider `{report.get('provider_id')}`, suite file `{report.get('source')}`: "
        f"**{n_ok}/{len(attacks)} attacks blocked or detected**"
        + (
            " (" + ", ".join(f"{k} {v}" for k, v in (summary.get("outcomes") or {}).items()) + ")"
            if summary.get("outcomes")
            else ""
        )
        + ".",
        "",
        "| attack | category | control | kind | title | expected | outcome |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in attacks:
        outcome = str(a.get("outcome", "blocked" if a.get("passed") else "succeeded"))
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    a.get("attack_id"),
                    a.get("category", ""),
                    a.get("control", ""),
                    a.get("kind", ""),
                    a.get("title", ""),
                    a.get("expected", ""),
                    _MARK.get(outcome, outcome),
                )
            )
            + " |"
        )
    matrix = coverage_matrix(report)
    controls = sorted({ctl for row in matrix.values() for ctl in row})
    cats = report.get("categories") or {}
    lines += [
        "",
        "## Coverage: categories x controls",
        "",
        "Each cell: attacks blocked or detected / attacks run.",
        "",
        "| category | " + " | ".join(controls) + " | total |",
        "|---|" + "---|" * (len(controls) + 1),
    ]
    for cat, row in matrix.items():
        info = cats.get(cat) or {}
        total = sum(c["attacks"] for c in row.values())
        passed = sum(c["passed"] for c in row.values())
        cells = [f"{row[c]['passed']}/{row[c]['attacks']}" if c in row else "" for c in controls]
        label = cat + (" (slot)" if info.get("slot") else "")
        lines.append(f"| {_cell(label)} | " + " | ".join(cells) + f" | {passed}/{total} |")
    slots = [(c, i["slot"]) for c, i in cats.items() if i.get("slot")]
    if slots:
        lines += [""] + [f"- {c} (slot): {_cell(text)}" for c, text in slots]
    bad = [a for a in attacks if not a.get("passed")]
    if bad:
        lines += ["", "## Attacks that were not blocked", ""]
        for a in bad:
            lines.append(
                f"- **{a.get('attack_id')}** ({a.get('outcome')}): {_cell(a.get('title'))}"
            )
            for f in a.get("findings") or ():
                lines.append(f"  - {_cell(f)}")
    return "\n".join(lines) + "\n"
