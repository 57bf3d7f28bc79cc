"""The ablations that carry issue 12's claims, on a few paired seeds: switching the team's
tactic off makes the task's metric worse, with a paired 95% CI that excludes 0."""

from __future__ import annotations

from functools import cache
from typing import Any

from labtrust_gym.benchmarks.ablations import (
    ABLATIONS,
    Ablation,
    ablation_markdown,
    main,
    run_ablation,
)
from labtrust_gym.benchmarks.runner import episode_seed, run_episode
from labtrust_gym.benchmarks.tasks import get_task, list_tasks


def _ab(task: str, name_part: str) -> Ablation:
    return next(a for a in ABLATIONS if a.task == task and name_part in a.name)


@cache
def _full(task: str, seeds: int) -> tuple[dict[str, Any], ...]:
    """The full team's episodes on the ablations' paired seeds (shared by two ablations)."""
    return tuple(run_episode(get_task(task)(), episode_seed(11, i))[0] for i in range(seeds))


def _row(res: dict[str, Any], metric: str) -> dict[str, Any]:
    return next(r for r in res["rows"] if r["metric"] == metric)


def test_every_task_has_an_ablation() -> None:
    assert set(list_tasks()) <= {a.task for a in ABLATIONS}


def test_stat_insertion_team_tactics_decide_stat_turnaround() -> None:
    ab = _ab("stat_insertion", "stat_tactics")
    res = run_ablation(ab, 4, 11, list(_full("stat_insertion", 4)))
    for metric in ("stat_tat_mean_s", "stat_tat_p50_s"):
        d = _row(res, metric)["diff"]
        assert d["n"] == 4 and d["excludes_zero"] and d["mean"] > 0, (metric, d)
    on_time = _row(res, "stat_on_time_rate")["diff"]
    assert on_time["mean"] < 0


def test_reagent_drain_bites_when_restock_is_never_or_late() -> None:
    full = list(_full("reagent_stockout", 3))
    assert all(m["packs_fetched"] >= 2 and m["restocks"] >= 2 for m in full)
    never = run_ablation(_ab("reagent_stockout", "never"), 3, 11, full)
    d = _row(never, "throughput")["diff"]
    assert d["excludes_zero"] and d["mean"] < -10, d
    assert _row(never, "stockout_s")["ablated"]["mean"] > 3000
    late = run_ablation(_ab("reagent_stockout", "late"), 3, 11, full)
    d = _row(late, "stockout_s")["diff"]
    assert d["excludes_zero"] and d["mean"] > 0, d
    assert _row(late, "runs_held_for_reagent")["diff"]["mean"] > 0
    text = ablation_markdown(late)
    assert "| stockout_s |" in text and "3 paired seeds" in text


def test_the_module_entry_writes_the_tables(tmp_path: Any) -> None:
    out = tmp_path / "t.md"
    assert main(["--task", "throughput_sla", "--seeds", "2", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("### throughput_sla: random team") and "| throughput |" in text


def test_prompt_injection_obedient_model_follows_what_the_resisting_one_ignores() -> None:
    ab = _ab("llm_prompt_injection", "obedient")
    res = run_ablation(ab, 2, 11)
    followed = _row(res, "injection.followed")
    assert followed["full"]["mean"] == 0
    assert followed["ablated"]["mean"] > 0
    assert _row(res, "injection.blocked_by_engine")["ablated"]["mean"] > 0
