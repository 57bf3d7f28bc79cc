"""Improvement-run and knowledge views, read from the orchestrator's on-disk format
(``docs/improve.md``, "On-disk format"): the SQLite store opened read-only
(``file:…?mode=ro``), ``events.jsonl``, ``candidates/<hash>.md``, ``manifest.json`` and
the knowledge pages.

Routes (added to the app by :func:`add_routes`):

* ``GET /api/improve/{id}``: run status, cycles and decisions, the candidates' lineage
  with each candidate's diff against its parent, gate results (per-task paired deltas,
  vetoes), proposals (denied ones with their rule), budget use against the
  constitution, approvals given and pending;
* ``GET /api/improve/{id}/events?after=SEQ&limit=N``: the events with ``seq > SEQ``
  (polling cursor; ``next`` is the cursor to send next), with the chain checked over the
  whole file (``chain_ok``);
* ``POST /api/improve/{id}/approve`` (only with ``allow_approve``; 403 otherwise):
  records an approval through the orchestrator's own
  :func:`labtrust_gym.improve.loop.approve`, which refuses a subject nothing waits on;
* ``GET /api/knowledge/{id}``: a page's front matter (status, provenance) and body.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from labtrust_gym.dashboard.index import DashboardIndex, Entry
from labtrust_gym.errors import ConfigError

__all__ = ["add_routes", "improve_run_view", "read_events_after", "knowledge_page"]

_HASH = re.compile(r"^[0-9a-f]{16}$")
_GENESIS = "0" * 64
MAX_EVENTS_PER_POLL = 1000


def _connect(store: Path) -> sqlite3.Connection:
    if not store.is_file():
        raise ConfigError(f"{store}: no store.sqlite in this improvement run")
    con = sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    con.row_factory = sqlite3.Row
    return con


def _rows(con: sqlite3.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in con.execute(sql, args).fetchall()]


def _json(text: Any, default: Any) -> Any:
    if not isinstance(text, str):
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def read_events_after(
    run_dir: Path, after: int, limit: int = MAX_EVENTS_PER_POLL
) -> dict[str, Any]:
    """Events with ``seq > after`` (at most ``limit``), the whole file's chain checked:
    each line's ``hash`` recomputed (canonical JSON without ``hash`` and ``ts``), ``seq``
    consecutive and ``prev_hash`` the previous line's hash. A torn last line (a writer
    mid-append) is not returned and not judged: the next poll reads it whole."""
    path = run_dir / "events.jsonl"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {"events": [], "next": after, "total": 0, "chain_ok": True, "problems": []}
    if not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
    events: list[dict[str, Any]] = []
    problems: list[str] = []
    prev = _GENESIS
    n = 0
    for lineno, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            doc = json.loads(raw)
        except ValueError:
            problems.append(f"line {lineno}: not JSON")
            prev = "?"
            continue
        if not isinstance(doc, dict):
            problems.append(f"line {lineno}: not an object")
            continue
        body = {k: v for k, v in doc.items() if k not in ("hash", "ts")}
        if hashlib.sha256(_canonical(body)).hexdigest() != doc.get("hash"):
            problems.append(f"line {lineno}: hash does not match the line")
        if doc.get("prev_hash") != prev:
            problems.append(f"line {lineno}: prev_hash is not the previous line's hash")
        if doc.get("seq") != n:
            problems.append(f"line {lineno}: seq {doc.get('seq')}, expected {n}")
        prev = str(doc.get("hash"))
        n += 1
        seq = doc.get("seq")
        if isinstance(seq, int) and seq > after and len(events) < limit:
            events.append(doc)
    nxt = events[-1]["seq"] if events else after
    return {
        "events": events,
        "next": nxt,
        "total": n,
        "chain_ok": not problems,
        "problems": problems[:20],
    }


def _diff(run_dir: Path, parent: str | None, child: str) -> str | None:
    def text(h: str) -> list[str] | None:
        if not _HASH.match(h):
            return None
        try:
            return (run_dir / "candidates" / f"{h}.md").read_text(encoding="utf-8").splitlines()
        except OSError:
            return None

    new = text(child)
    if new is None:
        return None
    old = text(parent) if parent else []
    if old is None:
        old = []
    return "\n".join(
        difflib.unified_diff(old, new, f"{parent or 'nothing'}.md", f"{child}.md", n=1, lineterm="")
    )


def _ts(s: Any) -> datetime | None:
    if not isinstance(s, str):
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


def improve_run_view(run_dir: Path) -> dict[str, Any]:
    """Everything the improvement-run page shows except the event stream."""
    try:
        manifest = json.loads((run_dir / "manifest.json").read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{run_dir / 'manifest.json'}: unreadable ({exc})") from None
    run_id = manifest.get("run_id")
    con = _connect(run_dir / "store.sqlite")
    try:
        run = _rows(con, "SELECT * FROM runs WHERE run_id = ?", run_id)
        cycles = _rows(con, "SELECT * FROM cycles WHERE run_id = ? ORDER BY cycle", run_id)
        cands = _rows(con, "SELECT * FROM candidates WHERE run_id = ? ORDER BY cycle, hash", run_id)
        gates = _rows(con, "SELECT * FROM gate_results WHERE run_id = ? ORDER BY cycle", run_id)
        props = _rows(con, "SELECT * FROM proposals WHERE run_id = ? ORDER BY cycle, idx", run_id)
        approvals = _rows(con, "SELECT * FROM approvals WHERE run_id = ? ORDER BY cycle", run_id)
        jobs = _rows(
            con,
            "SELECT cycle, stage, status, attempt, started_ts, finished_ts FROM jobs "
            "WHERE run_id = ? ORDER BY cycle, started_ts",
            run_id,
        )
        ep_rows = _rows(
            con,
            "SELECT cycle, split, role, COUNT(*) AS n FROM evals WHERE run_id = ? "
            "GROUP BY cycle, split, role ORDER BY cycle",
            run_id,
        )
        collect = _rows(
            con,
            "SELECT cycle, output_json FROM jobs WHERE run_id = ? AND stage = 'collect' "
            "AND status = 'done'",
            run_id,
        )
    finally:
        con.close()
    for g in gates:
        g["per_task"] = _json(g.pop("per_task_json"), {})
        g["vetoes"] = _json(g.pop("vetoes_json"), [])
    for p in props:
        p["proposal"] = _json(p.pop("proposal_json"), {})
    by_hash = {c["hash"]: c for c in cands}
    champion = next((c["hash"] for c in cands if c["is_champion"]), None)
    lineage: list[str] = []
    h = champion
    while h is not None and h in by_hash and h not in lineage:
        lineage.append(h)
        h = by_hash[h]["parent"]
    for c in cands:
        c["diff"] = _diff(run_dir, c["parent"], c["hash"])
        c["in_lineage"] = c["hash"] in lineage
    approved = {(a["candidate"]) for a in approvals}
    pending = [
        {
            "cycle": c["cycle"],
            "decision": c["decision"],
            "subject": c["candidate"] or f"cycle-{c['cycle']}",
            "reason": c["decision_reason"],
        }
        for c in cycles
        if c["status"] == "awaiting_approval"
        and (c["candidate"] or f"cycle-{c['cycle']}") not in approved
    ]
    const = (manifest.get("constitution") or {}).get("document") or {}
    budgets = const.get("budgets") or {}
    eps_per_cycle: dict[int, int] = {}
    for r in ep_rows:
        if r["split"] == "valid_seen":
            eps_per_cycle[r["cycle"]] = eps_per_cycle.get(r["cycle"], 0) + int(r["n"])
    for r in collect:
        out = _json(r["output_json"], {})
        res = out.get("results") if isinstance(out, dict) else None
        if isinstance(res, list):
            eps_per_cycle[r["cycle"]] = eps_per_cycle.get(r["cycle"], 0) + len(res)
    starts = [t for j in jobs if (t := _ts(j["started_ts"]))]
    ends = [t for j in jobs if (t := _ts(j["finished_ts"]))]
    wall = (max(ends) - min(starts)).total_seconds() if starts and ends else None
    llm_props = sum(1 for p in props if p["source"] == "llm")
    cycles_done = sum(1 for c in cycles if c["status"] == "done")
    budget = [
        {
            "budget": "cycles",
            "used": len(cycles),
            "config": (manifest.get("config") or {}).get("cycles"),
            "limit": budgets.get("cycles"),
            "source": "cycles table",
        },
        {
            "budget": "episodes_per_cycle",
            "used": max(eps_per_cycle.values(), default=0),
            "limit": budgets.get("episodes_per_cycle"),
            "source": "collect results + selection evals, the largest cycle",
        },
        {
            "budget": "wall_time_s",
            "used": round(wall, 1) if wall is not None else None,
            "limit": budgets.get("wall_time_s"),
            "source": "first job start to last job end",
        },
        {
            "budget": "llm_calls",
            "used": llm_props,
            "limit": budgets.get("llm_calls"),
            "source": "proposals from the LLM proposer",
        },
    ]
    return {
        "run_id": run_id,
        "run": run[0] if run else None,
        "config": manifest.get("config"),
        "constitution": {
            k: (manifest.get("constitution") or {}).get(k) for k in ("version", "hash", "source")
        },
        "champion": champion,
        "lineage": lineage,
        "cycles": cycles,
        "cycles_done": cycles_done,
        "candidates": cands,
        "gates": gates,
        "proposals": props,
        "approvals": approvals,
        "pending_approvals": pending,
        "budget": budget,
        "episodes_per_cycle": {str(k): v for k, v in sorted(eps_per_cycle.items())},
        "jobs": jobs,
    }


def knowledge_page(path: Path) -> dict[str, Any]:
    from labtrust_gym.dashboard.improve_index import read_front_matter

    fm = read_front_matter(path)
    if fm is None:
        raise ConfigError(f"{path.name}: no longer a knowledge page (front matter)")
    meta, body = fm
    return {"front_matter": json.loads(json.dumps(meta, default=str)), "body": body}


def add_routes(
    app: Any, index: DashboardIndex, entry: Callable[[str, str], Entry], *, allow_approve: bool
) -> None:
    from fastapi import Body, HTTPException

    @app.get("/api/improve/{ident}")
    def _run(ident: str) -> dict[str, Any]:
        e = entry(ident, "improve")
        return {
            "id": e.id,
            "rel": e.rel,
            "allow_approve": allow_approve,
            **improve_run_view(index.path(e)),
        }

    @app.get("/api/improve/{ident}/events")
    def _events(ident: str, after: int = -1, limit: int = MAX_EVENTS_PER_POLL) -> dict[str, Any]:
        e = entry(ident, "improve")
        return read_events_after(index.path(e), after, max(1, min(limit, MAX_EVENTS_PER_POLL)))

    @app.post("/api/improve/{ident}/approve")
    def _approve(ident: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008 - FastAPI's idiom
        if not allow_approve:
            raise HTTPException(403, "approvals are off: start the dashboard with --allow-approve")
        e = entry(ident, "improve")
        subject = body.get("subject")
        approver = body.get("approver") or "dashboard"
        note = body.get("note") or ""
        if not isinstance(subject, str) or not (
            _HASH.match(subject) or re.match(r"^cycle-\d+$", subject)
        ):
            raise HTTPException(
                422, "subject: give the candidate hash (16 hex) or cycle-N waiting for approval"
            )
        if (
            not isinstance(approver, str)
            or not isinstance(note, str)
            or len(approver) > 100
            or len(note) > 2000
        ):
            raise HTTPException(422, "approver and note: strings (at most 100 and 2000 characters)")
        from labtrust_gym.improve.loop import approve

        try:
            approve(index.path(e), subject, approver=approver, note=note)
        except ConfigError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"approved": subject, "approver": approver}

    @app.get("/api/knowledge/{ident}")
    def _page(ident: str) -> dict[str, Any]:
        e = entry(ident, "knowledge")
        return {"id": e.id, "rel": e.rel, **knowledge_page(index.path(e))}
