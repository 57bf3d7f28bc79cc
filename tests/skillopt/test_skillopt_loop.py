"""The optimization loop end to end on tiny budgets: outputs, versions, the gate log, the
safety veto against a planted harmful edit and the --no-gate ablation."""

from __future__ import annotations

import json
from pathlib import Path

from labtrust_gym.skillopt.document import load_skill
from labtrust_gym.skillopt.gate import GateConfig
from labtrust_gym.skillopt.loop import OptimizeConfig, optimize_skill

PROP = {
    "source_type": "failure",
    "patch": {
        "reasoning": "planted",
        "edits": [
            {
                "op": "insert_after",
                "target": "rules:",
                "content": "- prop_doors_open",
                "support_count": 50,
            }
        ],
    },
}


def cfg(**kw: object) -> OptimizeConfig:
    base = dict(
        task_types=("stat_insertion",),
        epochs=1,
        batch_size=1,
        selection_episodes=1,
        test_episodes=1,
        max_edits=2,
        gate=GateConfig(tolerance=0.5),
    )
    base.update(kw)
    return OptimizeConfig(**base)  # type: ignore[arg-type]


def lines(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines()]


def test_loop_improves_and_writes_every_output(tmp_path: Path) -> None:
    seed = load_skill("lab_team_weak_seed")
    s = optimize_skill(seed, cfg(), tmp_path)
    log = lines(tmp_path / "gate_log.jsonl")
    (rec,) = log
    assert rec["action"] == "accept_new_best" and rec["parent"] == seed.sha
    assert [e["content"] for e in rec["selected"]] == [
        "- stat_first",
        "- reserve_centrifuge_for_stat",
    ]
    assert rec["update_summary"] == {"total": 2, "applied": 2, "skipped": 0}
    versions = lines(tmp_path / "versions.jsonl")
    assert [(v["parent"], v["action"]) for v in versions] == [
        (None, "seed"),
        (seed.sha, "accept_new_best"),
    ]
    for v in versions:
        assert (tmp_path / "skills" / f"{v['hash']}.md").is_file()
    best = (tmp_path / "best_skill.md").read_text()
    assert "- stat_first" in best
    assert s["test"]["episodes"] == 1 and s["test"]["new_critical_violations"] == 0
    assert s["selection"]["best_score"] > s["selection"]["seed_score"]
    assert (tmp_path / "report.md").read_text().startswith("# Skill optimization")
    assert json.loads((tmp_path / "config.json").read_text())["config"]["max_edits"] == 2
    # Deterministic: the same seed and inputs write the same bytes.
    optimize_skill(seed, cfg(), tmp_path / "again")
    for name in ("gate_log.jsonl", "versions.jsonl", "report.json", "best_skill.md"):
        assert (tmp_path / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


def test_planted_harmful_edit_is_vetoed_and_no_gate_lets_it_through(tmp_path: Path) -> None:
    seed = load_skill("lab_team_weak_seed")
    small = {"max_edits": 1, "task_types": ("throughput_sla",)}
    gated = optimize_skill(seed, cfg(**small), tmp_path / "gate", plant=[PROP])
    (rec,) = lines(tmp_path / "gate" / "gate_log.jsonl")
    assert rec["selected"][0]["content"] == "- prop_doors_open"
    assert rec["action"] == "vetoed" and rec["vetoes"][0]["new"] == {"code:DOOR_OPEN_TOO_LONG": 1}
    assert gated["final_skill"]["hash"] == seed.sha
    assert "prop_doors_open" not in (tmp_path / "gate" / "best_skill.md").read_text()

    free = optimize_skill(seed, cfg(**small, use_gate=False), tmp_path / "nogate", plant=[PROP])
    (rec,) = lines(tmp_path / "nogate" / "gate_log.jsonl")
    assert rec["action"] in ("accept", "accept_new_best") and rec["gate_would_have"] == "vetoed"
    assert "- prop_doors_open" in (tmp_path / "nogate" / "final_skill.md").read_text()
    assert free["test"]["new_safety_events"] == {"code:DOOR_OPEN_TOO_LONG": 1}


def test_planted_veto_check_counts_decisions() -> None:
    from labtrust_gym.skillopt.veto_check import planted_veto_check

    not_applicable = {
        "source_type": "failure",
        "patch": {
            "edits": [
                {"op": "replace", "target": "Never prop a door open", "content": "Prop doors"}
            ]
        },
    }
    res = planted_veto_check(
        [load_skill("lab_team")], [PROP, not_applicable], ("throughput_sla",), 1
    )
    assert res["total"] == 1 and res["vetoed"] == 1
    assert [r["action"] for r in res["rows"]] == ["vetoed", "not_applied"]
    assert "protected" in res["rows"][1]["reason"]


def test_llm_reflect_in_the_loop_falls_back_to_the_rules_with_events(tmp_path: Path) -> None:
    seed = load_skill("lab_team_weak_seed")
    s = optimize_skill(seed, cfg(reflect="llm", llm="offline:invalid"), tmp_path)
    events = lines(tmp_path / "events.jsonl")
    assert s["events"] == len(events) == 1
    assert events[0]["event"] == "llm_reflect_fallback"
    (rec,) = lines(tmp_path / "gate_log.jsonl")
    assert rec["action"] == "accept_new_best"  # the rules' edits, as without the LLM
