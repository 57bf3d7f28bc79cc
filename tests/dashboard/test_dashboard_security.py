"""Only ids from the index are served: traversal in every spelling, absolute paths and
symlinks out of the root get nothing; every response carries the security headers; the
API is read-only; the Host header must name the server."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from labtrust_gym.dashboard.app import SECURITY_HEADERS, create_app
from labtrust_gym.dashboard.index import DashboardIndex
from labtrust_gym.dashboard.server import running_server

SECRET = "s3cr3t-outside-the-root"


@pytest.fixture(scope="module")
def jail(dash_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root holding one run, plus symlinks to a results file, a log and a directory
    outside it (each holding the secret)."""
    base = tmp_path_factory.mktemp("jail")
    root = base / "root"
    shutil.copytree(dash_root / "runs/sla", root / "runs/sla")
    outside = base / "outside"
    shutil.copytree(dash_root / "runs/adv", outside / "adv")
    res = outside / "adv/results.json"
    res.write_text(res.read_text().replace('"scripted"', f'"{SECRET}"', 1))
    (root / "link_dir").symlink_to(outside / "adv", target_is_directory=True)
    (root / "link_results.json").symlink_to(res)
    (root / "link_log.jsonl").symlink_to(outside / "adv/logs/adversarial_disruption_ep000.jsonl")
    (base / "secret.txt").write_text(SECRET)
    return root


@pytest.fixture(scope="module")
def client(jail: Path) -> TestClient:
    return TestClient(create_app(DashboardIndex(jail), allowed_hosts=("testserver",)))


def test_symlinks_out_of_the_root_are_not_indexed(client: TestClient, jail: Path) -> None:
    ents = client.get("/api/index").json()["entries"]
    rels = sorted(e["rel"] for k in ents for e in ents[k])
    assert rels == [
        "runs/sla/logs/throughput_sla_ep000.jsonl",
        "runs/sla/logs/throughput_sla_ep001.jsonl",
        "runs/sla/results.json",
    ]
    assert SECRET not in client.get("/api/runs").text
    assert (jail / "link_results.json").resolve().is_file()  # the links are real


def test_a_symlink_swapped_in_after_indexing_is_refused(dash_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(dash_root / "runs/sla", root / "runs/sla")
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil/results.json").write_text(json.dumps({"secret": SECRET}))
    c = TestClient(create_app(DashboardIndex(root), allowed_hosts=("testserver",)))
    (run,) = c.get("/api/runs").json()
    target = root / "runs/sla/results.json"
    target.unlink()
    os.symlink(tmp_path / "evil/results.json", target)
    r = c.get(f"/api/runs/{run['id']}")
    assert r.status_code == 422 and SECRET not in r.text
    assert "outside the dashboard root" in r.json()["detail"]


TRAVERSALS = [
    "/api/runs/..",
    "/api/runs/../../secret.txt",
    "/api/runs/%2e%2e",
    "/api/runs/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/api/runs/%252e%252e%252fsecret.txt",
    "/api/runs/..%2f..%2fsecret.txt",
    "/api/runs/%2Fetc%2Fpasswd",
    "/api/runs//etc/passwd",
    "/api/episodes/..%5c..%5csecret.txt",
    "/api/episodes/%c0%ae%c0%ae%c0%afsecret.txt",
    "/api/bundles/..%00",
    "/static/../app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e%2fapp.py",
    "/static/%252e%252e%252fapp.py",
    "/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
    "/static//etc/passwd",
    "/static/%2Fetc%2Fpasswd",
    "/static/index.py",
    "/static/app.js%00.css",
    "/api/compare/../..",
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/etc/passwd",
    "/api/studies/run-0000000000000000",
]


# httpx removes literal dot segments before sending; those go over the wire unchanged in
# test_raw_paths_over_the_wire
ENCODED = [p for p in TRAVERSALS if not {"..", "."} & set(p.split("/"))]


@pytest.mark.parametrize("path", ENCODED)
def test_traversal_gets_nothing(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code in (400, 404), (path, r.status_code, r.text[:200])
    assert SECRET not in r.text and "root:" not in r.text and "def " not in r.text
    for k, v in SECURITY_HEADERS.items():
        assert r.headers[k] == v


def test_raw_paths_over_the_wire(jail: Path) -> None:
    """The same requests sent byte for byte (no client normalising ``..``) to a real
    server on 127.0.0.1."""
    with running_server(jail, max_seconds=60) as url:
        u = urlsplit(url)
        for path in TRAVERSALS + ["/static/../../../../etc/passwd", "/api/runs/./../../secret.txt"]:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            conn.putrequest("GET", path, skip_host=True)
            conn.putheader("Host", u.netloc)
            conn.endheaders()
            resp = conn.getresponse()
            body = resp.read().decode("utf-8", "replace")
            conn.close()
            assert resp.status in (400, 404), (path, resp.status)
            assert SECRET not in body and "root:" not in body


def test_headers_on_every_kind_of_response(client: TestClient) -> None:
    for path in (
        "/",
        "/static/app.js",
        "/static/core.js",
        "/static/style.css",
        "/api/index",
        "/api/runs",
        "/nope",
    ):
        r = client.get(path)
        for k, v in SECURITY_HEADERS.items():
            assert r.headers[k] == v, (path, k)
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp
        and "frame-ancestors 'none'" in csp
    )
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", client.get("/").text, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    for attrs, _ in scripts:  # every script the page names is served, as JavaScript
        name = attrs.split('src="/static/')[1].split('"')[0]
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")


def test_read_only(client: TestClient) -> None:
    run = client.get("/api/runs").json()[0]["id"]
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in ("/api/runs", f"/api/runs/{run}", "/api/index", "/static/app.js", "/"):
            r = client.request(method, path)
            assert r.status_code == 405, (method, path, r.status_code)


def test_foreign_host_header_is_refused(client: TestClient) -> None:
    r = client.get("/api/runs", headers={"Host": "attacker.example"})
    assert r.status_code == 400 and "results" not in r.text
