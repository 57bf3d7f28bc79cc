"""The layout of a run directory, its manifest, and read-only views of a run.

Layout (``docs/improve.md``, "On-disk format")::

    RUN/
      manifest.json          run id, config (+ hash), constitution (document + hash), versions
      events.jsonl           hash-chained event log (events.py)
      events.lock            the single writer's flock
      store.sqlite           job store (store.py), WAL mode (+ -wal, -shm)
      candidates/<hash>.md   every skill version by content hash (the seed included)
      champion.md            the current champion's text
      logs/cNNN-<stage>.log  one JSON summary per job
      optuna/cNNN.db         the Optuna study of an optuna_params train stage
      knowledge/             knowledge pages (knowledge.py) unless knowledge_dir is set
      report.json            run_summary() at the end of each invocation

All files are written atomically (``labtrust_gym.outputs``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.outputs import atomic_write_json, atomic_write_text

__all__ = [
    "MANIFEST",
    "MANIFEST_SCHEMA",
    "RunPaths",
    "write_manifest",
    "read_manifest",
    "run_summary",
    "fingerprint",
    "run_is_live",
]

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "labtrust.improve.manifest.v1"


@dataclass(frozen=True)
class RunPaths:
    """Paths of one run directory."""

    root: Path

    @property
    def store(self) -> Path:
        return self.root / "store.sqlite"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def champion(self) -> Path:
        return self.root / "champion.md"

    @staticmethod
    def log_rel(cycle: int, stage: str) -> str:
        return f"logs/c{cycle:03d}-{stage}.log"

    def optuna_db(self, cycle: int) -> Path:
        return self.root / "optuna" / f"c{cycle:03d}.db"

    def knowledge(self, override: str | None = None) -> Path:
        return Path(override) if override else self.root / "knowledge"

    def write_candidate(self, text: str) -> str:
        """Store a skill version by content hash; its run-relative path."""
        from labtrust_gym.skillopt.document import skill_hash

        rel = f"candidates/{skill_hash(text)}.md"
        p = self.root / rel
        if not p.is_file() or p.read_text(encoding="utf-8") != text:
            atomic_write_text(p, text)
        return rel

    def read_candidate(self, h: str) -> str:
        from labtrust_gym.skillopt.document import skill_hash

        p = self.root / "candidates" / f"{h}.md"
        if not p.is_file():
            raise ConfigError(f"{p}: skill version {h} is missing from the run directory")
        text = p.read_text(encoding="utf-8")
        if skill_hash(text) != h:
            raise ConfigError(f"{p}: content does not match its hash {h} (edited?)")
        return text


def write_manifest(paths: RunPaths, cfg: Any, constitution: Any, seed_text: str) -> None:
    """Write ``manifest.json`` and the seed skill's text (``candidates/<hash>.md``), so
    a resumed run starts from the same seed even if the skill file changed since."""
    from labtrust_gym._version import __version__
    from labtrust_gym.improve.store import SCHEMA_VERSION
    from labtrust_gym.skillopt.document import skill_hash

    paths.write_candidate(seed_text)
    atomic_write_json(
        paths.root / MANIFEST,
        {
            "schema": MANIFEST_SCHEMA,
            "run_id": cfg.run_id,
            "config_hash": cfg.sha256,
            "config": cfg.to_dict(),
            "constitution": {
                "version": constitution.version,
                "hash": constitution.sha256,
                "source": Path(constitution.source).name,
                "document": constitution.doc,
            },
            "seed": cfg.seed,
            "seed_skill": {"ref": cfg.skill, "hash": skill_hash(seed_text)},
            "labtrust_gym_version": __version__,
            "store_schema_version": SCHEMA_VERSION,
        },
    )


def read_manifest(paths: RunPaths) -> dict[str, Any]:
    p = paths.root / MANIFEST
    if not p.is_file():
        raise ConfigError(f"{paths.root}: not an improvement run directory (no {MANIFEST})")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: not JSON ({exc.msg})") from None
    if doc.get("schema") != MANIFEST_SCHEMA:
        raise ConfigError(f"{p}: schema {doc.get('schema')!r}, expected {MANIFEST_SCHEMA}")
    return dict(doc)


def run_is_live(root: Path) -> bool:
    """Is a process writing this run now (its events lock held)?"""
    import fcntl
    import os

    lock = root / "events.lock"
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we took
    return False


def run_summary(root: Path | str) -> dict[str, Any]:
    """What ``labtrust improve status --json`` prints: the run row, each cycle (rung,
    proposals, gate, decision), the champion, the pending approvals and the chain check."""
    from labtrust_gym.improve.events import verify_chain
    from labtrust_gym.improve.store import JobStore

    paths = RunPaths(Path(root))
    man = read_manifest(paths)
    run_id = man["run_id"]
    store = JobStore(paths.store, read_only=True)
    try:
        run = store.run(run_id)
        cycles = store.rows("cycles", run_id)
        gates = {g["cycle"]: g for g in store.rows("gate_results", run_id)}
        props = store.rows("proposals", run_id, order="cycle, idx")
        jobs = store.jobs(run_id)
        champion = store.champion(run_id)
        final = store.job_output(run_id, 0, "final")
    finally:
        store.close()
    out_cycles = []
    for c in cycles:
        g = gates.get(c["cycle"])
        out_cycles.append(
            {
                "cycle": c["cycle"],
                "rung": c["rung"],
                "status": c["status"],
                "champion_before": c["champion_before"],
                "candidate": c["candidate"],
                "gate": None
                if g is None
                else {
                    "action": g["action"],
                    "mean_delta": g["mean_delta"],
                    "ci95": [g["ci95_low"], g["ci95_high"]],
                    "vetoes": len(json.loads(g["vetoes_json"])),
                },
                "decision": c["decision"],
                "decision_reason": c["decision_reason"],
                "champion_after": c["champion_after"],
                "proposals": [
                    {
                        "source": p["source"],
                        "status": p["status"],
                        "rule": p["rule"],
                        "reason": p["reason"],
                    }
                    for p in props
                    if p["cycle"] == c["cycle"]
                ],
            }
        )
    chain = verify_chain(paths.events) if paths.events.is_file() else {"ok": False, "events": 0}
    decisions = [c["decision"] for c in cycles if c["decision"]]
    return {
        "run_id": run_id,
        "status": run["status"],
        "status_reason": run["status_reason"],
        "live": run_is_live(paths.root),
        "rung": run["rung"],
        "champion": champion,
        "constitution": man["constitution"]["version"],
        "constitution_hash": man["constitution"]["hash"],
        "config_hash": man["config_hash"],
        "cycles": out_cycles,
        "decisions": decisions,
        "counts": {a: decisions.count(a) for a in sorted(set(decisions))},
        "rejected_proposals": sum(1 for p in props if p["status"] == "rejected"),
        "jobs": {
            s: sum(1 for j in jobs if j["status"] == s) for s in sorted({j["status"] for j in jobs})
        },
        "final_test": None if final is None else final["report"],
        "events": {"count": chain["events"], "chain_ok": chain["ok"], "head": chain.get("head")},
    }


def fingerprint(root: Path | str) -> dict[str, Any]:
    """The deterministic content of a run (no wall times, pids or attempts): the
    champion, the candidates, the cycles, the proposals, every eval row and gate result.
    Two runs of one config, interrupted or not, must have equal fingerprints."""
    from labtrust_gym.improve.store import JobStore

    paths = RunPaths(Path(root))
    man = read_manifest(paths)
    run_id = man["run_id"]
    store = JobStore(paths.store, read_only=True)
    try:

        def rows(table: str, order: str, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
            return [
                {k: v for k, v in r.items() if k not in drop}
                for r in store.rows(table, run_id, order=order)
            ]

        fp = {
            "champion": store.champion(run_id),
            "candidates": rows("candidates", "hash"),
            "cycles": rows("cycles", "cycle"),
            "proposals": rows("proposals", "cycle, idx"),
            "evals": rows("evals", "cycle, split, role, episode_id"),
            "gate_results": rows("gate_results", "cycle"),
            "job_outputs": {
                f"{j['cycle']}:{j['stage']}": json.loads(j["output_json"] or "null")
                for j in store.jobs(run_id)
                if j["status"] == "done"
            },
        }
    finally:
        store.close()
    return fp
