"""The improvement loop: propose, collect, train, eval, decide, apply, knowledge.

Control flow is deterministic Python persisted to the store; an LLM only makes advisory
proposals. Every stage of every cycle is a job (:mod:`.store`): its output and its rows
commit in one transaction with the job turning ``done``, then a ``stage_done`` event is
written and synced. :func:`resume_run` (and :func:`start_run`) replay the loop from the
top: a ``done`` stage is not run again, its stored output is used; an unfinished one is
run again from its inputs, which are earlier stages' outputs, so the run ends in the same
state as an uninterrupted one. A ``stage_done`` event lost to a kill between the commit
and the write is written on resume with ``recovered: true``.

Cycle 0 holds the ``baseline`` stage (the seed skill on the selection split) and the
optional ``final`` stage (the champion against the seed on the test split).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.improve.config import ImproveConfig
from labtrust_gym.improve.constitution import Constitution, ConstitutionError, Verdict
from labtrust_gym.improve.cycle import CycleStages, LoopState, Paused, StageResult
from labtrust_gym.improve.decide import DecideConfig
from labtrust_gym.improve.events import Event, EventBus
from labtrust_gym.improve.run_dir import (
    MANIFEST,
    RunPaths,
    read_manifest,
    write_manifest,
)
from labtrust_gym.improve.store import JobStore
from labtrust_gym.outputs import atomic_write_json, atomic_write_text

__all__ = ["CYCLE_STAGES", "Orchestrator", "Paused", "approve", "start_run", "resume_run"]

CYCLE_STAGES = ("propose", "collect", "train", "eval", "decide", "apply", "knowledge")


class Orchestrator(CycleStages):
    """One run directory's loop. Use :func:`start_run` / :func:`resume_run`."""

    def __init__(
        self,
        paths: RunPaths,
        cfg: ImproveConfig,
        constitution: Constitution,
        *,
        executor: Any = None,
        backend: Any = None,
        log: Callable[[str], None] | None = None,
        seed_text: str | None = None,
    ) -> None:
        from labtrust_gym.skillopt.document import SkillDoc, load_skill, skill_hash
        from labtrust_gym.skillopt.gate import GateConfig

        self.paths = paths
        self.cfg = cfg
        self.constitution = constitution
        self.run_id = cfg.run_id
        self.gate = GateConfig(**cfg.gate)
        self.decide_cfg = DecideConfig(**cfg.decide)
        self.seed_doc = (
            load_skill(cfg.skill) if seed_text is None else SkillDoc.from_text(seed_text, cfg.skill)
        )
        self.seed_hash = skill_hash(self.seed_doc.text)
        self._executor = executor
        self._backend = backend
        self.log = log or (lambda s: None)
        self.store: JobStore | None = None
        self.bus: EventBus | None = None
        self.adapter: Any = None

    # ------------------------------------------------------------- plumbing -------
    def emit(
        self, stage: str, kind: str, cycle: int, payload: Mapping[str, Any], sync: bool = False
    ):
        assert self.bus is not None
        return self.bus.emit(Event(self.run_id, stage, kind, cycle, dict(payload)), sync=sync)

    @contextmanager
    def _open_executor(self) -> Iterator[Any]:
        if self._executor is not None:
            yield self._executor
            return
        ex = self.cfg.executor
        kind = str(ex.get("kind", "inline"))
        if kind == "inline":
            yield None
            return
        from labtrust_gym.studies.executors import open_executor

        with open_executor(kind, ex.get("workers"), scheduler=ex.get("scheduler")) as h:
            yield h.executor

    def _backend_for_run(self) -> Any:
        spec = self.cfg.proposer.get("llm")
        if self._backend is not None or not spec:
            return self._backend
        from labtrust_gym.llm import make_backend

        self._backend = make_backend(
            str(spec), timeout_s=float(self.cfg.proposer.get("timeout_s", 20)), max_retries=0
        )
        return self._backend

    def stage(
        self,
        cycle: int,
        name: str,
        compute: Callable[..., StageResult],
        *args: Any,
    ) -> Any:
        """Run a stage as a job unless it is done (then its stored output is returned).
        ``compute(*args) -> (output, writer(conn), event payload)``."""
        assert self.store is not None
        done = self.store.job_output(self.run_id, cycle, name)
        if done is not None:
            return done
        log_rel = self.paths.log_rel(cycle, name)
        attempt = self.store.start_job(self.run_id, cycle, name, os.getpid(), log_rel)
        self.emit(name, "stage_started", cycle, {"attempt": attempt})
        self.log(f"cycle {cycle}: {name} ...")
        try:
            output, writer, summary = compute(*args)
        except ConstitutionError:
            self.store.fail_job(self.run_id, cycle, name, "fatal constitution denial")
            raise
        except Paused:
            self.store.pend_job(self.run_id, cycle, name)
            raise
        except Exception as exc:
            self.store.fail_job(self.run_id, cycle, name, f"{type(exc).__name__}: {exc}")
            self.emit(
                name, "stage_failed", cycle, {"error": f"{type(exc).__name__}: {exc}"[:500]}, True
            )
            raise
        atomic_write_text(
            self.paths.root / log_rel,
            json.dumps(
                {"cycle": cycle, "stage": name, "summary": summary}, indent=1, sort_keys=True
            )
            + "\n",
            fsync=False,
        )
        with self.store.transaction() as c:
            writer(c)
            self.store.finish_job(c, self.run_id, cycle, name, output)
        self.emit(name, "stage_done", cycle, summary, sync=True)
        return output

    def _deny(self, cycle: int, stage: str, v: Verdict, what: Mapping[str, Any]) -> None:
        self.constitution.enforce(v)  # raises on a fatal rule
        self.emit(
            stage,
            "constitution_denied",
            cycle,
            {"rule": v.rule, "reason": v.reason, "fatal": False, **dict(what)},
        )

    # ------------------------------------------------------------- run ------------
    def run(self) -> dict[str, Any]:
        """Run (or continue) the loop to its end, a pause or a fatal denial; the
        summary."""
        from labtrust_gym.skillopt.adapter import LabTrustSkillAdapter

        paths, store = self.paths, JobStore(self.paths.store)
        self.store = store
        with EventBus(paths.root) as bus, self._open_executor() as ex:
            self.bus = bus
            self.adapter = LabTrustSkillAdapter(
                self.cfg.task_types, reference_skill=self.seed_doc.text, executor=ex
            )
            try:
                self._startup()
                status, reason = self._loop()
            except ConstitutionError as exc:
                status, reason = "stopped", str(exc)
                self.emit(
                    "run",
                    "constitution_denied",
                    0,
                    {"rule": exc.verdict.rule, "reason": exc.verdict.reason, "fatal": True},
                )
            except Paused as exc:
                status, reason = "awaiting_approval", str(exc)
            except Exception as exc:
                store.set_run_status(self.run_id, "failed", f"{type(exc).__name__}: {exc}"[:500])
                self.emit(
                    "run", "run_failed", 0, {"error": f"{type(exc).__name__}: {exc}"[:500]}, True
                )
                raise
            finally:
                if self._backend is not None and self.cfg.proposer.get("llm"):
                    self._backend.close()
            store.set_run_status(self.run_id, status, reason)
            self.emit("run", f"run_{status}", 0, {"reason": reason}, sync=True)
        summary = self.summary()
        store.close()
        return summary

    def _startup(self) -> None:
        """Fatal scope and network checks; a stage_done event lost to a kill is
        written now (``recovered``)."""
        assert self.store is not None
        c = self.constitution
        self.constitution.enforce(
            c.check_scope(self.cfg.task_types, self.cfg.ladder, self.cfg.lab_profile)
        )
        self.constitution.enforce(c.check_backend_spec(self.cfg.proposer.get("llm")))
        from labtrust_gym.improve.events import read_events

        seen = {
            (e["cycle"], e["stage"])
            for e in read_events(self.paths.root)
            if e["kind"] == "stage_done"
        }
        for j in self.store.jobs(self.run_id):
            if j["status"] == "done" and (j["cycle"], j["stage"]) not in seen:
                self.emit(
                    j["stage"],
                    "stage_done",
                    j["cycle"],
                    {"recovered": True, "attempt": j["attempt"]},
                    True,
                )

    # ------------------------------------------------------------- the loop -------
    def _loop(self) -> tuple[str, str]:
        from labtrust_gym.skillopt.document import skill_hash

        st = LoopState(
            self.seed_hash, {self.seed_hash: self.seed_doc.text}, rung=self.cfg.ladder[0]
        )
        base = self.stage(0, "baseline", self._baseline)
        st.selection[self.seed_hash] = base["results"]
        cycle = 0
        reason = ""
        while not reason:
            cycle += 1
            v = self.constitution.check_cycle(cycle)
            if cycle > self.cfg.cycles or not v.allowed:
                if not v.allowed:
                    self._deny(cycle, "run", v, {"what": "cycle"})
                reason = f"{cycle - 1} cycle(s) done (budget: {self.cfg.cycles})"
                break
            prop = self.stage(cycle, "propose", self._propose, cycle, st)
            st.llm_calls += prop["llm"]["calls"]
            st.llm_tokens += prop["llm"]["tokens"]
            for p in prop["proposals"]:
                if p["status"] == "rejected":
                    for e in p["proposal"]["edits"]:
                        if e.get("file", "skill") == "skill":
                            st.rejected.add((e["op"], e.get("target", ""), e.get("content", "")))
            chosen = prop["chosen"]
            col = self.stage(cycle, "collect", self._collect, cycle, chosen, st.texts[st.champion])
            st.train_keys.update((r["task_type"], int(r["seed"])) for r in col["results"])
            tr = self.stage(cycle, "train", self._train, cycle, st, chosen, col)
            cand = tr.get("candidate")
            if cand:
                st.texts[cand] = self.paths.read_candidate(cand)
            ev = self.stage(cycle, "eval", self._eval, cycle, st, cand)
            if cand and ev.get("results") is not None:
                st.selection[cand] = ev["results"]
            dec = self.stage(cycle, "decide", self._decide, cycle, st, cand, ev)
            gate = ev.get("gate")
            if cand and gate and gate["action"] not in ("accept", "accept_new_best"):
                for e in tr["selected"]:
                    st.rejected.add((e["op"], e.get("target", ""), e.get("content", "")))
            ap = self.stage(cycle, "apply", self._apply, cycle, st, cand, dec)
            st.champion = ap["champion"]
            st.history.append(dec["action"])
            st.rung = dec["rung"]
            self.stage(cycle, "knowledge", self._knowledge, cycle, st, cand, ev, dec, chosen)
            if dec["action"] == "stop":
                reason = f"stopped at cycle {cycle}: {dec['reason']}"
        if self.cfg.test_episodes > 0:
            self.stage(0, "final", self._final, st)
        atomic_write_text(self.paths.champion, st.texts[st.champion])
        assert skill_hash(st.texts[st.champion]) == st.champion
        return "completed", reason

    def summary(self) -> dict[str, Any]:
        from labtrust_gym.improve.run_dir import run_summary

        s = run_summary(self.paths.root)
        atomic_write_json(self.paths.root / "report.json", s)
        return s


def _refuse_live(paths: RunPaths) -> None:
    """A process holds the run's writer lock: it is running; leave its jobs alone."""
    from labtrust_gym.improve.run_dir import run_is_live

    if run_is_live(paths.root):
        raise ConfigError(
            f"{paths.root}: another process is running this run (its events lock is held); "
            "wait for it to finish or stop it first"
        )


def _check_profile(cfg: ImproveConfig) -> None:
    """The lab profile the command runs under (``labtrust --profile``, which sets
    ``LABTRUST_PROFILE`` for this process and its workers) must be the config's: it
    changes every episode, so a run records and keeps one."""
    active = os.environ.get("LABTRUST_PROFILE") or None
    if active != cfg.lab_profile:
        raise ConfigError(
            f"the improve config names lab profile {cfg.lab_profile or '(none)'!r} but the "
            f"command runs under {active or '(none)'!r}; run labtrust "
            + (f"--profile {cfg.lab_profile} " if cfg.lab_profile else "")
            + "improve ... (or set lab_profile in the config)"
        )


def _constitution_from_manifest(paths: RunPaths, man: Mapping[str, Any]) -> Constitution:
    doc = man["constitution"]["document"]
    c = Constitution(doc, str(paths.root / MANIFEST))
    if c.sha256 != man["constitution"]["hash"]:
        raise ConfigError(
            f"{paths.root / MANIFEST}: the constitution's hash does not match the document; "
            "the manifest was edited"
        )
    return c


def start_run(
    cfg: ImproveConfig,
    run_dir: Path | str,
    *,
    executor: Any = None,
    backend: Any = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Create ``run_dir`` (it must not hold a run yet) and run the loop."""
    from labtrust_gym.improve.constitution import load_constitution

    paths = RunPaths(Path(run_dir))
    _check_profile(cfg)
    if (paths.root / MANIFEST).exists():
        raise ConfigError(
            f"{paths.root}: already holds an improvement run; continue it with "
            f"labtrust improve resume {paths.root}, or choose another --out"
        )
    from labtrust_gym.outputs import check_output_dir

    check_output_dir(paths.root, "improve run directory")
    from labtrust_gym.skillopt.document import load_skill

    constitution = load_constitution(cfg.constitution)
    seed_text = load_skill(cfg.skill).text
    write_manifest(paths, cfg, constitution, seed_text)
    _init_run(paths, cfg, constitution)
    return Orchestrator(
        paths, cfg, constitution, executor=executor, backend=backend, log=log, seed_text=seed_text
    ).run()


def _init_run(paths: RunPaths, cfg: ImproveConfig, constitution: Constitution) -> None:
    """Create the run's row and its ``run_started`` event unless they exist (a start
    killed half-way is completed by resume)."""
    from labtrust_gym.improve.events import EVENTS_FILE

    store = JobStore(paths.store)
    try:
        try:
            store.run(cfg.run_id)
        except ConfigError:
            store.create_run(
                cfg.run_id,
                config=cfg.to_dict(),
                config_hash=cfg.sha256,
                constitution_version=constitution.version,
                constitution_hash=constitution.sha256,
                seed=cfg.seed,
                rung=cfg.ladder[0],
            )
    finally:
        store.close()
    with EventBus(paths.root) as bus:
        if bus.seq == 0 or not (paths.root / EVENTS_FILE).stat().st_size:
            bus.emit(
                Event(
                    cfg.run_id,
                    "run",
                    "run_started",
                    0,
                    {
                        "config_hash": cfg.sha256,
                        "constitution": constitution.version,
                        "constitution_hash": constitution.sha256,
                        "seed": cfg.seed,
                    },
                ),
                sync=True,
            )


def _seed_text(paths: RunPaths) -> str:
    """The seed skill the run started from (its copy in the run directory)."""
    return paths.read_candidate(str(read_manifest(paths)["seed_skill"]["hash"]))


def _load_run(paths: RunPaths) -> tuple[ImproveConfig, Constitution]:
    man = read_manifest(paths)
    cfg = ImproveConfig.from_mapping(man["config"], str(paths.root / MANIFEST))
    if cfg.sha256 != man["config_hash"]:
        raise ConfigError(f"{paths.root / MANIFEST}: config hash mismatch; the manifest was edited")
    return cfg, _constitution_from_manifest(paths, man)


def resume_run(
    run_dir: Path | str,
    *,
    executor: Any = None,
    executor_cfg: Mapping[str, Any] | None = None,
    backend: Any = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its store: finished stages are kept,
    unfinished ones run again. ``executor_cfg`` (``{kind, workers, scheduler}``)
    replaces the config's executor (results do not depend on it)."""
    paths = RunPaths(Path(run_dir))
    cfg, constitution = _load_run(paths)
    _check_profile(cfg)
    _refuse_live(paths)
    if executor_cfg:
        cfg = ImproveConfig.from_mapping({**cfg.to_dict(), "executor": dict(executor_cfg)})
    _init_run(paths, cfg, constitution)
    store = JobStore(paths.store)
    interrupted = store.interrupted_jobs(cfg.run_id)
    store.set_run_status(cfg.run_id, "running", "resumed")
    store.close()
    with EventBus(paths.root) as bus:
        bus.emit(
            Event(
                cfg.run_id,
                "run",
                "run_resumed",
                0,
                {
                    "unfinished": [
                        {"cycle": j["cycle"], "stage": j["stage"], "status": j["status"]}
                        for j in interrupted
                    ]
                },
            ),
            sync=True,
        )
    return Orchestrator(
        paths,
        cfg,
        constitution,
        executor=executor,
        backend=backend,
        log=log,
        seed_text=_seed_text(paths),
    ).run()


def approve(run_dir: Path | str, subject: str, *, approver: str, note: str = "") -> None:
    """Record an approval of the decision waiting on ``subject`` (a candidate hash, or
    ``cycle-N`` for a decision without a candidate). Refused when nothing waits on it."""
    paths = RunPaths(Path(run_dir))
    cfg, _ = _load_run(paths)
    _refuse_live(paths)
    store = JobStore(paths.store)
    try:
        waiting = store.rows("cycles", cfg.run_id, where="AND status = 'awaiting_approval'")
        match = [
            c for c in waiting if c["candidate"] == subject or f"cycle-{c['cycle']}" == subject
        ]
        if not match:
            known = [c["candidate"] or f"cycle-{c['cycle']}" for c in waiting]
            raise ConfigError(
                f"{paths.root}: no decision waits on {subject!r}; waiting: "
                f"{', '.join(known) or 'none'}"
            )
        store.approve(cfg.run_id, subject, int(match[0]["cycle"]), approver, note)
    finally:
        store.close()
    with EventBus(paths.root) as bus:
        bus.emit(
            Event(
                cfg.run_id,
                "apply",
                "approval_recorded",
                int(match[0]["cycle"]),
                {"subject": subject, "approver": approver, "note": note},
            ),
            sync=True,
        )
