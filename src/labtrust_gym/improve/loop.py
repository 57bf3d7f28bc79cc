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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.improve.config import ImproveConfig
from labtrust_gym.improve.constitution import Constitution, ConstitutionError, Verdict
from labtrust_gym.improve.decide import DecideConfig, decide
from labtrust_gym.improve.events import Event, EventBus
from labtrust_gym.improve.knowledge import KnowledgeAgent, task_summary
from labtrust_gym.improve.propose import propose_deterministic, propose_llm, scripted_proposals
from labtrust_gym.improve.records import CheckpointRecord, EvalReport, Proposal
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


@dataclass
class _State:
    champion: str
    texts: dict[str, str]
    selection: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rejected: set[tuple[str, str, str]] = field(default_factory=set)
    history: list[str] = field(default_factory=list)
    rung: str = ""
    train_keys: set[tuple[str, int]] = field(default_factory=set)
    llm_calls: int = 0
    llm_tokens: int = 0


class Paused(Exception):
    """The loop stopped to wait for a human approval."""


class Orchestrator:
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
    ) -> None:
        from labtrust_gym.skillopt.document import load_skill, skill_hash
        from labtrust_gym.skillopt.gate import GateConfig

        self.paths = paths
        self.cfg = cfg
        self.constitution = constitution
        self.run_id = cfg.run_id
        self.gate = GateConfig(**cfg.gate)
        self.decide_cfg = DecideConfig(**cfg.decide)
        self.seed_doc = load_skill(cfg.skill)
        self.seed_hash = skill_hash(self.seed_doc.text)
        self._executor = executor
        self._backend = backend
        self.log = log or (lambda s: None)
        self.store: JobStore | None = None
        self.bus: EventBus | None = None
        self.adapter: Any = None

    # ------------------------------------------------------------- plumbing -------
    def emit(self, stage: str, kind: str, cycle: int, payload: Mapping[str, Any], sync: bool = False):
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
        compute: Callable[[], tuple[Any, Callable[[Any], None], dict[str, Any]]],
    ) -> Any:
        """Run a stage as a job unless it is done (then its stored output is returned).
        ``compute() -> (output, writer(conn), event payload)``."""
        assert self.store is not None
        done = self.store.job_output(self.run_id, cycle, name)
        if done is not None:
            return done
        log_rel = self.paths.log_rel(cycle, name)
        attempt = self.store.start_job(self.run_id, cycle, name, os.getpid(), log_rel)
        self.emit(name, "stage_started", cycle, {"attempt": attempt})
        self.log(f"cycle {cycle}: {name} ...")
        try:
            output, writer, summary = compute()
        except ConstitutionError:
            self.store.fail_job(self.run_id, cycle, name, "fatal constitution denial")
            raise
        except Paused:
            self.store.pend_job(self.run_id, cycle, name)
            raise
        except Exception as exc:
            self.store.fail_job(self.run_id, cycle, name, f"{type(exc).__name__}: {exc}")
            self.emit(name, "stage_failed", cycle, {"error": f"{type(exc).__name__}: {exc}"[:500]}, True)
            raise
        atomic_write_text(
            self.paths.root / log_rel,
            json.dumps({"cycle": cycle, "stage": name, "summary": summary}, indent=1, sort_keys=True)
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
                self.emit("run", "run_failed", 0, {"error": f"{type(exc).__name__}: {exc}"[:500]}, True)
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

        seen = {(e["cycle"], e["stage"]) for e in read_events(self.paths.root) if e["kind"] == "stage_done"}
        for j in self.store.jobs(self.run_id):
            if j["status"] == "done" and (j["cycle"], j["stage"]) not in seen:
                self.emit(
                    j["stage"], "stage_done", j["cycle"], {"recovered": True, "attempt": j["attempt"]}, True
                )

    # ------------------------------------------------------------- the loop -------
    def _loop(self) -> tuple[str, str]:
        from labtrust_gym.skillopt.document import skill_hash

        st = _State(self.seed_hash, {self.seed_hash: self.seed_doc.text}, rung=self.cfg.ladder[0])
        base = self.stage(0, "baseline", self._baseline)
        st.selection[self.seed_hash] = base["results"]
        cycle = 0
        while True:
            cycle += 1
            v = self.constitution.check_cycle(cycle)
            if cycle > self.cfg.cycles or not v.allowed:
                if not v.allowed:
                    self._deny(cycle, "run", v, {"what": "cycle"})
                break
            prop = self.stage(cycle, "propose", lambda: self._propose(cycle, st))
            st.llm_calls += prop["llm"]["calls"]
            st.llm_tokens += prop["llm"]["tokens"]
            for p in prop["proposals"]:
                if p["status"] == "rejected":
                    for e in p["proposal"]["edits"]:
                        if e.get("file", "skill") == "skill":
                            st.rejected.add((e["op"], e.get("target", ""), e.get("content", "")))
            chosen = prop["chosen"]
            col = self.stage(cycle, "collect", lambda: self._collect(cycle, chosen, st.texts[st.champion]))
            st.train_keys.update((r["task_type"], int(r["seed"])) for r in col["results"])
            tr = self.stage(cycle, "train", lambda: self._train(cycle, st, chosen, col))
            cand = tr.get("candidate")
            if cand:
                st.texts[cand] = self.paths.read_candidate(cand)
            ev = self.stage(cycle, "eval", lambda: self._eval(cycle, st, cand))
            if cand and ev.get("results") is not None:
                st.selection[cand] = ev["results"]
            dec = self.stage(cycle, "decide", lambda: self._decide(cycle, st, cand, ev))
            gate = ev.get("gate")
            if cand and gate and gate["action"] not in ("accept", "accept_new_best"):
                for e in tr["selected"]:
                    st.rejected.add((e["op"], e.get("target", ""), e.get("content", "")))
            ap = self.stage(cycle, "apply", lambda: self._apply(cycle, st, cand, dec))
            st.champion = ap["champion"]
            st.history.append(dec["action"])
            st.rung = dec["rung"]
            self.stage(cycle, "knowledge", lambda: self._knowledge(cycle, st, cand, ev, dec, chosen))
            if dec["action"] == "stop":
                return "completed", f"stopped at cycle {cycle}: {dec['reason']}"
        if self.cfg.test_episodes > 0:
            self.stage(0, "final", lambda: self._final(st))
        atomic_write_text(self.paths.champion, st.texts[st.champion])
        assert skill_hash(st.texts[st.champion]) == st.champion
        return "completed", f"{cycle - 1} cycle(s) done (budget: {self.cfg.cycles})"

    # ------------------------------------------------------------- stages ---------
    def _rollout(self, episodes: list[Any], text: str) -> list[dict[str, Any]]:
        from labtrust_gym.improve.stages import scored
        from labtrust_gym.skillopt.types import BatchSpec

        batch = BatchSpec("eval", episodes[0].split if episodes else "", 0, len(episodes), episodes)
        return scored(self.adapter.rollout(batch, text, None), self.gate)

    def _eval_rows(self, c: Any, cycle: int, split: str, h: str, role: str, results: list[dict[str, Any]]):
        assert self.store is not None
        for r in results:
            self.store.insert(
                c,
                "evals",
                {
                    "run_id": self.run_id,
                    "cycle": cycle,
                    "split": split,
                    "skill_hash": h,
                    "role": role,
                    "episode_id": r["id"],
                    "task_type": r["task_type"],
                    "seed": int(r["seed"]),
                    "hard": float(r["hard"]),
                    "soft": float(r["soft"]),
                    "score": float(r["score"]),
                    "safety_json": json.dumps(r.get("safety") or {}, sort_keys=True),
                    "reason_codes_json": json.dumps(
                        {**(r.get("reason_codes") or {}), **(r.get("violation_reason_codes") or {})},
                        sort_keys=True,
                    ),
                },
            )

    def _baseline(self) -> tuple[Any, Callable[[Any], None], dict[str, Any]]:
        from labtrust_gym.skillopt.gate import mean_score

        eps = self.adapter.plan.eval_episodes("valid_seen", self.cfg.selection_episodes)
        v = self.constitution.check_episodes(len(eps), "the baseline evaluation")
        self.constitution.enforce(v)
        results = self._rollout(eps, self.seed_doc.text)
        score = mean_score(results, self.gate)
        path = self.paths.write_candidate(self.seed_doc.text)

        def write(c: Any) -> None:
            assert self.store is not None
            self.store.add_candidate(
                c, self.run_id, self.seed_hash, kind="seed", parent=None, cycle=0,
                path=path, status="champion", score=score,
            )
            self.store.set_champion(c, self.run_id, self.seed_hash)
            self._eval_rows(c, 0, "valid_seen", self.seed_hash, "champion", results)

        ck = CheckpointRecord(self.seed_hash, path, 0)
        return (
            {"results": results, "score": score, "checkpoint": ck.to_dict()},
            write,
            {"champion": self.seed_hash, "score": score, "episodes": len(results)},
        )

    def _propose(self, cycle: int, st: _State) -> tuple[Any, Callable[[Any], None], dict[str, Any]]:
        cfgp = self.cfg
        method = st.rung
        batch = cfgp.collect_episodes
        last = st.selection[st.champion]
        det = propose_deterministic(
            cycle, last, cfgp.task_types, method=method, collect_episodes=batch, rejected=st.rejected
        )
        candidates: list[tuple[Proposal, str]] = [
            (p, "") for p in scripted_proposals(
                cfgp.scripted_proposals, cycle, focus_task=det.focus_task, method=method,
                collect_episodes=batch,
            )
        ]
        usage = {"calls": 0, "tokens": 0}
        if cfgp.proposer.get("llm"):
            v = self.constitution.check_llm_call(st.llm_calls, st.llm_tokens)
            if not v.allowed:
                self._deny(cycle, "propose", v, {"source": "llm"})
                candidates.append((Proposal(cycle, "llm", det.focus_task, method, batch, name="llm"), v.rule + "|" + v.reason))
            else:
                p, why, usage = propose_llm(
                    self._backend_for_run(),
                    cycle,
                    skill_text=st.texts[st.champion],
                    last_eval=last,
                    task_types=cfgp.task_types,
                    method=method,
                    collect_episodes=batch,
                    rejected=st.rejected,
                    max_edits=cfgp.rung_params(method)["max_edits"],
                    max_tokens=int(cfgp.proposer.get("max_tokens", 1024)),
                )
                if p is None:
                    self.emit("propose", "llm_proposer_fallback", cycle, {"reason": why}, True)
                else:
                    candidates.append((p, ""))
        candidates.append((det, ""))
        rows: list[dict[str, Any]] = []
        accepted: list[Proposal] = []
        for p, pre in candidates:
            v = Verdict(False, *pre.split("|", 1)) if pre else self._check_proposal(p, st)
            if not v.allowed and not pre:
                self._deny(cycle, "propose", v, {"source": p.source, "name": p.name})
            status = "accepted" if v.allowed else "rejected"
            rows.append({"status": status, "rule": v.rule, "reason": v.reason, "proposal": p.to_dict()})
            if v.allowed:
                accepted.append(p)
        chosen: dict[str, Any] | None = None
        if accepted:
            lead = accepted[0]
            edits: list[dict[str, Any]] = []
            for p in accepted:
                for e in p.edits:
                    if e not in edits:
                        edits.append(dict(e))
            chosen = {**lead.to_dict(), "edits": edits, "sources": [p.source for p in accepted]}

        def write(c: Any) -> None:
            assert self.store is not None
            for i, r in enumerate(rows):
                self.store.insert(
                    c,
                    "proposals",
                    {
                        "run_id": self.run_id,
                        "cycle": cycle,
                        "idx": i,
                        "source": r["proposal"]["source"],
                        "status": r["status"],
                        "rule": r["rule"],
                        "reason": r["reason"],
                        "proposal_json": json.dumps(r["proposal"], sort_keys=True),
                    },
                )
            self.store.insert(
                c,
                "cycles",
                {
                    "run_id": self.run_id,
                    "cycle": cycle,
                    "rung": method,
                    "status": "running",
                    "champion_before": st.champion,
                },
            )

        return (
            {"proposals": rows, "chosen": chosen, "llm": usage},
            write,
            {
                "accepted": [p.source + "/" + p.name for p in accepted],
                "rejected": [
                    {"source": r["proposal"]["source"], "name": r["proposal"]["name"], "rule": r["rule"]}
                    for r in rows
                    if r["status"] == "rejected"
                ],
                "focus_task": chosen["focus_task"] if chosen else None,
                "method": method,
            },
        )

    def _check_proposal(self, p: Proposal, st: _State) -> Verdict:
        c = self.constitution
        v = c.check_method(p.method)
        if not v.allowed:
            return v
        v = c.check_task(p.focus_task)
        if not v.allowed:
            return v
        need = p.collect_episodes + self.cfg.focus_episodes + self.cfg.selection_episodes
        if p.method == "optuna_params":
            need += self.cfg.rung_params("optuna_params")["trials"] * (
                p.collect_episodes + self.cfg.focus_episodes
            )
        v = c.check_episodes(need, f"proposal {p.source}/{p.name}")
        if not v.allowed:
            return v
        v = c.check_seeds(p.train_seeds, self.adapter.plan.seeds("test"))
        if not v.allowed:
            return v
        for e in p.edits:
            v = c.check_edit(e, st.texts[st.champion], self.seed_doc.text)
            if not v.allowed:
                return v
        return Verdict(True)

    def _collect(self, cycle: int, chosen: Mapping[str, Any] | None, champion_text: str):
        from labtrust_gym.improve.stages import collect_episodes

        if chosen is None:
            return {"results": [], "skipped": "no accepted proposal"}, (lambda c: None), {"skipped": True}
        eps = collect_episodes(
            self.adapter,
            seed=self.cfg.seed,
            cycle=cycle,
            batch=int(chosen["collect_episodes"]),
            focus_task=str(chosen["focus_task"]),
            focus=self.cfg.focus_episodes,
            train_seeds=chosen.get("train_seeds") or (),
        )
        results = self._rollout(eps, champion_text)
        mean = sum(r["score"] for r in results) / len(results)
        return (
            {"results": results},
            lambda c: None,
            {"episodes": len(results), "mean_score": mean, "focus_task": chosen["focus_task"]},
        )

    def _train(self, cycle: int, st: _State, chosen: Mapping[str, Any] | None, col: Mapping[str, Any]):
        from labtrust_gym.improve.stages import train_optuna, train_rules
        from labtrust_gym.skillopt.document import skill_hash

        if chosen is None:
            return {"candidate": None, "selected": []}, (lambda c: None), {"skipped": True}
        champion = st.texts[st.champion]
        params = self.cfg.rung_params(st.rung)
        if st.rung == "optuna_params":
            from labtrust_gym.skillopt.splits import EpisodeSpec, TaskType

            eps = [
                EpisodeSpec(TaskType.parse(r["task_type"]), int(r["seed"]), "train")
                for r in col["results"]
            ]
            out = train_optuna(
                self.adapter,
                eps,
                champion,
                trials=int(params["trials"]),
                seed=int(self.cfg.seed) + cycle,
                storage=self.paths.optuna_db(cycle),
                gate=self.gate,
                reference=self.seed_doc.text,
                max_edits=int(params["max_edits"]),
            )
        else:
            out = train_rules(
                col["results"],
                champion,
                proposal_edits=[e for e in chosen["edits"] if e.get("file", "skill") == "skill"],
                rejected=st.rejected,
                max_edits=int(params["max_edits"]),
                reference=self.seed_doc.text,
            )
        text = out.pop("candidate")
        h = skill_hash(text)
        if text == champion:
            return (
                {**out, "candidate": None, "rung": st.rung},
                lambda c: None,
                {"candidate": None, "reason": "no edit applied", "rung": st.rung},
            )
        path = self.paths.write_candidate(text)

        def write(c: Any) -> None:
            assert self.store is not None
            self.store.add_candidate(
                c, self.run_id, h, kind="candidate", parent=st.champion, cycle=cycle,
                path=path, status="candidate",
            )
            c.execute(
                "UPDATE cycles SET candidate = ? WHERE run_id = ? AND cycle = ?", (h, self.run_id, cycle)
            )

        applied = [r for r in out["reports"] if r["status"] == "applied"]
        return (
            {**out, "candidate": h, "rung": st.rung, "checkpoint": CheckpointRecord(h, path, cycle, st.champion).to_dict()},
            write,
            {
                "candidate": h,
                "rung": st.rung,
                "edits": [{"op": e["op"], "target": e["target"][:80], "content": e["content"][:80]} for e in applied],
            },
        )

    def _eval(self, cycle: int, st: _State, cand: str | None):
        from labtrust_gym.improve.stages import gate_eval
        from labtrust_gym.skillopt.gate import mean_score

        if not cand:
            return {"results": None, "gate": None}, (lambda c: None), {"skipped": True}
        eps = self.adapter.plan.eval_episodes("valid_seen", self.cfg.selection_episodes)
        results = self._rollout(eps, st.texts[cand])
        champ = st.selection[st.champion]
        gate = gate_eval(
            results,
            champ,
            candidate=st.texts[cand],
            champion=st.texts[st.champion],
            cycle=cycle,
            train_keys=st.train_keys,
            gate=self.gate,
        )
        rep = EvalReport(
            cycle, "valid_seen", cand, st.champion, len(results),
            mean_score(results, self.gate), mean_score(champ, self.gate), gate,
        )
        paired = gate.get("paired") or {}

        def write(c: Any) -> None:
            assert self.store is not None
            self._eval_rows(c, cycle, "valid_seen", cand, "candidate", results)
            self._eval_rows(c, cycle, "valid_seen", st.champion, "champion", champ)
            self.store.insert(
                c,
                "gate_results",
                {
                    "run_id": self.run_id,
                    "cycle": cycle,
                    "candidate": cand,
                    "champion": st.champion,
                    "action": gate["action"],
                    "reason": gate["reason"],
                    "mean_delta": paired.get("mean"),
                    "ci95_low": paired.get("ci95_low"),
                    "ci95_high": paired.get("ci95_high"),
                    "episodes": len(results),
                    "per_task_json": json.dumps(gate.get("per_task") or {}, sort_keys=True),
                    "vetoes_json": json.dumps(gate.get("vetoes") or [], sort_keys=True),
                },
            )
            self.store.set_candidate_status(c, self.run_id, cand, "evaluated", rep.candidate_score)

        return (
            {"results": results, "gate": gate, "report": rep.to_dict()},
            write,
            {
                "candidate": cand,
                "champion": st.champion,
                "gate": gate["action"],
                "mean_delta": paired.get("mean"),
                "candidate_score": rep.candidate_score,
                "champion_score": rep.champion_score,
                "vetoes": len(gate.get("vetoes") or []),
            },
        )

    def _budget_left(self, cycle: int) -> bool:
        from datetime import UTC, datetime

        assert self.store is not None
        if cycle + 1 > self.cfg.cycles or not self.constitution.check_cycle(cycle + 1).allowed:
            return False
        created = self.store.run(self.run_id)["created_ts"]
        t0 = datetime.fromisoformat(created.replace("Z", "+00:00"))
        return self.constitution.check_wall_time((datetime.now(UTC) - t0).total_seconds()).allowed

    def _decide(self, cycle: int, st: _State, cand: str | None, ev: Mapping[str, Any]):
        from labtrust_gym.skillopt.gate import mean_score

        d = decide(
            ev.get("gate") if cand else None,
            st.history,
            champion_score=mean_score(st.selection[st.champion], self.gate),
            ladder=self.cfg.ladder,
            rung=st.rung,
            budget_left=self._budget_left(cycle),
            cfg=self.decide_cfg,
        )
        if d.action == "escalate":
            v = self.constitution.check_method(d.rung)
            if not v.allowed:
                self._deny(cycle, "decide", v, {"what": "escalate"})
        out = d.to_dict()

        def write(c: Any) -> None:
            c.execute(
                "UPDATE cycles SET decision = ?, decision_reason = ? WHERE run_id = ? AND cycle = ?",
                (d.action, d.reason, self.run_id, cycle),
            )

        return out, write, {"decision": d.action, "reason": d.reason, "rung": d.rung, "candidate": cand}

    def _apply(self, cycle: int, st: _State, cand: str | None, dec: Mapping[str, Any]):
        assert self.store is not None
        action = dec["action"]
        if self.constitution.needs_approval(action):
            subject = cand if (action == "promote" and cand) else f"cycle-{cycle}"
            if self.store.approval(self.run_id, subject) is None:
                with self.store.transaction() as c:
                    c.execute(
                        "UPDATE cycles SET status = 'awaiting_approval' WHERE run_id = ? AND cycle = ?",
                        (self.run_id, cycle),
                    )
                self.emit("apply", "awaiting_approval", cycle, {"decision": action, "candidate": subject}, True)
                raise Paused(
                    f"cycle {cycle}: decision {action} waits for an approval: labtrust improve "
                    f"approve {self.paths.root} {subject}"
                )
        new = cand if (action == "promote" and cand) else st.champion
        rung = str(dec["rung"])

        def write(c: Any) -> None:
            assert self.store is not None
            if action == "promote" and cand:
                self.store.set_champion(c, self.run_id, cand)
            elif cand:
                status = "rolled_back" if action == "rollback" else "rejected"
                self.store.set_candidate_status(c, self.run_id, cand, status)
            c.execute(
                "UPDATE cycles SET status = 'done', champion_after = ? WHERE run_id = ? AND cycle = ?",
                (new, self.run_id, cycle),
            )
            c.execute("UPDATE runs SET rung = ? WHERE run_id = ?", (rung, self.run_id))

        if action == "promote":
            atomic_write_text(self.paths.champion, st.texts[new])
        return {"champion": new, "promoted": new != st.champion}, write, {"champion": new, "decision": action}

    def _knowledge(self, cycle, st, cand, ev, dec, chosen):
        kroot = self.paths.knowledge(self.cfg.knowledge_dir)
        pages: list[str] = []
        agent = KnowledgeAgent(kroot)
        scores, codes = task_summary(st.selection[st.champion])
        pages = agent.ingest(
            run_id=self.run_id,
            cycle=cycle,
            task_scores=scores,
            task_codes=codes,
            champion=st.champion,
            candidate=cand,
            gate=ev.get("gate"),
            decision=dec,
            proposal=chosen or {"source": "none", "name": "", "edits": []},
        )
        return {"pages": pages}, (lambda c: None), {"pages": pages}

    def _final(self, st: _State):
        from labtrust_gym.skillopt.loop import paired_report

        eps = self.adapter.plan.eval_episodes("test", self.cfg.test_episodes)
        seed_res = self._rollout(eps, self.seed_doc.text)
        champ_res = seed_res if st.champion == self.seed_hash else self._rollout(eps, st.texts[st.champion])
        report = paired_report(seed_res, champ_res, self.gate)

        def write(c: Any) -> None:
            self._eval_rows(c, 0, "test", self.seed_hash, "seed", seed_res)
            self._eval_rows(c, 0, "test", st.champion, "champion", champ_res)

        score_row = report["rows"][0]["diff"]
        return (
            {"report": report, "champion": st.champion},
            write,
            {"champion": st.champion, "episodes": report["episodes"], "score_diff": score_row},
        )

    # ------------------------------------------------------------- summary --------
    def summary(self) -> dict[str, Any]:
        from labtrust_gym.improve.run_dir import run_summary

        s = run_summary(self.paths.root)
        atomic_write_json(self.paths.root / "report.json", s)
        return s


def _constitution_from_manifest(paths: RunPaths, man: Mapping[str, Any]) -> Constitution:
    doc = man["constitution"]["document"]
    c = Constitution(doc, str(paths.root / MANIFEST))
    if c.hash != man["constitution"]["hash"]:
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
    if (paths.root / MANIFEST).exists():
        raise ConfigError(
            f"{paths.root}: already holds an improvement run; continue it with "
            f"labtrust improve resume {paths.root}, or choose another --out"
        )
    from labtrust_gym.outputs import check_output_dir

    check_output_dir(paths.root, "improve run directory")
    constitution = load_constitution(cfg.constitution)
    write_manifest(paths, cfg, constitution)
    store = JobStore(paths.store)
    store.create_run(
        cfg.run_id,
        config=cfg.to_dict(),
        config_hash=cfg.hash,
        constitution_version=constitution.version,
        constitution_hash=constitution.hash,
        seed=cfg.seed,
        rung=cfg.ladder[0],
    )
    store.close()
    with EventBus(paths.root) as bus:
        bus.emit(
            Event(
                cfg.run_id,
                "run",
                "run_started",
                0,
                {
                    "config_hash": cfg.hash,
                    "constitution": constitution.version,
                    "constitution_hash": constitution.hash,
                    "seed": cfg.seed,
                },
            ),
            sync=True,
        )
    return Orchestrator(paths, cfg, constitution, executor=executor, backend=backend, log=log).run()


def _load_run(paths: RunPaths) -> tuple[ImproveConfig, Constitution]:
    man = read_manifest(paths)
    cfg = ImproveConfig.from_mapping(man["config"], str(paths.root / MANIFEST))
    if cfg.hash != man["config_hash"]:
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
    if executor_cfg:
        cfg = ImproveConfig.from_mapping({**cfg.to_dict(), "executor": dict(executor_cfg)})
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
                {"unfinished": [{"cycle": j["cycle"], "stage": j["stage"], "status": j["status"]} for j in interrupted]},
            ),
            sync=True,
        )
    return Orchestrator(paths, cfg, constitution, executor=executor, backend=backend, log=log).run()


def approve(run_dir: Path | str, subject: str, *, approver: str, note: str = "") -> None:
    """Record an approval of the decision waiting on ``subject`` (a candidate hash, or
    ``cycle-N`` for a decision without a candidate). Refused when nothing waits on it."""
    paths = RunPaths(Path(run_dir))
    cfg, _ = _load_run(paths)
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
