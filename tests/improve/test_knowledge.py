"""Knowledge pages: front matter, provenance, status transitions, idempotence, lint."""

from __future__ import annotations

from pathlib import Path

from labtrust_gym.improve.knowledge import KnowledgeAgent, read_page, render_page


def _ingest(agent: KnowledgeAgent, run: str, cycle: int, decision: str = "promote") -> list[str]:
    return agent.ingest(
        run_id=run,
        cycle=cycle,
        task_scores={"stat_insertion": 0.75},
        task_codes={"stat_insertion": {"TAT_SLA_BREACH": 3}},
        champion="c0",
        candidate="c1",
        gate={"action": "accept", "paired": {"mean": 0.1}},
        decision={"action": decision, "reason": "gate accept"},
        proposal={
            "source": "deterministic",
            "name": "weakest-task",
            "focus_task": "stat_insertion",
            "edits": [],
        },
    )


def test_ingest_writes_pages_with_provenance_and_status(tmp_path: Path) -> None:
    events: list[tuple[str, dict]] = []
    agent = KnowledgeAgent(tmp_path, emit=lambda k, p: events.append((k, p)))
    pages = _ingest(agent, "run-a", 1)
    assert pages == [
        "experiments/run-a.md",
        "policies/c0.md",
        "policies/c1.md",
        "tasks/stat_insertion.md",
    ]
    meta, body = read_page(tmp_path / "tasks" / "stat_insertion.md")
    assert meta == {
        "name": "stat_insertion",
        "type": "task",
        "status": "observed-once",
        "provenance": [{"run": "run-a", "cycle": 1, "source": "eval"}],
    }
    assert "TAT_SLA_BREACH x3" in body and "## Observations" in body
    assert events == [("knowledge_updated", {"pages": pages})]
    _ingest(agent, "run-a", 2)
    meta, body = read_page(tmp_path / "tasks" / "stat_insertion.md")
    assert meta["status"] == "replicated" and len(meta["provenance"]) == 2
    assert body.count("- run run-a cycle") == 2


def test_ingest_is_idempotent(tmp_path: Path) -> None:
    agent = KnowledgeAgent(tmp_path)
    _ingest(agent, "run-a", 1)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.md")}
    _ingest(agent, "run-a", 1)  # a knowledge stage redone after a kill
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.md")} == before


def test_human_confirmed_is_never_downgraded(tmp_path: Path) -> None:
    agent = KnowledgeAgent(tmp_path)
    _ingest(agent, "run-a", 1)
    p = tmp_path / "tasks" / "stat_insertion.md"
    meta, body = read_page(p)
    meta["status"] = "human-confirmed"
    p.write_text(render_page(meta, body))
    _ingest(agent, "run-b", 1)
    meta, _ = read_page(p)
    assert meta["status"] == "human-confirmed" and len(meta["provenance"]) == 2
    assert agent.lint() == []


def test_lint_reports_each_kind_of_problem(tmp_path: Path) -> None:
    agent = KnowledgeAgent(tmp_path)
    _ingest(agent, "run-a", 1)
    assert agent.lint() == []
    t = tmp_path / "tasks"
    (t / "no_front.md").write_text("# nothing\n")
    (t / "bad.md").write_text(
        render_page({"name": "bad", "type": "recipe", "status": "maybe", "provenance": []}, "x")
    )
    (t / "stale.md").write_text(
        render_page(
            {
                "name": "stale",
                "type": "task",
                "status": "observed-once",
                "provenance": [{"run": "a", "cycle": 1}, {"run": "a", "cycle": 2}],
            },
            "x",
        )
    )
    (t / "thin.md").write_text(
        render_page(
            {
                "name": "thin",
                "type": "task",
                "status": "replicated",
                "provenance": [{"run": "a", "cycle": 1}],
            },
            "x",
        )
    )
    (t / "dup.md").write_text(
        render_page(
            {
                "name": "dup",
                "type": "task",
                "status": "replicated",
                "provenance": [{"run": "a", "cycle": 1}, {"run": "a", "cycle": 1}],
            },
            "x",
        )
    )
    (t / "misplaced.md").write_text(
        render_page(
            {
                "name": "m",
                "type": "policy",
                "status": "observed-once",
                "provenance": [{"run": "a", "cycle": "one"}],
            },
            "x",
        )
    )
    got = {(f["page"], f["problem"].split(" ")[0]) for f in agent.lint()}
    assert got == {
        ("tasks/bad.md", "type"),
        ("tasks/bad.md", "status"),
        ("tasks/bad.md", "missing"),
        ("tasks/dup.md", "duplicate"),
        ("tasks/misplaced.md", "a"),
        ("tasks/misplaced.md", "provenance[0]"),
        ("tasks/no_front.md", "unreadable:"),
        ("tasks/stale.md", "status"),
        ("tasks/thin.md", "status"),
    }


def test_text_a_person_adds_below_the_observations_is_kept(tmp_path: Path) -> None:
    agent = KnowledgeAgent(tmp_path)
    _ingest(agent, "run-a", 1)
    p = tmp_path / "tasks" / "stat_insertion.md"
    meta, body = read_page(p)
    p.write_text(render_page(meta, body + "\n## Lessons\n\n- STAT tactics matter here.\n"))
    _ingest(agent, "run-a", 2)
    _, body = read_page(p)
    obs, lessons = body.split("## Lessons")
    assert obs.count("- run run-a cycle") == 2 and "cycle 2" in obs
    assert lessons.strip() == "- STAT tactics matter here."
