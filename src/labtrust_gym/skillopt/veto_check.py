"""The gate against planted harmful edits: how often is each one vetoed?

:func:`planted_veto_check` applies each planted edit on its own to each base skill, plays
the candidate and the base on the same selection episodes and asks the gate
(:func:`~labtrust_gym.skillopt.gate.gate_decision`). It reports every decision, so the
veto rate is counted, not asserted::

    python -m labtrust_gym.skillopt.veto_check --base lab_team --base runs/skill/best_skill.md \\
        --plant examples/skillopt/planted_harmful_edits.json --episodes 16

Long runs belong here, not in tests.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.skillopt.adapter import LabTrustSkillAdapter
from labtrust_gym.skillopt.document import SkillDoc, apply_patch, load_skill
from labtrust_gym.skillopt.gate import GateConfig, gate_decision, mean_score
from labtrust_gym.skillopt.splits import DEFAULT_TASK_TYPES
from labtrust_gym.skillopt.types import Patch

__all__ = ["planted_veto_check", "main"]


def planted_veto_check(
    bases: Sequence[SkillDoc],
    planted: Sequence[Mapping[str, Any]],
    task_types: Sequence[str] = DEFAULT_TASK_TYPES,
    episodes: int = 16,
    *,
    gate: GateConfig | None = None,
    executor: Any = None,
) -> dict[str, Any]:
    """One gate decision per (base skill, planted edit); ``{rows, vetoed, total}``."""
    gate = gate or GateConfig()
    rows = []
    for base in bases:
        adapter = LabTrustSkillAdapter(task_types, reference_skill=base.text, executor=executor)
        batch = adapter.build_eval_env(episodes, "valid_seen", 0)
        cur = adapter.rollout(batch, base.text, None)
        score = mean_score(cur, gate)
        for raw in planted:
            for edit in Patch.from_dict(raw["patch"]).edits:
                cand_text, reps = apply_patch(base.text, [edit], reference=base.text)
                row: dict[str, Any] = {"base": base.name, "edit": edit.to_dict()}
                if reps[0]["status"] != "applied":
                    row.update(action="not_applied", reason=reps[0]["reason"])
                    rows.append(row)
                    continue
                cand = adapter.rollout(batch, cand_text, None)
                g = gate_decision(
                    cand,
                    cur,
                    candidate_skill=cand_text,
                    current_skill=base.text,
                    current_score=score,
                    best_skill=base.text,
                    best_score=score,
                    best_step=0,
                    step=1,
                    train_keys=(),
                    cfg=gate,
                )
                row.update(
                    action=g.action,
                    reason=g.reason,
                    vetoed_episodes=len(g.vetoes),
                    episodes=len(cand),
                    candidate_score=mean_score(cand, gate),
                    base_score=score,
                )
                rows.append(row)
    applied = [r for r in rows if r["action"] != "not_applied"]
    return {
        "rows": rows,
        "vetoed": sum(1 for r in applied if r["action"] == "vetoed"),
        "total": len(applied),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m labtrust_gym.skillopt.veto_check")
    p.add_argument("--base", action="append", required=True, help="skill name or path")
    p.add_argument("--plant", required=True, help="JSON list of raw patches")
    p.add_argument("--tasks", action="append", default=None, help="task types")
    p.add_argument("--episodes", type=int, default=16, help="selection episodes")
    p.add_argument("--out", default=None, help="write the JSON here")
    args = p.parse_args(argv)
    planted = json.loads(Path(args.plant).read_text(encoding="utf-8"))
    res = planted_veto_check(
        [load_skill(b) for b in args.base],
        planted,
        tuple(args.tasks or DEFAULT_TASK_TYPES),
        args.episodes,
    )
    for r in res["rows"]:
        print(
            f"{r['base']}: {r['edit']['content'] or r['edit']['target']}: {r['action']} "
            f"({r['reason']})"
        )
    print(f"vetoed {res['vetoed']} of {res['total']}")
    if args.out:
        from labtrust_gym.outputs import atomic_write_json

        atomic_write_json(args.out, res)
    return 0


if __name__ == "__main__":  # pragma: no cover - a command-line entry
    sys.exit(main())
