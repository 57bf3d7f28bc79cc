"""Data of the runs, study and evidence views, built from indexed artefacts.

Every number comes from the package's own readers: results documents as written by the
runner, :func:`labtrust_gym.studies.report.load_study` and ``method_stats`` /
``pareto_front`` for studies (the same figures as ``leaderboard.md`` and ``pareto.md``),
and :func:`labtrust_gym.evidence.verify.verify_bundle` for bundles.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from labtrust_gym.dashboard.index import DashboardIndex, Entry, entry_id
from labtrust_gym.errors import ConfigError

__all__ = ["run_detail", "compare_runs", "study_view", "bundle_checks"]


def _clean(v: Any) -> Any:
    """JSON-safe: NaN and infinities become None."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def _results_doc(index: DashboardIndex, e: Entry) -> dict[str, Any]:
    p = index.path(e)
    try:
        doc = json.loads(p.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{e.rel}: cannot read the results ({exc})") from None
    if isinstance(doc, dict) and isinstance(doc.get("results"), dict):
        doc = doc["results"]  # a study cell file
    if not isinstance(doc, dict):
        raise ConfigError(f"{e.rel}: not a results document")
    return doc


def run_detail(index: DashboardIndex, e: Entry) -> dict[str, Any]:
    """A run's header fields, summary with CIs, and its episodes with their log ids."""
    doc = _results_doc(index, e)
    eps = []
    ep_ids = e.meta.get("episode_ids") or []
    for i, ep in enumerate(doc.get("episodes") or []):
        m = ep.get("metrics") or {}
        eps.append(
            {
                "episode": ep.get("episode", i),
                "seed": ep.get("seed"),
                "episode_id": ep_ids[i] if i < len(ep_ids) else None,
                "metrics": {k: v for k, v in m.items() if isinstance(v, (int, float)) or v is None},
            }
        )
    head = {
        k: doc.get(k)
        for k in (
            "task",
            "controller",
            "coord_method",
            "injection",
            "seed",
            "timing_mode",
            "max_steps",
            "dt_s",
            "num_agents",
            "policy_fingerprint",
            "lab_profile",
            "package_version",
            "domain_id",
        )
    }
    return _clean(
        {
            "id": e.id,
            "rel": e.rel,
            "meta": e.meta,
            "header": head,
            "plugins": doc.get("plugins") or [],
            "summary": {
                k: v
                for k, v in (doc.get("summary") or {}).items()
                if isinstance(v, dict) and "mean" in v
            },
            "episodes": eps,
        }
    )


def compare_runs(index: DashboardIndex, a: Entry, b: Entry) -> dict[str, Any]:
    """Two runs side by side: every summary metric either has, with the difference of
    the means."""
    da, db = run_detail(index, a), run_detail(index, b)
    keys = sorted(set(da["summary"]) | set(db["summary"]))
    rows = []
    for k in keys:
        x, y = da["summary"].get(k), db["summary"].get(k)
        mx = x.get("mean") if x else None
        my = y.get("mean") if y else None
        delta = my - mx if isinstance(mx, (int, float)) and isinstance(my, (int, float)) else None
        rows.append({"metric": k, "a": x, "b": y, "delta": delta})
    return _clean(
        {
            "a": {"id": a.id, "rel": a.rel, "header": da["header"]},
            "b": {"id": b.id, "rel": b.rel, "header": db["header"]},
            "metrics": rows,
        }
    )


def study_view(index: DashboardIndex, e: Entry) -> dict[str, Any]:
    """Cells, leaderboard (with CIs), Pareto points and frontiers, and the resilience
    heat map per (task, scale), each cell linked to its results' run id."""
    from labtrust_gym.studies.report import load_study, method_stats, pareto_front

    d = index.path(e)
    manifest, rows = load_study(d)
    cells = []
    for r in rows:
        rel = (Path(e.rel) / "cells" / str(r["cell_id"]) / "results.json").as_posix()
        if e.rel == ".":
            rel = f"cells/{r['cell_id']}/results.json"
        rid = entry_id("run", rel)
        cells.append(
            {k: v for k, v in r.items() if not k.startswith("_")}
            | {"run_id": rid if r["status"] == "ok" and index.get(rid, "run") else None}
        )
    groups = []
    for (task, scale), recs in method_stats(rows).items():
        fv = pareto_front([(s["method"], s["throughput_mean"], s["violations"]) for s in recs])
        fb = pareto_front([(s["method"], s["throughput_mean"], s["blocked"]) for s in recs])
        mine = [c for c in cells if c["task"] == task and c["scale"] == scale]
        methods = list(dict.fromkeys(c["method"] for c in mine))
        injections = list(dict.fromkeys(c["injection"] for c in mine))
        heat = [
            [
                next(
                    (
                        {
                            "cell_id": c["cell_id"],
                            "resilience": c["resilience_score"],
                            "effect": c["injection_effect"],
                            "changed": c["changed_episodes"],
                            "throughput": c["throughput_mean"],
                            "status": c["status"],
                            "run_id": c["run_id"],
                        }
                        for c in mine
                        if c["method"] == m and c["injection"] == inj
                    ),
                    None,
                )
                for inj in injections
            ]
            for m in methods
        ]
        groups.append(
            {
                "task": task,
                "scale": scale,
                "leaderboard": recs,
                "frontier_violations": fv,
                "frontier_blocked": fb,
                "methods": methods,
                "injections": injections,
                "heatmap": heat,
            }
        )
    return _clean(
        {
            "id": e.id,
            "rel": e.rel,
            "study_id": (manifest.get("spec") or {}).get("study_id"),
            "status": manifest.get("status"),
            "cells": cells,
            "groups": groups,
            "no_effect": [c["cell_id"] for c in cells if c.get("injection_effect") == "no"],
        }
    )


def bundle_checks(
    index: DashboardIndex, e: Entry, trusted_key: bytes | None = None
) -> dict[str, Any]:
    """``verify-bundle``'s checks of the bundle, pass/fail/skip each. With ``trusted_key``
    (``labtrust dashboard --trusted-key``) the manifest and the logs must be signed by it;
    without one the signatures are checked against the keys the bundle names, which a
    SKIP line says."""
    from labtrust_gym.evidence.verify import verify_bundle

    rep = verify_bundle(index.path(e), trusted_key=trusted_key)
    d = rep.to_dict()
    d.update({"id": e.id, "rel": e.rel})
    return d
