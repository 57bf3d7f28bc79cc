"""The improvement-run and knowledge API on the orchestrator's own runs (``dash_root``'s
``improve/waiting`` and ``improve/finished``), checked against its store and files."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import waiting_candidate
from labtrust_gym.dashboard.app import create_app
from labtrust_gym.dashboard.index import DashboardIndex, entry_id

HOSTS = ("testserver",)


@pytest.fixture(scope="module")
def client(dash_root: Path) -> TestClient:
    return TestClient(create_app(DashboardIndex(dash_root), allowed_hosts=HOSTS))


def _get(c: TestClient, path: str) -> Any:
    r = c.get(path)
    assert r.status_code == 200, (path, r.text)
    return r.json()


def _sql(run: Path, q: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(f"{run.resolve().as_uri()}/store.sqlite?mode=ro", uri=True)
    try:
        return con.execute(q).fetchall()
    finally:
        con.close()


def test_finished_run_cycles_lineage_gates(client: TestClient, dash_root: Path) -> None:
    run = dash_root / "improve/finished"
    store = dash_root / "improve/finished/store.sqlite"
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    d = _get(client, f"/api/improve/{entry_id('improve', 'improve/finished')}")
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before  # read-only
    assert d["run"]["status"] == "completed"
    assert [c["decision"] for c in d["cycles"]] == ["promote", "rollback"]
    cand1 = d["cycles"][0]["candidate"]
    seed = d["cycles"][0]["champion_before"]
    assert d["champion"] == cand1 and d["lineage"] == [cand1, seed]
    (champ,) = _sql(run.parent / "finished", "SELECT hash FROM candidates WHERE is_champion = 1")
    assert champ[0] == cand1
    cands = {c["hash"]: c for c in d["candidates"]}
    rolled = d["cycles"][1]["candidate"]
    assert cands[rolled]["parent"] == cand1 and not cands[rolled]["in_lineage"]
    # each diff is against the parent's text, from the candidate files
    diff = cands[rolled]["diff"]
    assert f"--- {cand1}.md" in diff and "+- prop_doors_open" in diff
    assert cands[seed]["diff"].startswith("--- nothing.md")
    g1, g2 = d["gates"]
    assert g1["action"].startswith("accept") and g2["action"] == "vetoed"
    assert set(g2["per_task"]) == {"stat_insertion", "qc_cascade"}
    assert g2["vetoes"] and all("episode" in v and v["new"] for v in g2["vetoes"])
    rows = _sql(run, "SELECT cycle, mean_delta, ci95_low FROM gate_results ORDER BY cycle")
    assert [(g["cycle"], g["mean_delta"], g["ci95_low"]) for g in d["gates"]] == [
        tuple(r) for r in rows
    ]
    denied = [p for p in d["proposals"] if p["status"] == "rejected"]
    assert [(p["rule"], p["proposal"]["name"]) for p in denied] == [
        ("protected.path", "red-team-reason-codes")
    ]
    assert d["pending_approvals"] == []
    assert [(a["candidate"], a["approver"]) for a in d["approvals"]] == [(cand1, "tests")]
    budget = {b["budget"]: b for b in d["budget"]}
    assert budget["cycles"]["used"] == 2 and budget["cycles"]["limit"] == 12
    assert 0 < budget["episodes_per_cycle"]["used"] <= budget["episodes_per_cycle"]["limit"]


def test_waiting_run_lists_its_pending_approval(client: TestClient, dash_root: Path) -> None:
    d = _get(client, f"/api/improve/{entry_id('improve', 'improve/waiting')}")
    cand = waiting_candidate(dash_root / "improve/waiting")
    assert d["run"]["status"] == "awaiting_approval"
    assert [(p["subject"], p["decision"]) for p in d["pending_approvals"]] == [(cand, "promote")]
    assert d["allow_approve"] is False


def test_approval_only_with_allow_approve(dash_root: Path, tmp_path: Path) -> None:
    shutil.copytree(dash_root / "improve/waiting", tmp_path / "r/waiting")
    rid = entry_id("improve", "waiting")
    cand = waiting_candidate(tmp_path / "r/waiting")
    store = tmp_path / "r/waiting/store.sqlite"
    ro = TestClient(create_app(DashboardIndex(tmp_path / "r"), allowed_hosts=HOSTS))
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    r = ro.post(f"/api/improve/{rid}/approve", json={"subject": cand})
    assert r.status_code == 403 and "--allow-approve" in r.json()["detail"]
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before
    rw = TestClient(
        create_app(DashboardIndex(tmp_path / "r"), allow_approve=True, allowed_hosts=HOSTS)
    )
    assert rw.post(f"/api/improve/{rid}/approve", json={"subject": "../../x"}).status_code == 422
    r = rw.post(f"/api/improve/{rid}/approve", json={"subject": "0123456789abcdef"})
    assert r.status_code == 409 and cand in r.json()["detail"]  # the orchestrator refuses it
    r = rw.post(
        f"/api/improve/{rid}/approve", json={"subject": cand, "approver": "alice", "note": "ok"}
    )
    assert r.status_code == 200, r.text
    rows = _sql(tmp_path / "r/waiting", "SELECT candidate, approver, note FROM approvals")
    assert rows == [(cand, "alice", "ok")]
    d = _get(rw, f"/api/improve/{rid}")
    assert d["pending_approvals"] == [] and d["approvals"][0]["approver"] == "alice"
    events = _get(rw, f"/api/improve/{rid}/events?after=-1")
    assert events["events"][-1]["kind"] == "approval_recorded" and events["chain_ok"]


def test_event_cursor_and_chain(client: TestClient, dash_root: Path, tmp_path: Path) -> None:
    rid = entry_id("improve", "improve/finished")
    lines = (dash_root / "improve/finished/events.jsonl").read_text().splitlines()
    every = _get(client, f"/api/improve/{rid}/events?after=-1")
    assert every["chain_ok"] and every["total"] == len(lines)
    assert [e["seq"] for e in every["events"]] == list(range(len(lines)))
    assert every["next"] == len(lines) - 1
    page = _get(client, f"/api/improve/{rid}/events?after=5&limit=3")
    assert [e["seq"] for e in page["events"]] == [6, 7, 8] and page["next"] == 8
    assert _get(client, f"/api/improve/{rid}/events?after={every['next']}")["events"] == []
    # a torn last line (a writer mid-append) is left for the next poll, not judged
    shutil.copytree(dash_root / "improve/finished", tmp_path / "r/fin")
    ev = tmp_path / "r/fin/events.jsonl"
    with ev.open("a") as fh:
        fh.write('{"cycle": 9, "hash": "ab')
    c = TestClient(create_app(DashboardIndex(tmp_path / "r"), allowed_hosts=HOSTS))
    fid = entry_id("improve", "fin")
    torn = _get(c, f"/api/improve/{fid}/events?after=-1")
    assert torn["chain_ok"] and torn["total"] == len(lines)
    # an edited payload breaks the chain at that line
    doc = json.loads(lines[3])
    doc["payload"] = {"forged": True}
    ev.write_text("\n".join([*lines[:3], json.dumps(doc, sort_keys=True), *lines[4:]]) + "\n")
    bad = _get(c, f"/api/improve/{fid}/events?after=-1")
    assert not bad["chain_ok"] and bad["problems"][0].startswith("line 4: hash")


def test_knowledge_pages(client: TestClient, dash_root: Path) -> None:
    ents = _get(client, "/api/index")["entries"]["knowledge"]
    pages = {e["rel"]: e for e in ents}
    kdir = dash_root / "improve/finished/knowledge"
    on_disk = sorted(p.relative_to(dash_root).as_posix() for p in kdir.rglob("*.md"))
    assert on_disk and sorted(pages) == on_disk
    rel = "improve/finished/knowledge/tasks/stat_insertion.md"
    d = _get(client, f"/api/knowledge/{pages[rel]['id']}")
    text = (dash_root / rel).read_text()
    assert d["front_matter"]["status"] in ("observed-once", "replicated", "human-confirmed")
    assert d["front_matter"]["status"] in text.split("---")[1]
    prov = d["front_matter"]["provenance"]
    assert prov and all({"run", "cycle", "source"} <= set(p) for p in prov)
    assert pages[rel]["meta"]["observations"] == len(prov)
    assert d["body"].strip() and d["body"] in text
