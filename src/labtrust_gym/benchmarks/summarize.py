"""``labtrust summarize-results``: CSV and Markdown tables with mean and 95% CI."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from labtrust_gym.benchmarks.metrics import summarize_episodes
from labtrust_gym.outputs import atomic_write_text, check_output_dir, check_output_file

__all__ = ["write_summary", "SUMMARY_METRICS"]

SUMMARY_METRICS = (
    "throughput",
    "on_time_rate",
    "turnaround_p50_s",
    "turnaround_p95_s",
    "violations_total",
    "critical_violations",
    "blocked",
    "blocked_rate",
    "critical_ack_latency_p50_s",
    "transport_received",
    "wall_s",
    "agent_steps_per_s",
)


def _fmt(x: Any) -> str:
    return "" if x is None else f"{x:.4g}"


def write_summary(results: list[dict[str, Any]], out_dir: Path | str) -> list[Path]:
    """Write ``summary.csv`` and ``summary.md`` to ``out_dir`` (checked first; each file
    written atomically); return their paths."""
    out_dir = check_output_dir(out_dir, "summary directory")
    rows = []
    for r in results:
        summ = summarize_episodes(r["episodes"])
        for m in SUMMARY_METRICS:
            s = summ.get(m)
            if s is None:
                continue
            rows.append(
                {
                    "task": r["task"],
                    "controller": r.get("controller", "scripted"),
                    "metric": m,
                    "n": s["n"],
                    "mean": s["mean"],
                    "ci95_low": s["ci95_low"],
                    "ci95_high": s["ci95_high"],
                }
            )
    csv_path = out_dir / "summary.csv"
    buf = io.StringIO(newline="")
    w = csv.DictWriter(
        buf, fieldnames=["task", "controller", "metric", "n", "mean", "ci95_low", "ci95_high"]
    )
    w.writeheader()
    for row in rows:
        w.writerow(row)
    md = ["| task | controller | metric | n | mean | 95% CI |", "|---|---|---|---|---|---|"]
    for row in rows:
        ci = (
            "-"
            if row["ci95_low"] is None
            else f"[{_fmt(row['ci95_low'])}, {_fmt(row['ci95_high'])}]"
        )
        md.append(
            f"| {row['task']} | {row['controller']} | {row['metric']} | {row['n']} | "
            f"{_fmt(row['mean'])} | {ci} |"
        )
    md_path = out_dir / "summary.md"
    for path in (csv_path, md_path):
        check_output_file(path, "summary file")
    atomic_write_text(csv_path, buf.getvalue())
    atomic_write_text(md_path, "\n".join(md) + "\n")
    return [csv_path, md_path]
