"""Stage work: the collected episodes and the Optuna search (with the fast fake episode)."""

from __future__ import annotations

from pathlib import Path

from labtrust_gym.improve.stages import collect_episodes, team_numbers, train_optuna
from labtrust_gym.skillopt.adapter import LabTrustSkillAdapter
from labtrust_gym.skillopt.document import load_skill
from labtrust_gym.skillopt.gate import GateConfig
from labtrust_gym.skillopt.splits import EpisodeSpec, TaskType

SEED = load_skill("lab_team_weak_seed").text


def test_collect_adds_focus_episodes_from_the_train_split_only() -> None:
    ad = LabTrustSkillAdapter(["stat_insertion", "qc_cascade"])
    eps = collect_episodes(ad, seed=3, cycle=1, batch=4, focus_task="qc_cascade", focus=3)
    assert len(eps) == 7 and len({e.key for e in eps}) == 7
    assert sum(1 for e in eps if e.task_type.name == "qc_cascade") == 5
    assert all(e.split == "train" and e.seed in ad.plan.seeds("train") for e in eps)
    again = collect_episodes(ad, seed=3, cycle=1, batch=4, focus_task="qc_cascade", focus=3)
    assert again == eps
    other = collect_episodes(ad, seed=3, cycle=2, batch=4, focus_task="qc_cascade", focus=3)
    assert other != eps  # each cycle draws its own episodes
    fixed = collect_episodes(
        ad,
        seed=3,
        cycle=1,
        batch=2,
        focus_task="stat_insertion",
        focus=2,
        train_seeds=[1050, 1051, 1052],
    )
    taken = {e.key for e in fixed[:2]}
    want = [s for s in (1050, 1051, 1052) if ("stat_insertion", s) not in taken][:2]
    assert [e.seed for e in fixed[2:]] == want


def test_team_numbers_are_typed_as_written() -> None:
    assert team_numbers(SEED) == {
        "centrifuge_max_wait_s": 60,
        "qc_interval_s": 3600,
        "restock_margin_runs": -5,
    }


def test_optuna_search_is_deterministic_and_redone_from_scratch(
    tmp_path: Path, fake_episodes: None
) -> None:
    ad = LabTrustSkillAdapter(["stat_insertion"], reference_skill=SEED)
    eps = [EpisodeSpec(TaskType.parse("stat_insertion"), s, "train") for s in (1000, 1001)]
    db = tmp_path / "optuna" / "c001.db"

    def search() -> dict:
        return train_optuna(
            ad,
            eps,
            SEED,
            trials=4,
            seed=9,
            storage=db,
            gate=GateConfig(),
            reference=SEED,
            max_edits=2,
        )

    a = search()
    assert db.is_file() and len(a["trials"]) == 4
    assert a["trials"][0]["params"] == {"centrifuge_max_wait_s": 60, "qc_interval_s": 3600}
    best = max(a["trials"], key=lambda t: t["value"])
    changed = {k: v for k, v in best["params"].items() if v != team_numbers(SEED)[k]}
    # the candidate is the best trial's parameters written into the block
    assert team_numbers(a["candidate"]) == {**team_numbers(SEED), **changed}
    assert [e["content"] for e in a["selected"]] == [
        f"{k}: {v}" for k, v in sorted(changed.items())
    ]
    b = search()  # a redone stage (e.g. after a kill) starts a fresh study
    assert b == a
