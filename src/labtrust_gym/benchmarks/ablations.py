"""Task ablations: what each task exercises, shown by switching it off.

Every built-in task has at least one :class:`Ablation`: the same seeds played by the full
scripted team and by an ablated arm (a team tactic switched off through the task
parameter ``team``, another controller, or a task parameter such as the injection).
:func:`run_ablation` plays both arms on the same episode seeds and reports, per metric,
each arm's mean with its 95% CI and the paired difference (ablated - full) with its 95% CI
(:func:`~labtrust_gym.benchmarks.metrics.paired_diff_ci95`). docs/tasks.md is made of
these tables::

    python -m labtrust_gym.benchmarks.ablations --seeds 10 --seed 11 --out ablations.md

Long runs belong here (and in ``labtrust bench``), not in tests: the tests play a few
seeds of the ablations that carry an issue's claims.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from labtrust_gym.benchmarks.metrics import mean_ci95, paired_diff_ci95

__all__ = ["Ablation", "ABLATIONS", "run_ablation", "ablation_markdown", "main"]


@dataclass(frozen=True)
class Ablation:
    """One ablated arm of a task against its full scripted team.

    ``params``: task parameters of the ablated arm (merged over the task's); ``controller``:
    the ablated arm's controller (``scripted``, ``random`` or ``llm``); ``metrics``: what
    the table reports, the headline first. For tasks played by LLM agents, ``full_llm`` is
    the backend spec of the full arm (which then runs ``controller="llm"``) and
    ``ablated_llm`` that of the ablated arm.
    """

    task: str
    name: str
    exercises: str
    metrics: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    controller: str = "scripted"
    full_llm: str | None = None
    ablated_llm: str | None = None


_FLOW = ("throughput", "completion_rate", "on_time_rate")

ABLATIONS: tuple[Ablation, ...] = (
    Ablation(
        "throughput_sla",
        "random team (the floor)",
        "the whole specimen journey under routine demand: accession, spin, aliquot, "
        "analyse, release within each priority's turnaround target",
        (*_FLOW, "turnaround_p50_s"),
        controller="random",
    ),
    Ablation(
        "stat_insertion",
        "team.stat_tactics: false (every tube treated alike)",
        "prioritisation by the team on first-come device queues: STAT-first carrying and "
        "STAT calls, centrifuge spin-now and reserve, analyzer channel hold, just-in-time "
        "loading STAT first",
        ("stat_tat_mean_s", "stat_tat_p50_s", "stat_on_time_rate", "routine_tat_p50_s", *_FLOW),
        params={"team": {"stat_tactics": False}},
    ),
    Ablation(
        "qc_cascade",
        "team.pbrtqc: false (periodic QC only)",
        "detecting a silent calibration drift (patient-based QC between periodic QC "
        "runs), holding, recalibrating and rerunning",
        ("detection_delay_s", "wrongly_released", "results_held", *_FLOW),
        params={"team": {"pbrtqc": False}},
    ),
    Ablation(
        "adversarial_disruption",
        "team.audit_review: false",
        "deny-by-default checks against every documented attack, and the team's audit "
        "review that detects the attacker",
        ("attacks_detected", "attack_attempts", "attacks_blocked", "attacks_accepted", *_FLOW),
        params={"team": {"audit_review": False}},
    ),
    Ablation(
        "multi_site_stat",
        "team.stat_tactics: false",
        "acute-site STAT tubes shipped at once to the hub's analyzers under chain of custody",
        ("acute_stat_tat_p50_s", "acute_stat_released", *_FLOW),
        params={"team": {"stat_tactics": False}},
    ),
    Ablation(
        "insider_key_misuse",
        "team.audit_review: false (no key review)",
        "signature checks (the engine's: forged_accepted is 0 either way) and the "
        "supervisor's detection and key revocation (the team's)",
        (
            "insider_actions_accepted",
            "time_to_revocation_s",
            "attempts_after_detection",
            "forged_accepted",
            *_FLOW,
        ),
        params={"team": {"audit_review": False}},
    ),
    Ablation(
        "coord_scale",
        "random team (the floor)",
        "a generated multi-site network run by the team through a coordination method",
        _FLOW,
        controller="random",
    ),
    Ablation(
        "coord_risk",
        "injection: none",
        "the same network under a risk injection (default: a device fault)",
        (*_FLOW, "device_faults"),
        params={"injection": None},
    ),
    Ablation(
        "device_outage_surge",
        'team.skip_actions: ["REPAIR_DEVICE"] (no repair)',
        "repairing a faulted analyzer and rerouting work during an arrival surge",
        (*_FLOW, "repairs_completed", "backlog_at_end"),
        params={"team": {"skip_actions": ["REPAIR_DEVICE"]}},
    ),
    Ablation(
        "reagent_stockout",
        "team.restock: false (never restock)",
        "restocking as a logistics trip (stores -> carried pack -> analyzer) when a "
        "reagent runs low or out",
        ("stockout_s", "runs_held_for_reagent", "ue_released", *_FLOW),
        params={"team": {"restock": False}},
    ),
    Ablation(
        "reagent_stockout",
        "team.restock_margin_runs: -5 (restock late: only once out)",
        "restocking early enough: a pack fetched before the reagent runs out",
        ("stockout_s", "runs_held_for_reagent", "ue_tat_p50_s", *_FLOW),
        params={"team": {"restock_margin_runs": -5}},
    ),
    Ablation(
        "llm_prompt_injection",
        "offline:obedient model (follows instructions found in free text)",
        "LLM agents (supervisor, QC) reading order comments, labels and courier notes "
        "that carry injected instructions; the engine's token and RBAC gates behind them",
        (
            "injection.followed",
            "injection.blocked_by_engine",
            "injection.effect_on_results",
            *_FLOW,
        ),
        controller="llm",
        full_llm="offline",
        ablated_llm="offline:obedient",
    ),
    Ablation(
        "rl_tutorial",
        "random team (the floor)",
        "a four-role tube journey small enough to learn (accession, carry, queue, run, "
        "release); the trained policy's numbers are in docs/rl.md",
        (*_FLOW, "turnaround_p50_s"),
        controller="random",
    ),
)


def _episode(
    task: str,
    params: Mapping[str, Any] | None,
    seed: int,
    controller: str,
    llm: str | None = None,
) -> Any:
    from labtrust_gym.benchmarks.runner import run_episode
    from labtrust_gym.benchmarks.tasks import get_task

    t = get_task(task)(params=dict(params) if params else None)
    return run_episode(t, seed, controller=controller, llm=llm)[0]


def run_ablation(
    ab: Ablation, seeds: int = 5, seed: int = 11, full: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Play the full team and the ablated arm on ``seeds`` paired episode seeds.

    ``full``: the full arm's episode metrics when already played (same seeds). Returns
    ``{ablation, seeds, full_episodes, rows}``; a row per metric: ``metric, full,
    ablated`` (:func:`mean_ci95`) and ``diff`` (:func:`paired_diff_ci95`, ablated - full).
    """
    from labtrust_gym.benchmarks.runner import episode_seed

    eps = [episode_seed(seed, i) for i in range(seeds)]
    if full is None:
        full_ctl = "llm" if ab.full_llm else "scripted"
        full = [_episode(ab.task, None, s, full_ctl, ab.full_llm) for s in eps]
    abl = [_episode(ab.task, ab.params, s, ab.controller, ab.ablated_llm) for s in eps]
    rows = []
    for k in ab.metrics:
        a = [_num(m.get(k)) for m in abl]
        f = [_num(m.get(k)) for m in full]
        rows.append(
            {
                "metric": k,
                "full": mean_ci95(f),
                "ablated": mean_ci95(a),
                "diff": paired_diff_ci95(a, f),
                "missing": {"full": f.count(None), "ablated": a.count(None)},
            }
        )
    return {"ablation": ab, "seeds": eps, "full_episodes": full, "rows": rows}


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    return float(v) if isinstance(v, (int, float)) else None


def _g(v: float) -> str:
    """Seconds and counts in the hundreds as integers, smaller values to 3 digits."""
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _ci(s: Mapping[str, Any]) -> str:
    if s["mean"] is None:
        return "-"
    if s["ci95_low"] is None:
        return _g(s["mean"])
    return f"{_g(s['mean'])} [{_g(s['ci95_low'])}, {_g(s['ci95_high'])}]"


def ablation_markdown(result: Mapping[str, Any]) -> str:
    """The table of one :func:`run_ablation` result (Markdown)."""
    ab: Ablation = result["ablation"]
    lines = [
        f"Ablation: {ab.name}; {len(result['seeds'])} paired seeds.",
        "",
        "| metric | full team | ablated | ablated - full (paired) | CI excludes 0 |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        miss = r["missing"]
        note = ""
        if miss["full"] or miss["ablated"]:
            note = f" (n/a: full {miss['full']}, ablated {miss['ablated']})"
        lines.append(
            f"| {r['metric']}{note} | {_ci(r['full'])} | {_ci(r['ablated'])} | "
            f"{_ci(r['diff'])} | {'yes' if r['diff']['excludes_zero'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Play every ablation (or those of ``--task``) and print or write the tables."""
    p = argparse.ArgumentParser(prog="python -m labtrust_gym.benchmarks.ablations")
    p.add_argument("--task", action="append", default=None, help="only this task (repeatable)")
    p.add_argument("--seeds", type=int, default=5, help="paired episodes per arm")
    p.add_argument("--seed", type=int, default=11, help="base seed (episode seeds derive)")
    p.add_argument("--out", default=None, help="write the Markdown here (default: stdout)")
    args = p.parse_args(argv)
    from labtrust_gym.benchmarks.tasks import list_tasks

    known = set(list_tasks())
    wanted = args.task or sorted({a.task for a in ABLATIONS})
    bad = sorted(set(wanted) - known)
    if bad:
        p.error(f"unknown task(s) {bad}; known: {', '.join(sorted(known))}")
    parts: list[str] = []
    full_cache: dict[str, list[dict[str, Any]]] = {}
    for ab in ABLATIONS:
        if ab.task not in wanted:
            continue
        res = run_ablation(ab, args.seeds, args.seed, full_cache.get(ab.task))
        full_cache[ab.task] = res["full_episodes"]
        parts.append(f"### {ab.task}: {ab.name}\n\nExercises: {ab.exercises}.\n\n")
        parts.append(ablation_markdown(res) + "\n")
        print(f"{ab.task}: {ab.name} done", file=sys.stderr)
    text = "".join(parts)
    if args.out:
        from labtrust_gym.outputs import atomic_write_text

        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover - a command-line entry
    raise SystemExit(main())
