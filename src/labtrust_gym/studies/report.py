"""Study reports: the per-cell summary, the Pareto view and the leaderboard.

* ``summary_coord.csv`` (``summary.csv`` when the tasks are not coordination tasks): one
  row per cell of the spec (``status`` ok / failed / pending): method, scale, injection,
  episodes, throughput mean and Student-t 95% CI, on-time rate, turnaround p95,
  violations, blocked actions, ``comm.p95_latency_ms``, ``comm.drop_rate``,
  ``comm.partition_events``, ``coordination.stale_action_rate`` (means over the cell's
  episodes) and ``resilience_score``: the cell's mean throughput over the mean throughput
  of the same task, scale and method without injection (1.0 for that nominal cell; empty
  when the study has no ``none`` cell or its throughput is 0).
* ``pareto.md``: per scale, each method's means over all its cells at that scale (every
  injection condition) and whether it is on the frontier of throughput (higher is
  better) against violations, and against blocked actions (lower is better).
* ``leaderboard.md`` / ``leaderboard.csv``: per scale, methods ranked by that pooled mean
  throughput (ties: fewer violations, fewer blocked, id), with its 95% CI, the nominal
  cell's throughput and CI, the mean and worst resilience.

Every number is computed from the cells' ``results.json`` (:func:`study_rows`), so the
reports of a partial study cover its finished cells and can be rebuilt at any time.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.benchmarks.metrics import mean_ci95, summarize_episodes
from labtrust_gym.errors import ConfigError
from labtrust_gym.outputs import atomic_write_text
from labtrust_gym.studies.spec import NO_INJECTION, StudySpec

__all__ = [
    "SUMMARY_COLUMNS",
    "LEADERBOARD_COLUMNS",
    "study_rows",
    "load_study",
    "method_stats",
    "no_effect_cells",
    "pareto_front",
    "write_summary_csv",
    "write_pareto_md",
    "write_leaderboard",
    "write_study_reports",
    "summary_file_name",
]

#: (column, episode metric) averaged per cell, after the throughput columns.
_MEAN_COLUMNS = (
    ("on_time_rate", "on_time_rate"),
    ("turnaround_p95_s", "turnaround_p95_s"),
    ("violations", "violations_total"),
    ("blocked", "blocked"),
    ("comm.p95_latency_ms", "comm.p95_latency_ms"),
    ("comm.drop_rate", "comm.drop_rate"),
    ("comm.partition_events", "comm.partition_events"),
    ("coordination.stale_action_rate", "coordination.stale_action_rate"),
)
SUMMARY_COLUMNS = (
    "cell_id",
    "task",
    "scale",
    "method",
    "injection",
    "status",
    "episodes",
    "seed",
    "throughput_mean",
    "throughput_ci95_low",
    "throughput_ci95_high",
    *(c for c, _ in _MEAN_COLUMNS),
    "resilience_score",
    "injection_effect",
    "changed_episodes",
)
#: The per-episode digest of what happened (preferred first).
_HISTORY_KEYS = ("audit_head_hash", "episode_log_sha256")
LEADERBOARD_COLUMNS = (
    "task",
    "scale",
    "rank",
    "method",
    "throughput_mean",
    "throughput_ci95_low",
    "throughput_ci95_high",
    "nominal_throughput_mean",
    "nominal_ci95_low",
    "nominal_ci95_high",
    "on_time_rate",
    "turnaround_p95_s",
    "violations",
    "blocked",
    "resilience_mean",
    "resilience_min",
    "worst_injection",
    "cells",
    "episodes",
)
#: Episode metrics pooled over a method's cells (leaderboard, Pareto view).
_POOLED = ("throughput", "on_time_rate", "turnaround_p95_s", "violations_total", "blocked")


def summary_file_name(coordination: bool) -> str:
    return "summary_coord.csv" if coordination else "summary.csv"


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return None if isinstance(v, float) and math.isnan(v) else float(v)


def study_rows(out_dir: Path | str, entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per cell entry (``cell_id``, ``fingerprint``, ``task``, ``scale``,
    ``method``, ``injection``, ``episodes``, ``seed``: the manifest's cell records), with
    the summary columns and, under ``"_values"``, the per-episode values of the pooled
    metrics (for pooled CIs)."""
    from labtrust_gym.studies.cell_files import load_cell_doc, read_error

    rows: list[dict[str, Any]] = []
    for e in entries:
        row: dict[str, Any] = {k: e.get(k) for k in ("cell_id", "task", "scale", "method")}
        row["injection"] = e.get("injection")
        doc = load_cell_doc(out_dir, e["cell_id"], e["fingerprint"])
        row["seed"] = e.get("seed")
        row["_values"] = {m: [] for m in _POOLED}
        row["_history"] = {}
        if doc is None:
            row["status"] = "failed" if read_error(out_dir, e["cell_id"]) else "pending"
            row["episodes"] = 0
            for c in SUMMARY_COLUMNS:
                row.setdefault(c, None)
            rows.append(row)
            continue
        eps = doc["results"]["episodes"]
        summ = summarize_episodes(eps)
        row["status"] = "ok"
        row["episodes"] = len(eps)
        thr = summ.get("throughput") or mean_ci95([])
        row["throughput_mean"] = thr["mean"]
        row["throughput_ci95_low"] = thr["ci95_low"]
        row["throughput_ci95_high"] = thr["ci95_high"]
        for col, metric in _MEAN_COLUMNS:
            row[col] = (summ.get(metric) or {}).get("mean")
        for m in _POOLED:
            row["_values"][m] = [
                x for x in (_num(ep["metrics"].get(m)) for ep in eps) if x is not None
            ]
        row["_history"] = {
            ep.get("seed"): h for ep in eps if (h := _history(ep.get("metrics") or {}))
        }
        rows.append(row)
    _add_resilience(rows)
    _add_effects(rows)
    return rows


def _history(metrics: dict[str, Any]) -> str | None:
    for k in _HISTORY_KEYS:
        v = metrics.get(k)
        if isinstance(v, str) and v:
            return f"{k}:{v}"
    return None


def _add_effects(rows: list[dict[str, Any]]) -> None:
    """``injection_effect`` / ``changed_episodes`` against the paired nominal cell."""
    nominal = {
        (r["task"], r["scale"], r["method"]): r["_history"]
        for r in rows
        if r["injection"] == NO_INJECTION and r["status"] == "ok"
    }
    for r in rows:
        r["injection_effect"] = None
        r["changed_episodes"] = None
        if r["injection"] == NO_INJECTION or r["status"] != "ok":
            continue
        base = nominal.get((r["task"], r["scale"], r["method"]))
        if not base:
            continue
        paired = [s for s in r["_history"] if s in base]
        if not paired:
            continue
        changed = sum(1 for s in paired if r["_history"][s] != base[s])
        r["injection_effect"] = "yes" if changed else "no"
        r["changed_episodes"] = f"{changed}/{len(paired)}"


def no_effect_cells(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The injected cells whose every paired episode equals its nominal episode."""
    return [r for r in rows if r.get("injection_effect") == "no"]


def _add_resilience(rows: list[dict[str, Any]]) -> None:
    nominal = {
        (r["task"], r["scale"], r["method"]): r["throughput_mean"]
        for r in rows
        if r["injection"] == NO_INJECTION and r["status"] == "ok"
    }
    for r in rows:
        base = nominal.get((r["task"], r["scale"], r["method"]))
        thr = r.get("throughput_mean")
        r["resilience_score"] = thr / base if thr is not None and base else None


def load_study(run_dir: Path | str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The manifest and the rows (:func:`study_rows`) of a study directory."""
    from labtrust_gym.studies.cell_files import MANIFEST_FILE, MANIFEST_SCHEMA

    d = Path(run_dir)
    path = d / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no study manifest; give the --out directory of run-study or "
            "run-coordination-study"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("schema_version") != MANIFEST_SCHEMA:
        raise ConfigError(f"{path}: not a study manifest ({MANIFEST_SCHEMA})")
    return manifest, study_rows(d, manifest["cells"])


def _groups(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault((r["task"], r["scale"]), []).append(r)
    return out


def method_stats(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Per (task, scale): one record per method with finished cells, pooled over its cells
    (every episode one value), ranked (see the module docstring)."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for key, grp in _groups(rows).items():
        methods: list[str] = []
        for r in grp:
            if r["method"] not in methods:
                methods.append(r["method"])
        recs = []
        for m in methods:
            mine = [r for r in grp if r["method"] == m and r["status"] == "ok"]
            if not mine:
                continue
            pooled = {k: [v for r in mine for v in r["_values"][k]] for k in _POOLED}
            thr = mean_ci95(pooled["throughput"])
            nominal = next((r for r in mine if r["injection"] == NO_INJECTION), None)
            injected = [
                r
                for r in mine
                if r["injection"] != NO_INJECTION and r["resilience_score"] is not None
            ]
            worst = min(
                injected, key=lambda r: (r["resilience_score"], r["injection"]), default=None
            )
            recs.append(
                {
                    "task": key[0],
                    "scale": key[1],
                    "method": m,
                    "throughput_mean": thr["mean"],
                    "throughput_ci95_low": thr["ci95_low"],
                    "throughput_ci95_high": thr["ci95_high"],
                    "nominal_throughput_mean": nominal["throughput_mean"] if nominal else None,
                    "nominal_ci95_low": nominal["throughput_ci95_low"] if nominal else None,
                    "nominal_ci95_high": nominal["throughput_ci95_high"] if nominal else None,
                    "on_time_rate": mean_ci95(pooled["on_time_rate"])["mean"],
                    "turnaround_p95_s": mean_ci95(pooled["turnaround_p95_s"])["mean"],
                    "violations": mean_ci95(pooled["violations_total"])["mean"],
                    "blocked": mean_ci95(pooled["blocked"])["mean"],
                    "resilience_mean": (
                        sum(r["resilience_score"] for r in injected) / len(injected)
                        if injected
                        else None
                    ),
                    "resilience_min": worst["resilience_score"] if worst else None,
                    "worst_injection": worst["injection"] if worst else None,
                    "cells": len(mine),
                    "episodes": sum(r["episodes"] for r in mine),
                }
            )
        recs.sort(
            key=lambda s: (
                -(s["throughput_mean"] if s["throughput_mean"] is not None else -math.inf),
                s["violations"] if s["violations"] is not None else math.inf,
                s["blocked"] if s["blocked"] is not None else math.inf,
                s["method"],
            )
        )
        for i, s in enumerate(recs, 1):
            s["rank"] = i
        out[key] = recs
    return out


def pareto_front(points: Sequence[tuple[str, float | None, float | None]]) -> list[str]:
    """Ids of the non-dominated ``(id, benefit, cost)`` points: no other point has at least
    the benefit at no more cost and is strictly better in one (points with a missing
    value are left out)."""
    pts = [(i, b, c) for i, b, c in points if b is not None and c is not None]
    front = []
    for i, b, c in pts:
        dominated = any((b2 >= b and c2 <= c) and (b2 > b or c2 < c) for j, b2, c2 in pts if j != i)
        if not dominated:
            front.append(i)
    return front


def _f(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def _ci(mean: Any, lo: Any, hi: Any) -> str:
    if mean is None:
        return "-"
    if lo is None:
        return f"{_f(mean)} (n=1, no CI)"
    return f"{_f(mean)} [{_f(lo)}, {_f(hi)}]"


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return round(v, 6)
    return v


def write_summary_csv(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(SUMMARY_COLUMNS)
    for r in rows:
        w.writerow([_csv_value(r.get(c)) for c in SUMMARY_COLUMNS])
    atomic_write_text(path, buf.getvalue())
    return path


def _group_title(key: tuple[str, str], tasks: set[str]) -> str:
    return key[1] if len(tasks) == 1 else f"{key[0]} / {key[1]}"


def _missing_note(rows: Sequence[dict[str, Any]]) -> list[str]:
    bad = [r for r in rows if r["status"] != "ok"]
    if not bad:
        return []
    return [
        f"**Partial study:** {len(bad)} of {len(rows)} cells have no results "
        f"({', '.join(sorted({r['status'] for r in bad}))}); they are left out below.",
        "",
    ]


def _no_effect_note(rows: Sequence[dict[str, Any]]) -> list[str]:
    flat = no_effect_cells(rows)
    judged = [r for r in rows if r.get("injection_effect") is not None]
    if not judged:
        return []
    if not flat:
        return [
            f"Every injected cell ({len(judged)}) changed what happened in at least one "
            "episode against its paired nominal episode.",
            "",
        ]
    lines = [
        f"**Injections with no observable effect:** {len(flat)} of {len(judged)} injected "
        "cells ran exactly as their paired nominal episodes (same audit chain head in "
        "every episode): the injection never touched the run. Their resilience of 1.0 "
        "means nothing. For message poisoning this is the expected outcome (the bus "
        "refuses every forged envelope before any agent sees it); for network and device "
        "injections it means the scenario did not exercise them.",
        "",
        "| scale | method | injection | episodes |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['scale']} | {r['method']} | {r['injection']} | {r['changed_episodes']} changed |"
        for r in flat
    ]
    lines.append("")
    return lines


def write_pareto_md(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    stats = method_stats(rows)
    tasks = {k[0] for k in stats}
    lines = [
        "# Pareto view: throughput against violations and blocked actions",
        "",
        "Per scale, each method's means over all its cells at that scale (every injection "
        "condition, each episode one value). A method is on a frontier when no other method "
        "has at least its throughput with no more violations (blocked actions) and is "
        "strictly better in one of the two. Throughput: results released per episode.",
        "",
        *_missing_note(rows),
    ]
    for key, recs in stats.items():
        fv = pareto_front([(s["method"], s["throughput_mean"], s["violations"]) for s in recs])
        fb = pareto_front([(s["method"], s["throughput_mean"], s["blocked"]) for s in recs])
        lines += [
            f"## {_group_title(key, tasks)}",
            "",
            f"- Frontier, throughput vs violations: {', '.join(fv) or '-'}",
            f"- Frontier, throughput vs blocked: {', '.join(fb) or '-'}",
            "",
            "| method | throughput | violations | blocked | on violations frontier "
            "| on blocked frontier |",
            "|---|---|---|---|---|---|",
        ]
        for s in recs:
            lines.append(
                f"| {s['method']} | {_f(s['throughput_mean'])} | {_f(s['violations'])} | "
                f"{_f(s['blocked'])} | {'yes' if s['method'] in fv else 'no'} | "
                f"{'yes' if s['method'] in fb else 'no'} |"
            )
        lines.append("")
    atomic_write_text(path, "\n".join(lines))
    return path


def write_leaderboard(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    stats = method_stats(rows)
    tasks = {k[0] for k in stats}
    csv_path = out_dir / "leaderboard.csv"
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(LEADERBOARD_COLUMNS)
    for recs in stats.values():
        for s in recs:
            w.writerow([_csv_value(s.get(c)) for c in LEADERBOARD_COLUMNS])
    atomic_write_text(csv_path, buf.getvalue())
    lines = [
        "# Leaderboard",
        "",
        "Methods per scale, ranked by mean throughput (results released per episode) over all "
        "their cells at that scale, every injection condition included; ties go to fewer "
        "violations, then fewer blocked actions. Brackets: Student-t 95% confidence "
        "interval over episodes. Nominal: the cell without injection. Resilience: throughput "
        "under an injection over the same method's nominal throughput (mean over the "
        "injections, and the worst one).",
        "",
        *_missing_note(rows),
        *_no_effect_note(rows),
    ]
    for key, recs in stats.items():
        lines += [
            f"## {_group_title(key, tasks)}",
            "",
            "| rank | method | throughput [95% CI] | nominal throughput [95% CI] | on-time "
            "| TAT p95 s | violations | blocked | resilience mean | worst injection "
            "| episodes |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in recs:
            worst = (
                f"{s['worst_injection']} ({_f(s['resilience_min'])})"
                if s["worst_injection"]
                else "-"
            )
            on_time = "-" if s["on_time_rate"] is None else f"{100 * s['on_time_rate']:.1f}%"
            pooled = _ci(s["throughput_mean"], s["throughput_ci95_low"], s["throughput_ci95_high"])
            nominal = _ci(
                s["nominal_throughput_mean"], s["nominal_ci95_low"], s["nominal_ci95_high"]
            )
            lines.append(
                f"| {s['rank']} | {s['method']} | {pooled} | {nominal}"
                f" | {on_time} | {_f(s['turnaround_p95_s'], 4)} | {_f(s['violations'])} | "
                f"{_f(s['blocked'])} | {_f(s['resilience_mean'])} | {worst} | {s['episodes']} |"
            )
        lines.append("")
    md_path = out_dir / "leaderboard.md"
    atomic_write_text(md_path, "\n".join(lines))
    return [md_path, csv_path]


def write_study_reports(spec: StudySpec, out_dir: Path | str, cells: Sequence[Any]) -> list[Path]:
    """Write the summary CSV, ``pareto.md`` and the leaderboard for the spec's cells."""
    out = Path(out_dir)
    entries = [
        {
            "cell_id": c.cell_id,
            "fingerprint": c.fingerprint,
            "task": c.task,
            "scale": c.scale_label,
            "method": c.method,
            "injection": c.injection,
            "seed": c.seed,
        }
        for c in cells
    ]
    rows = study_rows(out, entries)
    paths = [write_summary_csv(rows, out / summary_file_name(spec.is_coordination))]
    paths.append(write_pareto_md(rows, out / "pareto.md"))
    paths += write_leaderboard(rows, out)
    return paths
