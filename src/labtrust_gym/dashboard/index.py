"""The dashboard's index: every artefact under the root, each under an opaque id.

The server never takes a path from a request. It scans the root once (and again when
the index is older than its refresh interval), gives every artefact it recognises an id
derived from its path relative to the root (``run-…``, ``episode-…``, ``study-…``,
``bundle-…``, ``improve-…``, ``knowledge-…``), and a request names only such an id. A
file is indexed only when its resolved path lies inside the resolved root: a symlink that
leads out of the root is skipped, and directories reached through symlinks are not
walked. :func:`DashboardIndex.path` re-checks containment when a file is opened.

Recognised artefacts (by content, not by name):

* results documents (``labtrust.results.v0.1``) and study cell files
  (``labtrust.study_cell.v0.1``, whose ``results`` are a results document);
* episode logs (``labtrust.episode_log.v1``: the first line's ``format``), linked to the
  results that list them (``logs``);
* study directories (``study_manifest.json`` of ``labtrust.study_manifest.v0.1``);
* evidence bundles (``manifest.json`` of ``labtrust.evidence_bundle.v1``);
* improvement runs and knowledge pages of the orchestrator (:mod:`.improve_index`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from labtrust_gym.dashboard.entries import Entry, entry_id
from labtrust_gym.errors import ConfigError

__all__ = ["Entry", "DashboardIndex", "entry_id", "SKIP_DIRS"]

RESULTS_SCHEMA = "labtrust.results.v0.1"
CELL_SCHEMA = "labtrust.study_cell.v0.1"
STUDY_MANIFEST = "study_manifest.json"
STUDY_SCHEMA = "labtrust.study_manifest.v0.1"
BUNDLE_FORMAT = "labtrust.evidence_bundle.v1"
LOG_FORMAT = "labtrust.episode_log.v1"
#: Directories never walked (tooling, caches).
SKIP_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache"})
#: JSON files larger than this are not opened while indexing (results are small).
MAX_JSON_BYTES = 64 * 1024 * 1024
#: Bytes read from the start of a ``.jsonl`` file to recognise an episode log header.
_HEADER_PROBE = 1 << 20


def _inside(root: Path, p: Path) -> bool:
    try:
        p.resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return True


def _read_json(p: Path) -> Any:
    try:
        if p.stat().st_size > MAX_JSON_BYTES:
            return None
        return json.loads(p.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


def _log_header(p: Path) -> dict[str, Any] | None:
    try:
        with p.open("rb") as fh:
            line = fh.readline(_HEADER_PROBE)
    except OSError:
        return None
    if not line.endswith(b"\n"):
        # headers bigger than the probe (huge initial states) are read whole
        try:
            with p.open("rb") as fh:
                line = fh.readline()
        except OSError:
            return None
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if isinstance(rec, dict) and rec.get("type") == "header" and rec.get("format") == LOG_FORMAT:
        return rec
    return None


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "throughput",
        "on_time_rate",
        "turnaround_p95_s",
        "violations_total",
        "blocked",
        "critical_violations",
    )
    out = {}
    for k in keys:
        v = summary.get(k)
        if isinstance(v, dict) and "mean" in v:
            out[k] = {f: v.get(f) for f in ("mean", "ci95_low", "ci95_high", "n")}
    return out


def _scale(doc: dict[str, Any]) -> str | None:
    sc = doc.get("scale_config")
    if not isinstance(sc, dict):
        return None
    if isinstance(sc.get("preset"), str):
        return str(sc["preset"])
    n = sc.get("num_agents_total")
    return f"{n} agents" if isinstance(n, int) else None


def run_meta(doc: dict[str, Any]) -> dict[str, Any]:
    """What the runs table shows of a results document."""
    plugins = doc.get("plugins") or []
    return {
        "task": doc.get("task"),
        "method": doc.get("coord_method") or doc.get("controller"),
        "controller": doc.get("controller"),
        "profile": doc.get("lab_profile"),
        "injection": doc.get("injection"),
        "seed": doc.get("seed"),
        "episodes": len(doc.get("episodes") or []),
        "plugins": sorted(
            str(p.get("distribution") or p.get("name") or p) if isinstance(p, dict) else str(p)
            for p in plugins
        ),
        "scale": _scale(doc),
        "metrics": _headline(doc.get("summary") or {}),
    }


class DashboardIndex:
    """The artefacts under ``root``; thread-safe, rebuilt when older than ``refresh_s``."""

    def __init__(self, root: Path | str, *, refresh_s: float = 5.0) -> None:
        r = Path(root)
        if not r.is_dir():
            raise ConfigError(f"dashboard root {r}: not a directory; give --root DIR")
        self.root = r.resolve()
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._built = -1e18
        self._scanning = False
        self.scan_s = 0.0

    # -- building -------------------------------------------------------------------
    def refresh(self, *, force: bool = False) -> None:
        """Rescan when the index is older than ``refresh_s``: in a background thread
        (requests keep the current index meanwhile), or now with ``force`` (the first
        build, an id the index does not hold yet; at most once a second)."""
        now = time.monotonic()
        if force:
            with self._lock:
                if now - self._built < 1.0:
                    return
            self._rescan()
            return
        if now - self._built < self.refresh_s:
            return
        with self._lock:
            if self._scanning:
                return
            self._scanning = True
        threading.Thread(target=self._rescan, name="dashboard-index", daemon=True).start()

    def _rescan(self) -> None:
        t0 = time.perf_counter()
        try:
            entries = self._scan()
        finally:
            with self._lock:
                self._scanning = False
        with self._lock:
            self._entries = entries
            self._built = time.monotonic()
            self.scan_s = time.perf_counter() - t0

    def _files(self) -> list[Path]:
        out: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            d = Path(dirpath)
            for name in sorted(filenames):
                p = d / name
                if p.is_symlink() and not _inside(self.root, p):
                    continue  # a link out of the root is never served
                out.append(p)
        return out

    def _rel(self, p: Path) -> str:
        return p.relative_to(self.root).as_posix()

    def _scan(self) -> dict[str, Entry]:
        from labtrust_gym.dashboard.improve_index import scan_improve

        entries: dict[str, Entry] = {}
        logs_by_name: dict[str, list[Path]] = {}
        results: list[tuple[Path, dict[str, Any], str | None, str | None]] = []
        files = self._files()
        for p in files:
            name = p.name
            if name.endswith(".jsonl") and not name.endswith(".sig.json"):
                hdr = _log_header(p)
                if hdr is not None:
                    logs_by_name.setdefault(name, []).append(p)
                continue
            if not name.endswith(".json") or name.endswith(".sig.json"):
                continue
            if name == STUDY_MANIFEST:
                doc = _read_json(p)
                if isinstance(doc, dict) and doc.get("schema_version") == STUDY_SCHEMA:
                    rel = self._rel(p.parent) or "."
                    e = Entry(
                        entry_id("study", rel),
                        "study",
                        rel,
                        {
                            "study_id": (doc.get("spec") or {}).get("study_id"),
                            "status": doc.get("status"),
                            "cells": len(doc.get("cells") or []),
                        },
                    )
                    entries[e.id] = e
                continue
            if name == "manifest.json":
                doc = _read_json(p)
                if isinstance(doc, dict) and doc.get("format") == BUNDLE_FORMAT:
                    rel = self._rel(p.parent) or "."
                    e = Entry(
                        entry_id("bundle", rel),
                        "bundle",
                        rel,
                        {
                            "runs": len(doc.get("runs") or []),
                            "package_version": doc.get("package_version"),
                        },
                    )
                    entries[e.id] = e
                continue
            doc = _read_json(p)
            if not isinstance(doc, dict):
                continue
            if doc.get("schema_version") == RESULTS_SCHEMA:
                results.append((p, doc, None, None))
            elif doc.get("schema_version") == CELL_SCHEMA and isinstance(doc.get("results"), dict):
                cell = doc.get("cell") or {}
                cid = cell.get("cell_id") if isinstance(cell, dict) else None
                scale = cell.get("scale") if isinstance(cell, dict) else None
                results.append((p, doc["results"], cid or p.parent.name, scale))
        for p, doc, cell_id, cell_scale in results:
            rel = self._rel(p)
            meta = run_meta(doc)
            meta["cell_id"] = cell_id
            if cell_scale:
                meta["scale"] = cell_scale
            rid = entry_id("run", rel)
            ep_ids = []
            for i, logname in enumerate(doc.get("logs") or []):
                lp = self._find_log(p, str(logname), logs_by_name)
                if lp is None:
                    continue
                lrel = self._rel(lp)
                eid = entry_id("episode", lrel)
                ep_ids.append(eid)
                entries[eid] = Entry(
                    eid, "episode", lrel, {"run": rid, "episode": i, "task": meta["task"]}
                )
            meta["episode_ids"] = ep_ids
            entries[rid] = Entry(rid, "run", rel, meta)
        # logs no results file lists are still episodes of their own
        for paths in logs_by_name.values():
            for lp in paths:
                lrel = self._rel(lp)
                eid = entry_id("episode", lrel)
                if eid not in entries:
                    entries[eid] = Entry(eid, "episode", lrel, {"run": None, "episode": None})
        for e in scan_improve(self.root, files):
            entries[e.id] = e
        return entries

    def _find_log(
        self, results_path: Path, logname: str, by_name: dict[str, list[Path]]
    ) -> Path | None:
        """The indexed log a results file names (``logs`` holds the paths as written at
        run time, relative to that run's working directory or absolute, so they are
        matched, not followed): among the logs of that file name, the one inside the
        results file's directory first, then the longest match of the recorded path's
        trailing parts, then the longest shared leading path with the results file."""
        cands = by_name.get(Path(logname).name) or []
        if not cands:
            return None
        want = Path(logname).parts
        home = results_path.parent

        def score(c: Path) -> tuple[int, int, int, str]:
            inside = 1 if c.is_relative_to(home) else 0
            suffix = 0
            for x, y in zip(reversed(c.parts), reversed(want), strict=False):
                if x != y:
                    break
                suffix += 1
            prefix = 0
            for x, y in zip(c.parts, home.parts, strict=False):
                if x != y:
                    break
                prefix += 1
            return (inside, suffix, prefix, str(c))

        return max(cands, key=score)

    # -- lookups --------------------------------------------------------------------
    def entries(self, kind: str | None = None) -> list[Entry]:
        if self._built < 0:  # never built
            self.refresh(force=True)
        self.refresh()
        with self._lock:
            es = list(self._entries.values())
        return sorted((e for e in es if kind is None or e.kind == kind), key=lambda e: e.rel)

    def get(self, ident: str, kind: str) -> Entry | None:
        """The entry ``ident`` of ``kind``, or None (an id the index does not hold)."""
        if self._built < 0:  # never built
            self.refresh(force=True)
        self.refresh()
        with self._lock:
            e = self._entries.get(ident)
        if e is None:
            # a new artefact may have appeared since the last scan
            self.refresh(force=True)
            with self._lock:
                e = self._entries.get(ident)
        return e if e is not None and e.kind == kind else None

    def path(self, entry: Entry) -> Path:
        """The entry's path, checked again to lie inside the root."""
        p = self.root / entry.rel
        if not _inside(self.root, p):
            raise ConfigError(f"{entry.rel}: resolves outside the dashboard root")
        return p
