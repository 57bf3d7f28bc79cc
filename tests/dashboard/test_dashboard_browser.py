"""Every view in a real browser: Debian's chromium driven by Playwright (no browser
download), against a dashboard served on 127.0.0.1 at an ephemeral port, on the data the
tests made (``dash_root``). Screenshots go to ``$LABTRUST_DASHBOARD_SHOTS`` (default: the
test's temporary directory). A console error (a CSP violation included) fails the test."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import waiting_candidate
from labtrust_gym.dashboard.index import entry_id
from labtrust_gym.dashboard.server import running_server

CHROMIUM = "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).is_file():  # .ci/run installs it: apt-get install -y chromium
    pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium", allow_module_level=True)

TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = os.environ.get("LABTRUST_DASHBOARD_SHOTS")
    p = Path(d) if d else tmp_path_factory.mktemp("shots")
    p.mkdir(parents=True, exist_ok=True)
    return p


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], timeout=TIMEOUT_MS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def server(dash_root: Path) -> Iterator[str]:
    with running_server(dash_root, max_seconds=240) as url:
        yield url


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert errors == [], errors


def _open(page: Any, url: str, view: str) -> None:
    page.goto(url)
    page.wait_for_selector(f"main[data-view='{view}']")


def _wait_rows(page: Any, n: int, timeout_s: float = 30.0) -> None:
    """Until the event table has ``n`` rows (polled from Python: the page's CSP forbids
    the string evaluation Playwright's wait_for_function uses)."""
    import time

    rows = page.locator("table.events-table tbody tr")
    deadline = time.monotonic() + timeout_s
    while rows.count() != n:
        assert time.monotonic() < deadline, f"{rows.count()} event rows, expected {n}"
        page.wait_for_timeout(100)


def _results(dash_root: Path, rel: str) -> dict[str, Any]:
    return json.loads((dash_root / rel).read_text())  # type: ignore[no-any-return]


def test_runs_filter_sort_compare(page: Any, server: str, dash_root: Path, shots: Path) -> None:
    _open(page, server + "/#/runs", "runs")
    rows = page.locator("table.runs tbody tr")
    assert rows.count() == 12
    page.fill("#run-filter", "adversarial")
    assert rows.count() == 1 and "adversarial_disruption" in rows.first.inner_text()
    page.fill("#run-filter", "")
    page.click("table.runs th[data-key='throughput']")
    page.click("table.runs th[data-key='throughput']")  # descending
    first = rows.first.inner_text()
    assert "47" in first  # throughput_sla's mean over its two episodes, the largest
    page.check(f"input[data-run='{entry_id('run', 'runs/adv/results.json')}']")
    page.check(f"input[data-run='{entry_id('run', 'runs/sla/results.json')}']")
    page.click("#compare")
    page.wait_for_selector("table.compare")
    adv = _results(dash_root, "runs/adv/results.json")["summary"]["blocked"]
    sla = _results(dash_root, "runs/sla/results.json")["summary"]["blocked"]
    row = page.locator("table.compare tbody tr").filter(
        has=page.locator("td:first-child", has_text=re.compile(r"^blocked$"))
    )
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == "blocked"
    assert cells[1].startswith(f"{adv['mean']:g}") and cells[2].startswith(f"{sla['mean']:g}")
    assert float(cells[3]) == sla["mean"] - adv["mean"] != 0
    page.screenshot(path=str(shots / "compare.png"), full_page=True)


def test_episode_view(page: Any, server: str, dash_root: Path, shots: Path) -> None:
    m = _results(dash_root, "runs/adv/results.json")["episodes"][0]["metrics"]
    eid = entry_id("episode", "runs/adv/logs/adversarial_disruption_ep000.jsonl")
    _open(page, f"{server}/#/episode/{eid}", "episode")
    assert page.locator("#timeline rect.act").count() == m["actions"]
    assert page.locator("#timeline rect.blocked").count() == m["blocked"]
    page.locator("#timeline rect.blocked").first.hover()
    info = page.inner_text("#info")
    assert "BLOCKED" in info and any(code in info for code in m["blocked_by_reason_code"])
    for code, n in m["blocked_by_reason_code"].items():
        assert page.locator("table.blocked tr", has_text=code).first.inner_text().split()[
            -1
        ] == str(n)
    # states arrive from the engine re-run: devices chart, agents on the map
    page.wait_for_selector("#devices")
    header = json.loads(
        (dash_root / "runs/adv/logs/adversarial_disruption_ep000.jsonl")
        .read_text()
        .split("\n", 1)[0]
    )
    n_agents = len(header["initial_state"]["agents"])
    assert page.locator("#labmap circle.agent").count() == n_agents
    assert page.locator("#labmap g.zone").count() == 11
    assert page.locator("#labmap rect.door").count() == 2
    at0 = page.locator("#labmap circle.agent").evaluate_all(
        "els => els.map(e => e.getAttribute('cx') + e.getAttribute('cy'))"
    )
    page.locator("#step").fill("200")
    assert page.inner_text("#steplabel").startswith("step 200")
    at200 = page.locator("#labmap circle.agent").evaluate_all(
        "els => els.map(e => e.getAttribute('cx') + e.getAttribute('cy'))"
    )
    assert at0 != at200
    assert page.locator("#devices rect").count() > 10
    assert page.locator("table.criticals tbody tr").count() >= m["critical_acknowledged"]
    journey = page.inner_text("#journey")
    assert "ARRIVAL" in journey and "released t =" in journey and "RELEASE_RESULT" in journey
    page.screenshot(path=str(shots / "episode.png"), full_page=True)


def test_study_view(page: Any, server: str, dash_root: Path, shots: Path) -> None:
    _open(page, f"{server}/#/study/{entry_id('study', 'studies/small')}", "study")
    assert page.locator("table.leaderboard tbody tr").count() == 2
    assert page.locator("svg.pareto g.point").count() == 4  # two methods, two views
    assert page.locator("svg.heatmap g.hcell").count() == 6
    cell = page.locator("svg.heatmap g.hcell").nth(5)
    cell_id = cell.get_attribute("data-cell")
    cell.hover()
    assert cell_id in page.inner_text("#info") and "resilience" in page.inner_text("#info")
    page.locator("svg.pareto g.point circle").first.hover()
    assert "throughput" in page.inner_text("#info")
    page.screenshot(path=str(shots / "study.png"), full_page=True)
    cell.click()
    page.wait_for_selector("main[data-view='run']")
    assert cell_id in page.inner_text("main")
    # the study without effects: flagged cells
    _open(page, f"{server}/#/study/{entry_id('study', 'studies/flat')}", "study")
    assert "without observable effect" in page.inner_text("#noeffect")
    flat = page.locator("svg.heatmap g.hcell.noeffect")
    assert flat.count() == 1 and "no effect" in (flat.text_content() or "")
    assert "INJ-NET-PARTITION-001" in flat.get_attribute("data-cell")


def test_evidence_view(page: Any, server: str, dash_root: Path) -> None:
    _open(page, f"{server}/#/bundle/{entry_id('bundle', 'bundles/sla')}", "bundle")
    assert page.inner_text("#verdict") == "VERIFIED"
    rows = page.locator("table.checks tbody tr")
    assert rows.count() >= 10
    assert page.locator("table.checks tbody td span.pass").count() == rows.count() - 1
    assert page.locator("table.checks tbody td span.fail").count() == 0
    skip = page.locator("table.checks tbody tr", has=page.locator("span.skip"))
    assert skip.count() == 1 and "trust" in skip.inner_text()


def test_improvement_and_knowledge_views(
    page: Any, server: str, dash_root: Path, shots: Path
) -> None:
    _open(page, f"{server}/#/improve/{entry_id('improve', 'improve/finished')}", "improve")
    assert page.locator("table.cycles tbody tr").count() == 2
    assert "rollback" in page.locator("table.cycles tbody tr").nth(1).inner_text()
    assert page.locator("#lineage g.cand").count() == 3
    assert "champion" in (page.locator("#lineage").text_content() or "")
    page.locator("details.cand-diff").nth(1).click()
    assert "+- prop_doors_open" in page.locator("details.cand-diff").nth(1).inner_text()
    assert "vetoed" in page.inner_text("table.gates") and "DOOR_OPEN_TOO_LONG" in page.inner_text(
        "table.gates"
    )
    assert "protected.path" in page.inner_text("table.proposals")
    assert page.locator("table.budget tbody tr").count() == 4
    n = len((dash_root / "improve/finished/events.jsonl").read_text().splitlines())
    _wait_rows(page, n)
    assert "chain intact" in page.inner_text("#event-count")
    page.screenshot(path=str(shots / "improve.png"), full_page=True)
    # a waiting run on a read-only dashboard: the pending approval, no button
    _open(page, f"{server}/#/improve/{entry_id('improve', 'improve/waiting')}", "improve")
    assert "awaiting approval" in page.inner_text("#approvals")
    assert page.locator("button.approve").count() == 0
    rel = "improve/finished/knowledge/tasks/stat_insertion.md"
    _open(page, f"{server}/#/knowledge/{entry_id('knowledge', rel)}", "knowledge")
    status = page.inner_text("#page-status")
    assert f"status: {status}" in (dash_root / rel).read_text()
    assert page.locator("table.provenance tbody tr").count() >= 1


def test_live_events_while_the_orchestrator_runs(
    browser: Any, dash_root: Path, tmp_path: Path, shots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Approve in the page, resume the run in the background: the event table grows
    while the orchestrator appends, up to its ``run_completed``."""
    import time

    from labtrust_gym.improve import events
    from labtrust_gym.improve.loop import resume_run

    # The rest of the run takes well under a second: the orchestrator is slowed to one
    # event per 0.15 s, so that the page (polling every few hundred ms) can be seen
    # catching up while it appends, whatever the machine's speed.
    emit = events.EventBus.emit

    def slow_emit(self: Any, ev: Any, **kw: Any) -> Any:
        out = emit(self, ev, **kw)
        time.sleep(0.15)
        return out

    monkeypatch.setattr(events.EventBus, "emit", slow_emit)

    run = tmp_path / "root/live"
    shutil.copytree(dash_root / "improve/waiting", run)
    cand = waiting_candidate(run)
    before = len((run / "events.jsonl").read_text().splitlines())
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    failure: list[BaseException] = []
    resumed = threading.Event()
    counts: list[int] = []

    def resume() -> None:
        try:
            resume_run(run)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failure.append(exc)
        finally:
            resumed.set()

    with running_server(tmp_path / "root", allow_approve=True, max_seconds=120) as url:
        _open(pg, f"{url}/#/improve/{entry_id('improve', 'live')}", "improve")
        rows = pg.locator("table.events-table tbody tr")
        _wait_rows(pg, before)
        pg.click(f"button.approve[data-subject='{cand}']")
        _wait_rows(pg, before + 1)
        assert "approval_recorded" in rows.last.inner_text()
        t = threading.Thread(target=resume, daemon=True)
        t.start()
        while not resumed.is_set():
            counts.append(rows.count())
            pg.wait_for_timeout(300)
        t.join(30)
        assert not failure, failure
        total = len((run / "events.jsonl").read_text().splitlines())
        _wait_rows(pg, total)
        assert "run_completed" in rows.last.inner_text()
        # seen growing while the run went on, not only at the end
        assert len({c for c in counts if before + 1 < c < total}) >= 1, counts
        assert pg.locator("table.events-table tr.new").count() == total - before
        # the rest of the page follows the stream: status, cycles and approvals redrawn
        for _ in range(100):
            if pg.inner_text("#run-status") == "completed":
                break
            pg.wait_for_timeout(100)
        assert pg.inner_text("#run-status") == "completed"
        assert pg.locator("table.cycles tbody tr").count() == 2
        assert pg.locator("button.approve").count() == 0
        assert cand in pg.inner_text("table.approvals-given")
        pg.screenshot(path=str(shots / "improve_live.png"), full_page=True)
        # the approval went through the orchestrator: the store has it
        data = json.load(urllib.request.urlopen(f"{url}/api/improve/{entry_id('improve', 'live')}"))
        assert [a["candidate"] for a in data["approvals"]] == [cand]
        assert data["run"]["status"] == "completed"
    ctx.close()
    assert errors == []
