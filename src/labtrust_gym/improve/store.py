"""The SQLite job store of an improvement run (``RUN/store.sqlite``).

* WAL journal, ``synchronous=FULL``, foreign keys on; ``PRAGMA user_version`` is the
  schema version and :data:`MIGRATIONS` are applied forward only, each in its own
  transaction (a store from a newer labtrust-gym is refused, never downgraded);
* tables (the columns are documented in ``docs/improve.md``, "On-disk format"):
  ``runs``, ``cycles``, ``candidates`` (at most one champion per run: a partial unique
  index, and :meth:`JobStore.set_champion` switches it in one transaction),
  ``proposals``, ``evals`` (the paired gate inputs, one row per episode and role),
  ``gate_results``, ``jobs`` (one per run, cycle and stage: status, pid, attempt, exit
  code, log path, the stage's output) and ``approvals``;
* every write of a stage goes through :meth:`JobStore.transaction`, so a stage's rows
  and its ``jobs`` row turning ``done`` commit together: a ``kill -9`` leaves the stage
  entirely done or entirely to redo.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError

__all__ = ["JobStore", "MIGRATIONS", "SCHEMA_VERSION", "STORE_FILE", "JOB_STATUSES"]

STORE_FILE = "store.sqlite"
JOB_STATUSES = ("pending", "running", "done", "failed", "interrupted")

_V1 = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    created_ts TEXT NOT NULL,
    config_json TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    constitution_version TEXT NOT NULL,
    constitution_hash TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    rung TEXT NOT NULL DEFAULT '',
    updated_ts TEXT NOT NULL
);
CREATE TABLE cycles (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    cycle INTEGER NOT NULL,
    rung TEXT NOT NULL,
    status TEXT NOT NULL,
    champion_before TEXT NOT NULL,
    candidate TEXT,
    decision TEXT,
    decision_reason TEXT,
    champion_after TEXT,
    PRIMARY KEY (run_id, cycle)
);
CREATE TABLE candidates (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    hash TEXT NOT NULL,
    kind TEXT NOT NULL,
    parent TEXT,
    cycle INTEGER NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    is_champion INTEGER NOT NULL DEFAULT 0 CHECK (is_champion IN (0, 1)),
    selection_score REAL,
    PRIMARY KEY (run_id, hash)
);
CREATE UNIQUE INDEX one_champion_per_run ON candidates(run_id) WHERE is_champion = 1;
CREATE TABLE proposals (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    cycle INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    rule TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    proposal_json TEXT NOT NULL,
    PRIMARY KEY (run_id, cycle, idx)
);
CREATE TABLE evals (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    cycle INTEGER NOT NULL,
    split TEXT NOT NULL,
    skill_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    episode_id TEXT NOT NULL,
    task_type TEXT NOT NULL,
    seed INTEGER NOT NULL,
    hard REAL NOT NULL,
    soft REAL NOT NULL,
    score REAL NOT NULL,
    safety_json TEXT NOT NULL,
    reason_codes_json TEXT NOT NULL,
    PRIMARY KEY (run_id, cycle, split, role, episode_id)
);
CREATE TABLE gate_results (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    cycle INTEGER NOT NULL,
    candidate TEXT NOT NULL,
    champion TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    mean_delta REAL,
    ci95_low REAL,
    ci95_high REAL,
    episodes INTEGER NOT NULL,
    per_task_json TEXT NOT NULL,
    vetoes_json TEXT NOT NULL,
    PRIMARY KEY (run_id, cycle)
);
CREATE TABLE jobs (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    cycle INTEGER NOT NULL,
    stage TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    exit_code INTEGER,
    log_path TEXT NOT NULL DEFAULT '',
    started_ts TEXT,
    finished_ts TEXT,
    output_json TEXT,
    PRIMARY KEY (run_id, cycle, stage)
);
"""

_V2 = """
CREATE TABLE approvals (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    candidate TEXT NOT NULL,
    cycle INTEGER NOT NULL,
    approver TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    ts TEXT NOT NULL,
    PRIMARY KEY (run_id, candidate)
);
CREATE INDEX evals_by_skill ON evals(run_id, split, skill_hash);
"""

#: Forward-only migrations: ``MIGRATIONS[i]`` takes the store from version ``i`` to
#: ``i + 1``. Never edit a released one; append a new one.
MIGRATIONS: tuple[str, ...] = (_V1, _V2)
SCHEMA_VERSION = len(MIGRATIONS)


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JobStore:
    """One run directory's store. ``path``: the SQLite file; ``upto``: migrate only to
    this version (tests of the migrations); ``read_only``: open without migrating or
    writing (``improve status`` on a run another process is writing)."""

    def __init__(self, path: Path | str, *, upto: int | None = None, read_only: bool = False):
        self.path = Path(path)
        if read_only:
            if not self.path.is_file():
                raise ConfigError(f"{self.path}: no improvement store here; is it a run dir?")
            self.conn = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, isolation_level=None, timeout=30
            )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA foreign_keys = ON")
        if not read_only:
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
            self.migrate(SCHEMA_VERSION if upto is None else upto)
        else:
            v = self.version
            if v > SCHEMA_VERSION:
                raise ConfigError(self._newer(v))

    # ------------------------------------------------------------- schema ---------
    @property
    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _newer(self, v: int) -> str:
        return (
            f"{self.path}: store schema version {v} is newer than this labtrust-gym's "
            f"({SCHEMA_VERSION}); upgrade labtrust-gym (migrations are forward only)"
        )

    def migrate(self, target: int = SCHEMA_VERSION) -> list[int]:
        """Apply the missing migrations up to ``target``; the versions applied."""
        v = self.version
        if v > SCHEMA_VERSION:
            raise ConfigError(self._newer(v))
        if target < v:
            raise ConfigError(
                f"{self.path}: cannot migrate from version {v} down to {target}: "
                "migrations are forward only"
            )
        done = []
        for i in range(v, min(target, SCHEMA_VERSION)):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in MIGRATIONS[i].split(";"):
                    if stmt.strip():
                        self.conn.execute(stmt)
                self.conn.execute(f"PRAGMA user_version = {i + 1}")
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            done.append(i + 1)
        return done

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ------------------------------------------------------------- runs -----------
    def create_run(
        self,
        run_id: str,
        *,
        config: Mapping[str, Any],
        config_hash: str,
        constitution_version: str,
        constitution_hash: str,
        seed: int,
        rung: str,
    ) -> None:
        now = _now()
        with self.transaction() as c:
            c.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    now,
                    json.dumps(config, sort_keys=True),
                    config_hash,
                    constitution_version,
                    constitution_hash,
                    int(seed),
                    "running",
                    "",
                    rung,
                    now,
                ),
            )

    def run(self, run_id: str | None = None) -> dict[str, Any]:
        rows = self.conn.execute("SELECT * FROM runs ORDER BY created_ts").fetchall()
        rows = [r for r in rows if run_id is None or r["run_id"] == run_id]
        if not rows:
            raise ConfigError(
                f"{self.path}: no run {run_id or ''} in this store".replace("  ", " ")
            )
        return dict(rows[0])

    def set_run_status(self, run_id: str, status: str, reason: str = "", c: Any = None) -> None:
        (c or self.conn).execute(
            "UPDATE runs SET status = ?, status_reason = ?, updated_ts = ? WHERE run_id = ?",
            (status, reason, _now(), run_id),
        )

    # ------------------------------------------------------------- jobs -----------
    def job(self, run_id: str, cycle: int, stage: str) -> dict[str, Any] | None:
        r = self.conn.execute(
            "SELECT * FROM jobs WHERE run_id = ? AND cycle = ? AND stage = ?",
            (run_id, cycle, stage),
        ).fetchone()
        return dict(r) if r else None

    def job_output(self, run_id: str, cycle: int, stage: str) -> Any:
        """The output of a ``done`` job (None when it is not done)."""
        j = self.job(run_id, cycle, stage)
        if j is None or j["status"] != "done":
            return None
        return json.loads(j["output_json"])

    def start_job(self, run_id: str, cycle: int, stage: str, pid: int, log_path: str) -> int:
        """Mark the job running (a new attempt); returns the attempt number."""
        with self.transaction() as c:
            r = c.execute(
                "SELECT attempt FROM jobs WHERE run_id = ? AND cycle = ? AND stage = ?",
                (run_id, cycle, stage),
            ).fetchone()
            attempt = (int(r[0]) if r else 0) + 1
            c.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, cycle, stage, "running", attempt, pid, None, log_path, _now(), None, None),
            )
        return attempt

    def finish_job(self, c: sqlite3.Connection, run_id: str, cycle: int, stage: str, output: Any):
        """Inside a :meth:`transaction`: the job is done with ``output`` (JSON)."""
        c.execute(
            "UPDATE jobs SET status = 'done', exit_code = 0, finished_ts = ?, output_json = ? "
            "WHERE run_id = ? AND cycle = ? AND stage = ?",
            (_now(), json.dumps(output, sort_keys=True), run_id, cycle, stage),
        )

    def fail_job(self, run_id: str, cycle: int, stage: str, error: str) -> None:
        with self.transaction() as c:
            c.execute(
                "UPDATE jobs SET status = 'failed', exit_code = 1, finished_ts = ?, "
                "output_json = ? WHERE run_id = ? AND cycle = ? AND stage = ?",
                (_now(), json.dumps({"error": error}), run_id, cycle, stage),
            )

    def pend_job(self, run_id: str, cycle: int, stage: str) -> None:
        """The job waits (for an approval): ``pending``, to be run again on resume."""
        with self.transaction() as c:
            c.execute(
                "UPDATE jobs SET status = 'pending' WHERE run_id = ? AND cycle = ? AND stage = ?",
                (run_id, cycle, stage),
            )

    def interrupted_jobs(self, run_id: str) -> list[dict[str, Any]]:
        """Jobs left ``running`` by a process that died; marked ``interrupted``."""
        rows = [
            dict(r)
            for r in self.conn.execute(
                "SELECT * FROM jobs WHERE run_id = ? AND status IN ('running', 'failed') "
                "ORDER BY cycle, started_ts",
                (run_id,),
            )
        ]
        if rows:
            with self.transaction() as c:
                for r in rows:
                    if r["status"] == "running":
                        c.execute(
                            "UPDATE jobs SET status = 'interrupted', exit_code = -9 "
                            "WHERE run_id = ? AND cycle = ? AND stage = ?",
                            (run_id, r["cycle"], r["stage"]),
                        )
        return rows

    def jobs(self, run_id: str) -> list[dict[str, Any]]:
        return [
            dict(r)
            for r in self.conn.execute(
                "SELECT * FROM jobs WHERE run_id = ? ORDER BY cycle, started_ts", (run_id,)
            )
        ]

    # ------------------------------------------------------------- candidates -----
    def add_candidate(
        self,
        c: sqlite3.Connection,
        run_id: str,
        h: str,
        *,
        kind: str,
        parent: str | None,
        cycle: int,
        path: str,
        status: str,
        score: float | None = None,
    ) -> None:
        c.execute(
            "INSERT OR IGNORE INTO candidates VALUES (?,?,?,?,?,?,?,0,?)",
            (run_id, h, kind, parent, cycle, path, status, score),
        )

    def set_candidate_status(
        self, c: sqlite3.Connection, run_id: str, h: str, status: str, score: float | None = None
    ) -> None:
        c.execute(
            "UPDATE candidates SET status = ?, selection_score = COALESCE(?, selection_score) "
            "WHERE run_id = ? AND hash = ?",
            (status, score, run_id, h),
        )

    def set_champion(self, c: sqlite3.Connection, run_id: str, h: str) -> None:
        """Inside a :meth:`transaction`: ``h`` becomes the run's only champion (the old
        one is ``retired``). The partial unique index refuses two champions even to a
        writer that skips this method."""
        n = c.execute(
            "SELECT COUNT(*) FROM candidates WHERE run_id = ? AND hash = ?", (run_id, h)
        ).fetchone()[0]
        if not n:
            raise ConfigError(f"run {run_id}: candidate {h} is not in the store")
        c.execute(
            "UPDATE candidates SET is_champion = 0, status = 'retired' "
            "WHERE run_id = ? AND is_champion = 1 AND hash != ?",
            (run_id, h),
        )
        c.execute(
            "UPDATE candidates SET is_champion = 1, status = 'champion' "
            "WHERE run_id = ? AND hash = ?",
            (run_id, h),
        )

    def champion(self, run_id: str) -> str | None:
        r = self.conn.execute(
            "SELECT hash FROM candidates WHERE run_id = ? AND is_champion = 1", (run_id,)
        ).fetchone()
        return str(r[0]) if r else None

    # ------------------------------------------------------------- rows -----------
    def insert(self, c: sqlite3.Connection, table: str, row: Mapping[str, Any]) -> None:
        """``INSERT OR REPLACE`` of a row given as a mapping (values that are not
        scalars are stored as JSON): a stage redone after a kill writes the same rows."""
        if table not in _TABLES:
            raise ConfigError(f"unknown store table {table!r}")
        cols = list(row)
        vals = [
            json.dumps(v, sort_keys=True) if isinstance(v, (dict, list, tuple)) else v
            for v in row.values()
        ]
        c.execute(
            f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) "  # noqa: S608 - names checked
            f"VALUES ({', '.join('?' for _ in cols)})",
            vals,
        )

    def rows(
        self,
        table: str,
        run_id: str,
        order: str = "cycle",
        where: str = "",
        args: Sequence[Any] = (),
    ) -> list[dict[str, Any]]:
        if table not in _TABLES:
            raise ConfigError(f"unknown store table {table!r}")
        q = f"SELECT * FROM {table} WHERE run_id = ? {where} ORDER BY {order}"  # noqa: S608
        return [dict(r) for r in self.conn.execute(q, (run_id, *args))]

    def approval(self, run_id: str, candidate: str) -> dict[str, Any] | None:
        r = self.conn.execute(
            "SELECT * FROM approvals WHERE run_id = ? AND candidate = ?", (run_id, candidate)
        ).fetchone()
        return dict(r) if r else None

    def approve(self, run_id: str, candidate: str, cycle: int, approver: str, note: str) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO approvals VALUES (?,?,?,?,?,?)",
                (run_id, candidate, cycle, approver, note, _now()),
            )

    def tables(self) -> list[str]:
        return [
            str(r[0])
            for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]


_TABLES = frozenset(
    {"runs", "cycles", "candidates", "proposals", "evals", "gate_results", "jobs", "approvals"}
)

#: For type checkers: a stage's writer gets the open transaction.
Writer = Callable[[sqlite3.Connection], None]
