"""Our optimization loop (``labtrust optimize-skill``) and the skill evaluation.

One step of :func:`optimize_skill`:

1. rollout: a training batch (:meth:`~.adapter.LabTrustSkillAdapter.build_train_env`)
   played with the current skill;
2. reflect: raw patches (rules, or LLM with the rules as fallback), plus any planted
   patches (``plant``: the gate's ablation);
3. aggregate (de-duplicate, support summed, failure edits first), select (the step's
   edit budget), update (per-edit report);
4. the candidate played on the selection split (cached by content hash) and
   :func:`~.gate.gate_decision` against the current skill; without the gate
   (``use_gate=False``) every candidate is accepted and the log says what the gate would
   have decided. Edits of a rejected or vetoed candidate go to the rejected buffer,
   which reflect reads.

Outputs in ``out_dir`` (all written atomically): ``skills/<hash>.md`` for every version
and ``versions.jsonl`` (hash, parent, step, action), ``gate_log.jsonl`` (one record a
step), ``events.jsonl`` (LLM reflect fallbacks), ``best_skill.md``, ``final_skill.md``,
``config.json``, and the final report on the test split (``report.json``,
``report.md``): the seed skill against the best one (or, without the gate, the final
one) on the same test episodes, with paired 95% CIs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.outputs import atomic_write_json, atomic_write_text, check_output_dir
from labtrust_gym.rng import derive_seed
from labtrust_gym.skillopt.adapter import LabTrustSkillAdapter
from labtrust_gym.skillopt.document import SkillDoc, skill_hash
from labtrust_gym.skillopt.gate import GateConfig, gate_decision, mean_score
from labtrust_gym.skillopt.optimizer import Schedule, aggregate, select, summarize_reports, update
from labtrust_gym.skillopt.splits import DEFAULT_TASK_TYPES
from labtrust_gym.skillopt.types import GateResult, Patch

__all__ = [
    "OptimizeConfig",
    "train_step",
    "optimize_skill",
    "evaluate_skill",
    "paired_report",
    "report_markdown",
]

#: Metrics the paired report compares (besides hard and soft), when episodes have them.
REPORT_METRICS = (
    "on_time_rate",
    "stat_on_time_rate",
    "wrongly_released",
    "detection_delay_s",
    "stockout_s",
    "throughput",
    "critical_violations",
)


@dataclass(frozen=True)
class OptimizeConfig:
    """Budgets of one optimization run (``labtrust optimize-skill`` options)."""

    task_types: tuple[str, ...] = DEFAULT_TASK_TYPES
    epochs: int = 3
    steps_per_epoch: int = 1
    batch_size: int = 8
    selection_episodes: int = 8
    test_episodes: int = 16
    schedule: str = "constant"
    max_edits: int = 2
    min_edits: int = 1
    gate: GateConfig = field(default_factory=GateConfig)
    use_gate: bool = True
    seed: int = 0
    reflect: str = "rules"
    llm: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "epochs",
            "steps_per_epoch",
            "batch_size",
            "selection_episodes",
            "test_episodes",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["task_types"] = list(self.task_types)
        return d


def _jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


class _Cache:
    """Selection rollouts by skill content hash (a skill is played once per split)."""

    def __init__(self, adapter: LabTrustSkillAdapter, batch: Any) -> None:
        self.adapter, self.batch = adapter, batch
        self.results: dict[str, list[dict[str, Any]]] = {}

    def get(self, text: str) -> list[dict[str, Any]]:
        h = skill_hash(text)
        if h not in self.results:
            self.results[h] = self.adapter.rollout(self.batch, text, None)
        return self.results[h]


def train_step(
    adapter: LabTrustSkillAdapter,
    current: str,
    *,
    step: int,
    batch_size: int,
    budget: int,
    seed: int,
    plant: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One training step without the gate: rollout a training batch, reflect,
    aggregate, select ``budget`` edits, update. Returns ``{batch, results, raw,
    merged, selected, candidate, reports}`` (``candidate`` equals ``current`` when no
    edit applied)."""
    batch = adapter.build_train_env(batch_size, derive_seed(seed, "skillopt-step", step))
    results = adapter.rollout(batch, current, None)
    raw = [*adapter.reflect(results, current, None), *[dict(p) for p in plant]]
    merged = aggregate(raw)
    # The rejected buffer holds for every source (planted patches included).
    merged = Patch([e for e in merged.edits if e.key not in adapter.rejected], merged.reasoning)
    chosen = select(merged, budget) if merged.edits else Patch([], merged.reasoning)
    candidate, reports = update(current, chosen, reference=adapter.reference_skill)
    return {
        "batch": batch,
        "results": results,
        "raw": raw,
        "merged": merged,
        "selected": chosen,
        "candidate": candidate,
        "reports": reports,
    }


def optimize_skill(
    seed_skill: SkillDoc,
    cfg: OptimizeConfig,
    out_dir: Path | str,
    *,
    executor: Any = None,
    plant: Sequence[Mapping[str, Any]] = (),
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the loop of the module docstring; returns the summary (also ``report.json``)."""
    out = check_output_dir(out_dir, "optimize-skill output directory")
    adapter = LabTrustSkillAdapter(
        cfg.task_types,
        reference_skill=seed_skill.text,
        executor=executor,
        reflect_mode=cfg.reflect,
        llm=cfg.llm,
        budget=cfg.max_edits,
    )
    total = cfg.epochs * cfg.steps_per_epoch
    schedule = Schedule(cfg.schedule, cfg.max_edits, cfg.min_edits, total)
    atomic_write_json(
        out / "config.json",
        {
            "config": cfg.to_dict(),
            "seed_skill": seed_skill.name,
            "plan": adapter.plan.to_dict(),
            "planted_patches": [dict(p) for p in plant],
        },
    )
    sel = _Cache(adapter, adapter.build_eval_env(cfg.selection_episodes, "valid_seen", cfg.seed))
    versions: list[dict[str, Any]] = []
    gate_log: list[dict[str, Any]] = []

    def save_version(text: str, parent: str | None, step: int, action: str) -> str:
        h = skill_hash(text)
        if all(v["hash"] != h for v in versions):
            atomic_write_text(out / "skills" / f"{h}.md", text)
            versions.append({"hash": h, "parent": parent, "step": step, "action": action})
            _jsonl(out / "versions.jsonl", versions)
        return h

    current = best = seed_skill.text
    current_score = best_score = mean_score(sel.get(current), cfg.gate)
    best_step = 0
    save_version(current, None, 0, "seed")
    done = 0
    for epoch in range(1, cfg.epochs + 1):
        for k in range(cfg.steps_per_epoch):
            step = (epoch - 1) * cfg.steps_per_epoch + k + 1
            budget = schedule.budget(step)
            st = train_step(
                adapter,
                current,
                step=step,
                batch_size=cfg.batch_size,
                budget=budget,
                seed=cfg.seed,
                plant=plant,
            )
            rec: dict[str, Any] = {
                "step": step,
                "epoch": epoch,
                "edit_budget": budget,
                "parent": skill_hash(current),
                "train": {
                    "hard": sum(r["hard"] for r in st["results"]) / len(st["results"]),
                    "soft": sum(r["soft"] for r in st["results"]) / len(st["results"]),
                    "episodes": [r["id"] for r in st["results"]],
                },
                "merged_edits": len(st["merged"].edits),
                "selected": [e.to_dict() for e in st["selected"].edits],
                "update": st["reports"],
                "update_summary": summarize_reports(st["reports"]),
            }
            candidate = st["candidate"]
            if candidate == current:
                rec.update(action="skip", reason="no edit applied: the skill is unchanged")
            else:
                cand_res = sel.get(candidate)
                g = gate_decision(
                    cand_res,
                    sel.get(current),
                    candidate_skill=candidate,
                    current_skill=current,
                    current_score=current_score,
                    best_skill=best,
                    best_score=best_score,
                    best_step=best_step,
                    step=step,
                    train_keys=adapter.train_keys,
                    cfg=cfg.gate,
                )
                rec["candidate"] = skill_hash(candidate)
                rec["selection"] = {
                    "candidate_score": mean_score(cand_res, cfg.gate),
                    "current_score": current_score,
                    "candidate_hard": sum(r["hard"] for r in cand_res) / len(cand_res),
                }
                rec.update(g.to_dict())
                if cfg.use_gate:
                    applied = g
                else:
                    rec["gate_would_have"] = g.action
                    rec["gate_would_have_reason"] = g.reason
                    cs = mean_score(cand_res, cfg.gate)
                    new_best = cs > best_score
                    applied = GateResult(
                        "accept_new_best" if new_best else "accept",
                        candidate,
                        cs,
                        candidate if new_best else best,
                        cs if new_best else best_score,
                        step if new_best else best_step,
                        "gate disabled (--no-gate): accepted without checks",
                    )
                    rec.update(action=applied.action, reason=applied.reason)
                save_version(candidate, skill_hash(current), step, applied.action)
                if not applied.accepted and applied.action != "reject_unverified":
                    for e in st["selected"].edits:  # fed back to reflect
                        adapter.rejected.add(e.key)
                current, current_score = applied.current_skill, applied.current_score
                best, best_score, best_step = (
                    applied.best_skill,
                    applied.best_score,
                    applied.best_step,
                )
            rec["current"] = skill_hash(current)
            rec["best"] = skill_hash(best)
            gate_log.append(rec)
            _jsonl(out / "gate_log.jsonl", gate_log)
            done += 1
            if progress is not None:
                progress(done, total)
    _jsonl(out / "events.jsonl", adapter.events)
    atomic_write_text(out / "best_skill.md", best)
    atomic_write_text(out / "final_skill.md", current)
    final = best if cfg.use_gate else current
    test = adapter.build_eval_env(cfg.test_episodes, "test", cfg.seed)
    seed_test = adapter.rollout(test, seed_skill.text, None)
    final_test = seed_test if final == seed_skill.text else adapter.rollout(test, final, None)
    report = paired_report(seed_test, final_test, cfg.gate)
    summary = {
        "seed_skill": {"name": seed_skill.name, "hash": seed_skill.sha},
        "final_skill": {
            "hash": skill_hash(final),
            "which": "best (gated)" if cfg.use_gate else "final (no gate: last accepted)",
        },
        "use_gate": cfg.use_gate,
        "steps": total,
        "actions": {
            a: sum(1 for r in gate_log if r["action"] == a)
            for a in sorted({r["action"] for r in gate_log})
        },
        "selection": {
            "seed_score": mean_score(sel.get(seed_skill.text), cfg.gate),
            "best_score": best_score,
            "best_step": best_step,
        },
        "test": report,
        "events": len(adapter.events),
    }
    atomic_write_json(
        out / "report.json", {**summary, "test_episodes": {"seed": seed_test, "final": final_test}}
    )
    atomic_write_text(out / "report.md", report_markdown(summary))
    adapter.close()
    return summary


def evaluate_skill(
    skill: SkillDoc,
    task_types: Sequence[str],
    split: str,
    episodes: int,
    *,
    executor: Any = None,
    gate: GateConfig | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Play ``skill`` on the first ``episodes`` episodes of ``split``; ``{results,
    summary}`` with the mean hard and soft scores and their 95% CIs."""
    from labtrust_gym.benchmarks.metrics import mean_ci95

    adapter = LabTrustSkillAdapter(task_types, executor=executor)
    results = adapter.rollout(adapter.build_eval_env(episodes, split, seed), skill.text, None)
    per_type: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        per_type.setdefault(r["task_type"], []).append(r)
    summary = {
        "skill": {"name": skill.name, "hash": skill.sha},
        "split": adapter.build_eval_env(episodes, split, seed).split,
        "episodes": len(results),
        "hard": mean_ci95([r["hard"] for r in results]),
        "soft": mean_ci95([r["soft"] for r in results]),
        "score": mean_score(results, gate or GateConfig()),
        "by_task_type": {
            t: {
                "hard": mean_ci95([r["hard"] for r in rs]),
                "soft": mean_ci95([r["soft"] for r in rs]),
            }
            for t, rs in sorted(per_type.items())
        },
        "safety_events": sum(sum(r.get("safety", {}).values()) for r in results),
    }
    return {"results": results, "summary": summary}


def paired_report(
    seed: Sequence[Mapping[str, Any]], final: Sequence[Mapping[str, Any]], gate: GateConfig
) -> dict[str, Any]:
    """The seed skill against the final one on the same episodes: per row (score,
    hard, soft, metrics) the means, the paired difference (final - seed) with its 95%
    CI; and the safety events that are new in the final skill's episodes."""
    from labtrust_gym.benchmarks.metrics import mean_ci95, paired_diff_ci95
    from labtrust_gym.skillopt.gate import episode_score

    a = {(r["task_type"], r["seed"]): r for r in final}
    b = {(r["task_type"], r["seed"]): r for r in seed}
    keys = sorted(set(a) & set(b))

    def row(name: str, get: Callable[[Mapping[str, Any]], Any]) -> dict[str, Any]:
        fa = [get(a[k]) for k in keys]
        fb = [get(b[k]) for k in keys]
        return {
            "metric": name,
            "seed": mean_ci95(fb),
            "final": mean_ci95(fa),
            "diff": paired_diff_ci95(fa, fb),
        }

    def metric(k: str) -> Callable[[Mapping[str, Any]], Any]:
        def get(r: Mapping[str, Any]) -> Any:
            v = (r.get("metrics") or {}).get(k)
            return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

        return get

    rows = [
        row(f"score ({gate.metric})", lambda r: episode_score(r, gate)),
        row("hard", lambda r: float(r["hard"])),
        row("soft", lambda r: float(r["soft"])),
    ]
    for name in REPORT_METRICS:
        if any(metric(name)(a[x]) is not None for x in keys):
            rows.append(row(name, metric(name)))
    new_events: dict[str, int] = {}
    for k in keys:
        sa, sb = a[k].get("safety") or {}, b[k].get("safety") or {}
        for ev, n in sa.items():
            extra = int(n) - int(sb.get(ev, 0))
            if extra > 0:
                new_events[ev] = new_events.get(ev, 0) + extra
    return {
        "episodes": len(keys),
        "rows": rows,
        "new_safety_events": dict(sorted(new_events.items())),
        "new_critical_violations": sum(
            n for e, n in new_events.items() if e.startswith("critical:")
        ),
    }


def _ci(s: Mapping[str, Any]) -> str:
    if s["mean"] is None:
        return "-"
    if s["ci95_low"] is None:
        return f"{s['mean']:.4g}"
    return f"{s['mean']:.4g} [{s['ci95_low']:.4g}, {s['ci95_high']:.4g}]"


def report_markdown(summary: Mapping[str, Any]) -> str:
    t = summary["test"]
    lines = [
        f"# Skill optimization: {summary['seed_skill']['name']}",
        "",
        f"Gate: {'on' if summary['use_gate'] else 'OFF (--no-gate)'}; steps: {summary['steps']}; "
        f"actions: {summary['actions']}.",
        f"Final skill: {summary['final_skill']['hash']} ({summary['final_skill']['which']}).",
        "",
        f"Test split, {t['episodes']} paired episodes (final - seed):",
        "",
        "| metric | seed | final | final - seed (paired) | CI excludes 0 |",
        "|---|---|---|---|---|",
    ]
    for r in t["rows"]:
        lines.append(
            f"| {r['metric']} | {_ci(r['seed'])} | {_ci(r['final'])} | {_ci(r['diff'])} | "
            f"{'yes' if r['diff']['excludes_zero'] else 'no'} |"
        )
    lines += [
        "",
        f"New safety events in the final skill's test episodes: "
        f"{t['new_safety_events'] or 'none'} (new critical violations: "
        f"{t['new_critical_violations']}).",
    ]
    return "\n".join(lines) + "\n"
