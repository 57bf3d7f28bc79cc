"""``labtrust bench dashboard``: how fast the dashboard answers on realistic data.

Data (unless ``root`` is given): made with the package's own code in a temporary
directory — the default coordination study (``coord_default``: 105 cells) at a tiny
budget (one episode a cell, ``horizon_steps`` cut to ``study_steps``) run by the study
runner; an improvement run of ``improve_cycles`` cycles run by the orchestrator (the
bundled weak seed skill, one collect and one selection episode a cycle, a constitution
allowing that many cycles, plateaus never stopping it); one ``throughput_sla`` episode
with its log and an evidence bundle of it.

Measured, on a dashboard served by uvicorn on 127.0.0.1:

* API: each endpoint's first (cold) answer and the median of ``repeats`` more, over HTTP;
* pages: in Debian's chromium through Playwright (when both are installed), the time
  from navigation start to the view drawn, by the browser's clock (the page's
  ``view-drawn`` performance mark, set once every API call of the view has answered and
  its DOM is in the document), first load and median of ``repeats`` reloads; and the
  wall time around Playwright's navigation and wait (automation round trips included).
"""

from __future__ import annotations

import http.client
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["bench_dashboard", "make_bench_data", "CHROMIUM"]

CHROMIUM = "/usr/bin/chromium"


def _say(log: Callable[[str], None] | None, msg: str) -> None:
    if log is not None:
        log(msg)


def make_bench_data(
    root: Path,
    *,
    study_steps: int = 10,
    improve_cycles: int = 50,
    workers: int = 2,
    log: Callable[[str], None] | None = None,
) -> dict[str, float]:
    """Write the benchmark's data under ``root``; the seconds each part took."""
    import yaml

    from labtrust_gym.benchmarks.runner import run_benchmark
    from labtrust_gym.evidence.export import export_evidence
    from labtrust_gym.improve.config import load_config
    from labtrust_gym.improve.loop import start_run
    from labtrust_gym.paths import get_policy_dir
    from labtrust_gym.studies import load_study_spec, run_study

    took: dict[str, float] = {}
    pdir = get_policy_dir()
    t0 = time.perf_counter()
    run_benchmark("throughput_sla", 1, 0, log_dir=root / "run/logs", out=root / "run/results.json")
    export_evidence(root / "run", root / "bundle")
    took["run_and_bundle_s"] = time.perf_counter() - t0

    spec = yaml.safe_load((pdir / "studies/coord_default.v0.1.yaml").read_text(encoding="utf-8"))
    spec["study_id"] = "coord_default_tiny"
    spec["episodes_per_cell"] = 1
    spec["scales"] = [*spec["scales"], {"name": "horizon_steps", "values": [study_steps]}]
    (root / "specs").mkdir(parents=True, exist_ok=True)
    spec_path = root / "specs/coord_default_tiny.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    _say(log, f"study: coord_default at {study_steps} steps, 1 episode a cell ({workers} workers)")
    t0 = time.perf_counter()
    outcome = run_study(
        load_study_spec(spec_path), root / "study", executor="local", workers=workers
    )
    took["study_s"] = time.perf_counter() - t0
    if not outcome.complete:
        raise RuntimeError(f"the benchmark study did not complete: {outcome}")

    const = yaml.safe_load(
        (pdir / "improve/improve_constitution.v0.1.yaml").read_text(encoding="utf-8")
    )
    const["budgets"]["cycles"] = max(int(const["budgets"]["cycles"]), improve_cycles)
    (root / "specs/constitution.yaml").write_text(
        yaml.safe_dump(const, sort_keys=False), encoding="utf-8"
    )
    cfg = {
        "version": "0.1",
        "name": "bench",
        "seed": 3,
        "skill": "lab_team_weak_seed",
        "task_types": ["stat_insertion", "qc_cascade"],
        "constitution": str(root / "specs/constitution.yaml"),
        "cycles": improve_cycles,
        "collect_episodes": 1,
        "focus_episodes": 0,
        "selection_episodes": 1,
        "test_episodes": 0,
        "executor": {"kind": "inline"},
        "ladder": ["skill_rules", "skill_rules_wide", "optuna_params"],
        "gate": {"metric": "soft", "tolerance": 0.02, "min_delta": 0.0},
        "decide": {"rollback_threshold": 0.05, "plateau_cycles": improve_cycles + 1, "floor": -1.0},
    }
    cfg_path = root / "specs/improve.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    _say(log, f"improvement run: {improve_cycles} cycles")
    t0 = time.perf_counter()
    start_run(load_config(cfg_path), root / "improve")
    took["improve_s"] = time.perf_counter() - t0
    return {k: round(v, 1) for k, v in took.items()}


def _get(base: str, path: str) -> tuple[int, float, int]:
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=60)
    t0 = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    dt = time.perf_counter() - t0
    conn.close()
    return resp.status, dt, len(body)


def _pick(
    entries: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]
) -> dict[str, Any] | None:
    return max(entries, key=key) if entries else None


def bench_dashboard(
    root: Path | str | None = None,
    *,
    repeats: int = 5,
    study_steps: int = 10,
    improve_cycles: int = 50,
    workers: int = 2,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Make (or use) the data, serve it, and time the API and the pages."""
    import json

    from labtrust_gym.dashboard.index import DashboardIndex
    from labtrust_gym.dashboard.server import running_server

    tmp: Path | None = None
    made: dict[str, float] = {}
    if root is None:
        tmp = Path(tempfile.mkdtemp(prefix="labtrust_dash_bench_"))
        made = make_bench_data(
            tmp, study_steps=study_steps, improve_cycles=improve_cycles, workers=workers, log=log
        )
        root = tmp
    try:
        idx = DashboardIndex(root)
        t0 = time.perf_counter()
        idx.refresh(force=True)
        scan_s = time.perf_counter() - t0
        out: dict[str, Any] = {
            "root": str(root),
            "data_made_s": made,
            "index_scan_s": round(scan_s, 4),
            "entries": {},
            "api": [],
            "pages": [],
            "repeats": repeats,
        }
        with running_server(root, max_seconds=1800) as url:
            status, _, _ = _get(url, "/api/index")
            ents = json.loads(_body(url, "/api/index"))["entries"]
            out["entries"] = {k: len(v) for k, v in ents.items()}
            study = _pick(ents.get("study", []), lambda e: e["meta"].get("cells") or 0)
            imp = _pick(ents.get("improve", []), lambda e: e["meta"].get("cycles") or 0)
            eps = [e for e in ents.get("episode", []) if e["meta"].get("run")]
            run = _pick(ents.get("run", []), lambda e: len(e["meta"].get("episode_ids") or []))
            bundle = (ents.get("bundle") or [None])[0]
            know = (ents.get("knowledge") or [None])[0]
            paths: list[tuple[str, str]] = [
                ("index", "/api/index"),
                ("runs", "/api/runs"),
                ("labmap", "/api/labmap"),
            ]
            if run:
                paths.append(("run", f"/api/runs/{run['id']}"))
            if study:
                paths.append(
                    (f"study ({study['meta'].get('cells')} cells)", f"/api/studies/{study['id']}")
                )
            if eps:
                paths.append(("episode", f"/api/episodes/{eps[0]['id']}"))
                paths.append(
                    (
                        "episode states (engine re-run, then cached)",
                        f"/api/episodes/{eps[0]['id']}/states",
                    )
                )
            if imp:
                paths.append(
                    (
                        f"improvement run ({imp['meta'].get('cycles')} cycles)",
                        f"/api/improve/{imp['id']}",
                    )
                )
                paths.append(
                    ("improvement events, all", f"/api/improve/{imp['id']}/events?after=-1")
                )
                paths.append(
                    (
                        "improvement events, cursor at the end",
                        f"/api/improve/{imp['id']}/events?after=1000000",
                    )
                )
            if know:
                paths.append(("knowledge page", f"/api/knowledge/{know['id']}"))
            if bundle:
                paths.append(
                    (
                        "evidence bundle (verify-bundle, then cached by file stamps)",
                        f"/api/bundles/{bundle['id']}",
                    )
                )
            for name, p in paths:
                status, first, size = _get(url, p)
                if status != 200:
                    raise RuntimeError(f"{p}: HTTP {status}")
                times = [_get(url, p)[1] for _ in range(repeats)]
                out["api"].append(
                    {
                        "endpoint": name,
                        "path": p,
                        "bytes": size,
                        "first_ms": round(first * 1000, 1),
                        "median_ms": round(statistics.median(times) * 1000, 1),
                        "max_ms": round(max(times) * 1000, 1),
                    }
                )
            views = [("runs", "#/runs")]
            if study:
                views.append(
                    (f"study ({study['meta'].get('cells')} cells)", f"#/study/{study['id']}")
                )
            if imp:
                views.append(
                    (
                        f"improvement run ({imp['meta'].get('cycles')} cycles)",
                        f"#/improve/{imp['id']}",
                    )
                )
            if eps:
                views.append(("episode", f"#/episode/{eps[0]['id']}"))
            out["pages"], out["pages_note"] = _pages(url, views, repeats)
        return out
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _body(base: str, path: str) -> bytes:
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=60)
    conn.request("GET", path)
    body = conn.getresponse().read()
    conn.close()
    return body


def _pages(
    url: str, views: list[tuple[str, str]], repeats: int
) -> tuple[list[dict[str, Any]], str | None]:
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        return [], "playwright is not installed (pip install 'labtrust-gym[dev]'): pages not timed"
    if not Path(CHROMIUM).is_file():
        return [], f"{CHROMIUM} is missing (apt-get install -y chromium): pages not timed"
    rows = []
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            for name, h in views:
                drawn: list[float] = []
                wall: list[float] = []
                for _ in range(repeats + 1):
                    page.goto("about:blank")
                    t0 = time.perf_counter()
                    page.goto(f"{url}/{h}")
                    page.wait_for_selector("main[data-view]", timeout=60_000)
                    wall.append(time.perf_counter() - t0)
                    # the browser's own clock: navigation start to the view drawn
                    drawn.append(
                        page.evaluate(
                            "() => performance.getEntriesByName('view-drawn')[0].startTime"
                        )
                        / 1000
                    )
                rows.append(
                    {
                        "view": name,
                        "first_ms": round(drawn[0] * 1000, 1),
                        "median_ms": round(statistics.median(drawn[1:]) * 1000, 1),
                        "max_ms": round(max(drawn[1:]) * 1000, 1),
                        "wall_median_ms": round(statistics.median(wall[1:]) * 1000, 1),
                    }
                )
        finally:
            b.close()
    return rows, None
