"""The work of each stage of a cycle, as methods the orchestrator inherits.

Each ``_<stage>`` method computes a stage from the loop state and the earlier stages'
outputs and returns ``(output, writer, summary)``: the JSON output stored in the job
row (what resume reuses), a writer that puts the stage's rows in the store inside the
job's commit transaction, and the payload of its ``stage_done`` event. Nothing here
commits or emits ``stage_*`` events itself (:meth:`.loop.Orchestrator.stage` does).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from labtrust_gym.improve.config import ImproveConfig
from labtrust_gym.improve.constitution import Constitution, ConstitutionError, Verdict
from labtrust_gym.improve.decide import DecideConfig, decide
from labtrust_gym.improve.knowledge import KnowledgeAgent, task_summary
from labtrust_gym.improve.propose import propose_deterministic, propose_llm, scripted_proposals
from labtrust_gym.improve.records import CheckpointRecord, EvalReport, Proposal
from labtrust_gym.improve.run_dir import RunPaths
from labtrust_gym.improve.store import JobStore
from labtrust_gym.outputs import atomic_write_text
from labtrust_gym.rng import derive_seed

__all__ = ["CycleStages", "Paused", "LoopState", "StageResult"]

#: ``(output, writer(conn), stage_done payload)``
StageResult = tuple[Any, Callable[[Any], None], dict[str, Any]]


@dataclass
class LoopState:
    """What the loop carries from stage to stage, rebuilt from the stages' stored
    outputs on resume: the champion, every skill text by hash, the selection episodes of
    each skill evaluated, the rejected-edit buffer, the decisions so far, the rung, the
    training episodes played (the gate checks they are held out) and the LLM usage."""

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


class CycleStages:
    """The stage computations (see the module docstring). The orchestrator sets the
    attributes below."""

    paths: RunPaths
    cfg: ImproveConfig
    constitution: Constitution
    run_id: str
    gate: Any
    decide_cfg: DecideConfig
    seed_doc: Any
    seed_hash: str
    store: JobStore | None
    adapter: Any

    def emit(
        self, stage: str, kind: str, cycle: int, payload: Mapping[str, Any], sync: bool = False
    ) -> dict[str, Any]:  # pragma: no cover - the orchestrator's
        raise NotImplementedError

    def _deny(self, cycle: int, stage: str, v: Verdict, what: Mapping[str, Any]) -> None:
        raise NotImplementedError  # pragma: no cover - the orchestrator's

    def _backend_for_run(self) -> Any:
        raise NotImplementedError  # pragma: no cover - the orchestrator's

    # ------------------------------------------------------------- stages ---------
    def _rollout(self, episodes: list[Any], text: str) -> list[dict[str, Any]]:
        from labtrust_gym.improve.stages import scored
        from labtrust_gym.skillopt.types import BatchSpec

        batch = BatchSpec("eval", episodes[0].split if episodes else "", 0, len(episodes), episodes)
        return scored(self.adapter.rollout(batch, text, None), self.gate)

    def _eval_rows(
        self, c: Any, cycle: int, split: str, h: str, role: str, results: list[dict[str, Any]]
    ):
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
                        {
                            **(r.get("reason_codes") or {}),
                            **(r.get("violation_reason_codes") or {}),
                        },
                        sort_keys=True,
                    ),
                },
            )

    def _baseline(self) -> tuple[Any, Callable[[Any], None], dict[str, Any]]:
        from labtrust_gym.skillopt.gate import mean_score

        eps = self.adapter.plan.eval_episodes("valid_seen", self.cfg.selection_episodes)
        v = self.constitution.check_episodes(len(eps), "the baseline evaluation")
        if not v.allowed:  # nothing to fall back on without a baseline: the run stops
            raise ConstitutionError(v)
        results = self._rollout(eps, self.seed_doc.text)
        score = mean_score(results, self.gate)
        path = self.paths.write_candidate(self.seed_doc.text)

        def write(c: Any) -> None:
            assert self.store is not None
            self.store.add_candidate(
                c,
                self.run_id,
                self.seed_hash,
                kind="seed",
                parent=None,
                cycle=0,
                path=path,
                status="champion",
                score=score,
            )
            self.store.set_champion(c, self.run_id, self.seed_hash)
            self._eval_rows(c, 0, "valid_seen", self.seed_hash, "champion", results)

        ck = CheckpointRecord(self.seed_hash, path, 0)
        return (
            {"results": results, "score": score, "checkpoint": ck.to_dict()},
            write,
            {"champion": self.seed_hash, "score": score, "episodes": len(results)},
        )

    def _propose(
        self, cycle: int, st: LoopState
    ) -> tuple[Any, Callable[[Any], None], dict[str, Any]]:
        cfgp = self.cfg
        method = st.rung
        batch = cfgp.collect_episodes
        last = st.selection[st.champion]
        det = propose_deterministic(
            cycle,
            last,
            cfgp.task_types,
            method=method,
            collect_episodes=batch,
            rejected=st.rejected,
        )
        # (proposal, verdict already given: the LLM budget is checked before the call)
        candidates: list[tuple[Proposal, Verdict | None]] = [
            (p, None)
            for p in scripted_proposals(
                cfgp.scripted_proposals,
                cycle,
                focus_task=det.focus_task,
                method=method,
                collect_episodes=batch,
            )
        ]
        usage = {"calls": 0, "tokens": 0}
        if cfgp.proposer.get("llm"):
            v = self.constitution.check_llm_call(st.llm_calls, st.llm_tokens)
            if not v.allowed:
                self._deny(cycle, "propose", v, {"source": "llm"})
                candidates.append(
                    (
                        Proposal(cycle, "llm", det.focus_task, method, batch, name="llm"),
                        v,
                    )
                )
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
                    candidates.append((p, None))
        candidates.append((det, None))
        rows: list[dict[str, Any]] = []
        accepted: list[Proposal] = []
        for p, given in candidates:
            v = given or self._check_proposal(p, st)
            if given is None and not v.allowed:
                self._deny(cycle, "propose", v, {"source": p.source, "name": p.name})
            status = "accepted" if v.allowed else "rejected"
            rows.append(
                {"status": status, "rule": v.rule, "reason": v.reason, "proposal": p.to_dict()}
            )
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
                    {
                        "source": r["proposal"]["source"],
                        "name": r["proposal"]["name"],
                        "rule": r["rule"],
                    }
                    for r in rows
                    if r["status"] == "rejected"
                ],
                "focus_task": chosen["focus_task"] if chosen else None,
                "method": method,
            },
        )

    def _check_proposal(self, p: Proposal, st: LoopState) -> Verdict:
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
            return (
                {"results": [], "skipped": "no accepted proposal"},
                (lambda c: None),
                {"skipped": True},
            )
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

    def _train(
        self, cycle: int, st: LoopState, chosen: Mapping[str, Any] | None, col: Mapping[str, Any]
    ):
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
                seed=derive_seed(self.cfg.seed, "improve-train", cycle),
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
                c,
                self.run_id,
                h,
                kind="candidate",
                parent=st.champion,
                cycle=cycle,
                path=path,
                status="candidate",
            )
            c.execute(
                "UPDATE cycles SET candidate = ? WHERE run_id = ? AND cycle = ?",
                (h, self.run_id, cycle),
            )

        applied = [r for r in out["reports"] if r["status"] == "applied"]
        return (
            {
                **out,
                "candidate": h,
                "rung": st.rung,
                "checkpoint": CheckpointRecord(h, path, cycle, st.champion).to_dict(),
            },
            write,
            {
                "candidate": h,
                "rung": st.rung,
                "edits": [
                    {"op": e["op"], "target": e["target"][:80], "content": e["content"][:80]}
                    for e in applied
                ],
            },
        )

    def _eval(self, cycle: int, st: LoopState, cand: str | None):
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
            cycle,
            "valid_seen",
            cand,
            st.champion,
            len(results),
            mean_score(results, self.gate),
            mean_score(champ, self.gate),
            gate,
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

    def _decide(self, cycle: int, st: LoopState, cand: str | None, ev: Mapping[str, Any]):
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
                "UPDATE cycles SET decision = ?, decision_reason = ? "
                "WHERE run_id = ? AND cycle = ?",
                (d.action, d.reason, self.run_id, cycle),
            )

        return (
            out,
            write,
            {"decision": d.action, "reason": d.reason, "rung": d.rung, "candidate": cand},
        )

    def _apply(self, cycle: int, st: LoopState, cand: str | None, dec: Mapping[str, Any]):
        assert self.store is not None
        action = dec["action"]
        if self.constitution.needs_approval(action):
            subject = cand if (action == "promote" and cand) else f"cycle-{cycle}"
            if self.store.approval(self.run_id, subject) is None:
                with self.store.transaction() as c:
                    c.execute(
                        "UPDATE cycles SET status = 'awaiting_approval' "
                        "WHERE run_id = ? AND cycle = ?",
                        (self.run_id, cycle),
                    )
                self.emit(
                    "apply",
                    "awaiting_approval",
                    cycle,
                    {"decision": action, "candidate": subject},
                    True,
                )
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
                "UPDATE cycles SET status = 'done', champion_after = ? "
                "WHERE run_id = ? AND cycle = ?",
                (new, self.run_id, cycle),
            )
            c.execute("UPDATE runs SET rung = ? WHERE run_id = ?", (rung, self.run_id))

        if action == "promote":
            atomic_write_text(self.paths.champion, st.texts[new])
        return (
            {"champion": new, "promoted": new != st.champion},
            write,
            {"champion": new, "decision": action},
        )

    def _knowledge(
        self,
        cycle: int,
        st: LoopState,
        cand: str | None,
        ev: Mapping[str, Any],
        dec: Mapping[str, Any],
        chosen: Mapping[str, Any] | None,
    ) -> StageResult:
        kroot = self.paths.knowledge(self.cfg.knowledge_dir)
        agent = KnowledgeAgent(kroot, emit=lambda k, p: self.emit("knowledge", k, cycle, p))
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

    def _final(self, st: LoopState):
        from labtrust_gym.skillopt.loop import paired_report

        eps = self.adapter.plan.eval_episodes("test", self.cfg.test_episodes)
        seed_res = self._rollout(eps, self.seed_doc.text)
        champ_res = (
            seed_res if st.champion == self.seed_hash else self._rollout(eps, st.texts[st.champion])
        )
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
