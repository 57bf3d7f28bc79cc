"""The job store: WAL, user_version, forward-only migrations, one champion per run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from labtrust_gym.errors import ConfigError
from labtrust_gym.improve.store import MIGRATIONS, SCHEMA_VERSION, JobStore


def _store(tmp_path: Path, **kw) -> JobStore:
    s = JobStore(tmp_path / "store.sqlite", **kw)
    if "upto" not in kw or kw["upto"] >= 1:
        s.create_run(
            "r1",
            config={"a": 1},
            config_hash="h",
            constitution_version="c@0.1",
            constitution_hash="ch",
            seed=3,
            rung="skill_rules",
        )
    return s


def _cand(s: JobStore, h: str) -> None:
    with s.transaction() as c:
        s.add_candidate(
            c,
            "r1",
            h,
            kind="candidate",
            parent=None,
            cycle=1,
            path=f"candidates/{h}.md",
            status="candidate",
        )


def test_fresh_store_is_at_the_latest_version_in_wal_mode(tmp_path: Path) -> None:
    s = _store(tmp_path)
    assert s.version == SCHEMA_VERSION == len(MIGRATIONS) == 2
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert set(s.tables()) >= {
        "runs",
        "cycles",
        "candidates",
        "proposals",
        "evals",
        "gate_results",
        "jobs",
        "approvals",
    }


def test_migration_from_v1_keeps_the_data(tmp_path: Path) -> None:
    s = _store(tmp_path, upto=1)
    assert s.version == 1 and "approvals" not in s.tables()
    _cand(s, "aaa")
    s.close()
    s2 = JobStore(tmp_path / "store.sqlite")
    assert s2.version == 2 and "approvals" in s2.tables()
    assert s2.run("r1")["seed"] == 3
    assert [r["hash"] for r in s2.rows("candidates", "r1", order="hash")] == ["aaa"]
    assert s2.migrate() == []  # idempotent


def test_migrations_are_forward_only(tmp_path: Path) -> None:
    s = _store(tmp_path)
    with pytest.raises(ConfigError, match="forward only"):
        s.migrate(1)
    s.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    s.close()
    with pytest.raises(ConfigError, match="newer than this labtrust-gym"):
        JobStore(tmp_path / "store.sqlite")
    with pytest.raises(ConfigError, match="newer"):
        JobStore(tmp_path / "store.sqlite", read_only=True)


def test_a_failed_migration_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import labtrust_gym.improve.store as store_mod

    _store(tmp_path, upto=1).close()
    monkeypatch.setattr(
        store_mod, "MIGRATIONS", (MIGRATIONS[0], MIGRATIONS[1] + "; CREATE TABLE runs (x)")
    )
    with pytest.raises(sqlite3.OperationalError):
        JobStore(tmp_path / "store.sqlite")
    monkeypatch.undo()
    s = JobStore(tmp_path / "store.sqlite", upto=1)
    assert s.version == 1 and "approvals" not in s.tables()


def test_one_champion_per_run(tmp_path: Path) -> None:
    s = _store(tmp_path)
    for h in ("aaa", "bbb"):
        _cand(s, h)
    with s.transaction() as c:
        s.set_champion(c, "r1", "aaa")
    assert s.champion("r1") == "aaa"
    with s.transaction() as c:
        s.set_champion(c, "r1", "bbb")
    rows = {r["hash"]: r for r in s.rows("candidates", "r1", order="hash")}
    assert (rows["aaa"]["is_champion"], rows["aaa"]["status"]) == (0, "retired")
    assert (rows["bbb"]["is_champion"], rows["bbb"]["status"]) == (1, "champion")
    # a writer that bypasses set_champion cannot make a second champion
    with pytest.raises(sqlite3.IntegrityError), s.transaction() as c:
        c.execute("UPDATE candidates SET is_champion = 1 WHERE hash = 'aaa'")
    assert s.champion("r1") == "bbb"
    # an unknown candidate is refused and the transaction leaves the champion alone
    with pytest.raises(ConfigError, match="not in the store"), s.transaction() as c:
        s.set_champion(c, "r1", "zzz")
    assert s.champion("r1") == "bbb"


def test_champion_switch_is_atomic_across_connections(tmp_path: Path) -> None:
    s = _store(tmp_path)
    for h in ("aaa", "bbb"):
        _cand(s, h)
    with s.transaction() as c:
        s.set_champion(c, "r1", "aaa")
    reader = JobStore(tmp_path / "store.sqlite", read_only=True)
    s.conn.execute("BEGIN IMMEDIATE")
    s.set_champion(s.conn, "r1", "bbb")
    # mid-transaction, another connection still sees exactly one champion: the old one
    assert reader.champion("r1") == "aaa"
    s.conn.execute("ROLLBACK")
    assert s.champion("r1") == "aaa"


def test_jobs_lifecycle(tmp_path: Path) -> None:
    s = _store(tmp_path)
    assert s.start_job("r1", 1, "collect", 123, "logs/c001-collect.log") == 1
    assert s.job_output("r1", 1, "collect") is None
    # the process dies: resume marks it interrupted, the next start is attempt 2
    assert [j["stage"] for j in s.interrupted_jobs("r1")] == ["collect"]
    assert s.job("r1", 1, "collect")["status"] == "interrupted"
    assert s.start_job("r1", 1, "collect", 124, "logs/c001-collect.log") == 2
    with s.transaction() as c:
        s.finish_job(c, "r1", 1, "collect", {"results": [1, 2]})
    j = s.job("r1", 1, "collect")
    assert (j["status"], j["attempt"], j["exit_code"], j["pid"]) == ("done", 2, 0, 124)
    assert s.job_output("r1", 1, "collect") == {"results": [1, 2]}
    with pytest.raises(ConfigError, match="unknown store table"):
        s.rows("sqlite_master", "r1")
