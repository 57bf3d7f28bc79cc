"""The dashboard's JSON API through FastAPI's TestClient, on data the tests made
(``dash_root``), checked against the artefacts themselves."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labtrust_gym.dashboard.app import create_app
from labtrust_gym.dashboard.index import DashboardIndex, entry_id

HOSTS = ("127.0.0.1", "localhost", "testserver")


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _client(root: Path, **kw: Any) -> TestClient:
    return TestClient(create_app(DashboardIndex(root), allowed_hosts=HOSTS, **kw))


@pytest.fixture(scope="module")
def client(dash_root: Path) -> TestClient:
    return _client(dash_root)


def _run_id(rel: str) -> str:
    return entry_id("run", rel)


def test_index_holds_every_artefact(client: TestClient, dash_root: Path) -> None:
    ents = client.get("/api/index").json()["entries"]
    rels = {e["rel"] for k in ents for e in ents[k]}
    assert "runs/adv/results.json" in rels and "runs/sla/results.json" in rels
    assert "bundles/sla" in {e["rel"] for e in ents["bundle"]}
    assert {e["rel"] for e in ents["study"]} == {"studies/small", "studies/flat"}
    # 2 runs + the bundle's copy + 6 + 3 study cells
    assert len(ents["run"]) == 12
    runs = {e["rel"]: e for e in ents["run"]}
    sla = runs["runs/sla/results.json"]["meta"]
    logs = sorted(
        e["rel"] for e in ents["episode"] if e["meta"]["run"] == _run_id("runs/sla/results.json")
    )
    assert logs == [
        "runs/sla/logs/throughput_sla_ep000.jsonl",
        "runs/sla/logs/throughput_sla_ep001.jsonl",
    ]
    # the bundle's results link to the bundle's own copies of the logs, not the run's
    b = runs["bundles/sla/runs/results/results.json"]["meta"]
    assert b["episode_ids"] and not set(b["episode_ids"]) & set(sla["episode_ids"])


def test_runs_table_fields_and_cis(client: TestClient, dash_root: Path) -> None:
    runs = {r["rel"]: r for r in client.get("/api/runs").json()}
    doc = json.loads((dash_root / "runs/sla/results.json").read_text())
    r = runs["runs/sla/results.json"]
    assert (r["task"], r["method"], r["profile"], r["plugins"]) == (
        "throughput_sla",
        "scripted",
        None,
        [],
    )
    assert r["metrics"]["throughput"] == {
        k: doc["summary"]["throughput"][k] for k in ("mean", "ci95_low", "ci95_high", "n")
    }
    cell = next(
        v
        for k, v in runs.items()
        if k.startswith("studies/small/cells/") and "market_auction__INJ-ID" in k
    )
    assert cell["scale"] == "small_8+horizon_steps=150"
    assert (cell["method"], cell["injection"], cell["cell_id"]) == (
        "market_auction",
        "INJ-ID-SPOOF-001",
        "coord_risk__small_8+horizon_steps=150__market_auction__INJ-ID-SPOOF-001",
    )


def test_profile_and_plugins_come_from_the_results(dash_root: Path, tmp_path: Path) -> None:
    doc = json.loads((dash_root / "runs/sla/results.json").read_text())
    doc["lab_profile"] = "example"
    doc["plugins"] = [
        {"distribution": "labtrust-example-plugin", "version": "0.1.0"},
        {"distribution": "labtrust-coord-example", "version": "0.2.0"},
    ]
    (tmp_path / "r").mkdir()
    (tmp_path / "r/results.json").write_text(json.dumps(doc))
    (run,) = _client(tmp_path / "r").get("/api/runs").json()
    assert run["profile"] == "example"
    assert run["plugins"] == ["labtrust-coord-example", "labtrust-example-plugin"]
    assert run["episode_ids"] == []  # its logs are not under this root


def test_run_detail_and_compare(client: TestClient, dash_root: Path) -> None:
    a, b = _run_id("runs/adv/results.json"), _run_id("runs/sla/results.json")
    d = client.get(f"/api/runs/{b}").json()
    assert [e["episode"] for e in d["episodes"]] == [0, 1]
    assert all(e["episode_id"] for e in d["episodes"])
    cmp = client.get(f"/api/compare/{a}/{b}").json()
    da = json.loads((dash_root / "runs/adv/results.json").read_text())["summary"]
    db = json.loads((dash_root / "runs/sla/results.json").read_text())["summary"]
    rows = {r["metric"]: r for r in cmp["metrics"]}
    assert rows["throughput"]["delta"] == pytest.approx(
        db["throughput"]["mean"] - da["throughput"]["mean"]
    )
    assert rows["blocked"]["a"]["mean"] == da["blocked"]["mean"] > 0


def _episode(client: TestClient, rel: str) -> dict[str, Any]:
    r = client.get(f"/api/episodes/{entry_id('episode', rel)}")
    assert r.status_code == 200, r.text
    return r.json()


def test_episode_timeline_agrees_with_the_results(client: TestClient, dash_root: Path) -> None:
    """Blocked actions by reason code, releases and actions recounted from the view equal
    the runner's metrics of the same episode."""
    m = json.loads((dash_root / "runs/adv/results.json").read_text())["episodes"][0]["metrics"]
    d = _episode(client, "runs/adv/logs/adversarial_disruption_ep000.jsonl")
    assert d["chain_ok"] and d["steps"] == m["steps"]
    assert len(d["actions"]) == m["actions"]
    assert d["blocked_by_reason_code"] == m["blocked_by_reason_code"] and m["blocked"] > 0
    blocked = [a for a in d["actions"] if a[3] == "BLOCKED"]
    assert len(blocked) == m["blocked"] and all(a[4] for a in blocked)
    assert sum(len(s["released"]) for s in d["specimens"]) == m["throughput"]
    assert len(d["specimens"]) == m["specimens_arrived"]
    acks = [
        c for c in d["criticals"] if c["action"] == "ACK_CRITICAL" and c["status"] == "ACCEPTED"
    ]
    assert len(acks) == m["critical_acknowledged"] > 0
    sp = next(s for s in d["specimens"] if s["released_t"] is not None)
    assert sp["journey"][0]["t_s"] >= sp["arrival_t"]
    assert (
        sp["journey"][-1]["action"] in ("RELEASE_RESULT", "RELEASE_RESULT_WITH_DISCLAIMER")
        or sp["released_t"] <= sp["journey"][-1]["t_s"]
    )


def test_episode_states_are_replayed_and_checked(client: TestClient, dash_root: Path) -> None:
    rel = "runs/sla/logs/throughput_sla_ep000.jsonl"
    st = client.get(f"/api/episodes/{entry_id('episode', rel)}/states").json()
    assert st["verified"] is True and st["reason"] is None
    header = json.loads((dash_root / rel).read_text().split("\n", 1)[0])
    assert st["steps"] == header["max_steps"]
    devs = st["devices"]
    assert {d["device_id"] for d in st["lab_map"]["devices"]} <= set(devs)
    assert all(set(v["state"]) <= {"IDLE", "RUNNING", "FAULT", "MAINT"} for v in devs.values())
    assert any("RUNNING" in v["state"] for v in devs.values())
    assert any(max(v["queue"]) > 0 for v in devs.values())
    zones = {z["zone_id"] for z in st["lab_map"]["zones"]}
    pos = st["agents"]
    assert set(pos) == {a["agent_id"] for a in header["initial_state"]["agents"]}
    assert all(p in zones or ">" in p for arr in pos.values() for p in arr)
    # agents move: some agent is somewhere else at the end than at the start
    assert any(arr[0] != arr[-1] or len(set(arr)) > 1 for arr in pos.values())


def test_a_tampered_log_shows_a_broken_chain(dash_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(dash_root / "runs/sla", root / "runs/sla")
    c = _client(root)
    eid = entry_id("episode", "runs/sla/logs/throughput_sla_ep000.jsonl")
    assert c.get(f"/api/episodes/{eid}").json()["chain_ok"] is True
    assert c.get(f"/api/episodes/{eid}/states").json()["verified"] is True
    log = root / "runs/sla/logs/throughput_sla_ep000.jsonl"
    st = log.stat()
    lines = log.read_bytes().split(b"\n")
    lines[5] = lines[5].replace(b'"ACCEPTED"', b'"BLOCKED"', 1)
    log.write_bytes(b"\n".join(lines))
    os.utime(log, ns=(st.st_atime_ns, st.st_mtime_ns))
    d = c.get(f"/api/episodes/{eid}").json()
    assert d["chain_ok"] is False and "line 6" in d["chain_summary"]
    st = c.get(f"/api/episodes/{eid}/states").json()
    assert st["verified"] is False and "chain" in st["reason"]


def test_study_view_matches_the_study_reports(client: TestClient, dash_root: Path) -> None:
    d = client.get(f"/api/studies/{entry_id('study', 'studies/small')}").json()
    assert d["study_id"] == "dash_small" and len(d["cells"]) == 6
    summary = {r["cell_id"]: r for r in _csv(dash_root / "studies/small/summary_coord.csv")}
    for c in d["cells"]:
        row = summary[c["cell_id"]]
        assert c["throughput_mean"] == pytest.approx(float(row["throughput_mean"]))
        assert c["resilience_score"] == pytest.approx(float(row["resilience_score"]))
        assert c["run_id"] == entry_id("run", f"studies/small/cells/{c['cell_id']}/results.json")
        assert client.get(f"/api/runs/{c['run_id']}").status_code == 200
    lb = _csv(dash_root / "studies/small/leaderboard.csv")
    (g,) = d["groups"]
    assert [r["method"] for r in g["leaderboard"]] == [r["method"] for r in lb]
    for mine, theirs in zip(g["leaderboard"], lb, strict=True):
        assert mine["throughput_ci95_low"] == pytest.approx(
            float(theirs["throughput_ci95_low"]), abs=1e-6
        )
    assert g["methods"] == ["scripted_team", "market_auction"]
    assert g["injections"] == ["none", "INJ-NET-PARTITION-001", "INJ-ID-SPOOF-001"]
    assert g["frontier_violations"] and set(g["frontier_violations"]) <= set(g["methods"])
    assert g["heatmap"][1][2]["cell_id"].endswith("market_auction__INJ-ID-SPOOF-001")


def test_study_flags_cells_without_effect(client: TestClient, dash_root: Path) -> None:
    d = client.get(f"/api/studies/{entry_id('study', 'studies/flat')}").json()
    flat = [
        r["cell_id"]
        for r in _csv(dash_root / "studies/flat/summary_coord.csv")
        if r["injection_effect"] == "no"
    ]
    assert flat and d["no_effect"] == flat
    (g,) = d["groups"]
    effects = {c["cell_id"]: c["effect"] for row in g["heatmap"] for c in row if c}
    assert all(effects[c] == "no" for c in flat)
    assert "yes" in effects.values()


def test_bundle_checks_pass_then_fail_when_tampered(
    client: TestClient, dash_root: Path, tmp_path: Path
) -> None:
    d = client.get(f"/api/bundles/{entry_id('bundle', 'bundles/sla')}").json()
    assert d["ok"] is True
    names = [c["name"] for c in d["checks"]]
    assert "manifest signature" in names and "files" in names
    assert any(c["skipped"] for c in d["checks"])  # no trusted key: said, not hidden
    shutil.copytree(dash_root / "bundles/sla", tmp_path / "r/b")
    c = _client(tmp_path / "r")
    bid = entry_id("bundle", "b")
    assert c.get(f"/api/bundles/{bid}").json()["ok"] is True
    # edited in place, its times put back: the same server verifies again
    res = tmp_path / "r/b/runs/results/results.json"
    st = res.stat()
    res.write_bytes(res.read_bytes().replace(b'"seed": 0', b'"seed": 1', 1))
    os.utime(res, ns=(st.st_atime_ns, st.st_mtime_ns))
    bad = c.get(f"/api/bundles/{bid}").json()
    assert bad["ok"] is False
    assert [x["name"] for x in bad["checks"] if not x["ok"]][0] == "files"


def test_bundle_checks_with_a_trusted_key(dash_root: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from labtrust_gym.evidence.keys import audit_key

    bid = entry_id("bundle", "bundles/sla")
    ours = bytes.fromhex(audit_key().public_key_hex)  # the key the fixtures signed with
    d = _client(dash_root, trusted_key=ours).get(f"/api/bundles/{bid}").json()
    assert d["ok"] is True
    sig = next(c for c in d["checks"] if c["name"] == "manifest signature")
    assert sig["ok"] and not sig["skipped"] and "the trusted key" in sig["detail"]
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    bad = _client(dash_root, trusted_key=other).get(f"/api/bundles/{bid}").json()
    assert bad["ok"] is False
    assert "manifest signature" in [c["name"] for c in bad["checks"] if not c["ok"]]


def test_unknown_ids_are_404_and_kinds_do_not_mix(client: TestClient) -> None:
    run = _run_id("runs/sla/results.json")
    assert client.get(f"/api/episodes/{run}").status_code == 404  # a run id is not an episode
    assert client.get("/api/runs/run-0000000000000000").status_code == 404
    assert client.get("/api/runs/nope").status_code == 404
