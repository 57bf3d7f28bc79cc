"""SkillOpt's own trainer (``skillopt.engine.ReflACTTrainer``) drives our adapter for one
epoch, its OpenAI-compatible optimizer backend pointed at a fake server on 127.0.0.1
(ephemeral port, bounded, stops itself)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from labtrust_gym.skillopt.adapter import LabTrustSkillAdapter
from labtrust_gym.skillopt.document import load_skill
from labtrust_gym.testing.fake_openai import FakeOpenAI

MERGED = {
    "reasoning": "merged by the fake optimizer",
    "edits": [
        {"op": "insert_after", "target": "rules:", "content": "- stat_first", "support_count": 2}
    ],
}


@pytest.fixture
def clean_environ() -> Iterator[None]:
    """SkillOpt publishes its model settings in os.environ; put it back afterwards."""
    before = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


def test_skillopt_trainer_runs_an_epoch_with_our_adapter(
    tmp_path: Path, clean_environ: None
) -> None:
    from skillopt.engine import ReflACTTrainer

    seed = tmp_path / "seed.md"
    seed.write_text(load_skill("lab_team_weak_seed").text, encoding="utf-8")
    srv = FakeOpenAI(lambda body: json.dumps(MERGED), max_life_s=120).start()
    try:
        cfg = {
            "model_backend": "openai_chat",
            "azure_openai_endpoint": srv.url,
            "azure_openai_auth_mode": "openai_compatible",
            "azure_openai_api_key": "test",
            "optimizer_model": "fake-optimizer",
            "target_model": "fake-target",
            "skill_init": str(seed),
            "out_root": str(tmp_path / "run"),
            "num_epochs": 1,
            "train_size": 2,
            "batch_size": 1,
            "accumulation": 2,  # two failure patches: the aggregate stage calls the model
            "seed": 1,
            "merge_batch_size": 4,
            "edit_budget": 2,
            "analyst_workers": 1,
            "sel_env_num": 1,
            "test_env_num": 1,
            "eval_test": True,
            "use_gate": True,
            "gate_metric": "soft",
        }
        adapter = LabTrustSkillAdapter(["stat_insertion"])
        summary = ReflACTTrainer(cfg, adapter).train()
    finally:
        srv.stop()
    assert isinstance(summary, dict)
    merges = [r for r in srv.requests if r["path"].endswith("/chat/completions")]
    assert merges, "the optimizer model was never called"
    body = merges[0]["body"]
    assert body["model"] == "fake-optimizer"
    system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
    assert "edit proposals" in system  # our merge prompt, registered for SkillOpt
    assert "yaml labtrust-team" in user and "Patches to merge" in user
    run = tmp_path / "run"
    history = json.loads((run / "history.json").read_text())
    assert [h["action"] for h in history] == ["accept_new_best"]
    best = (run / "best_skill.md").read_text()
    assert "- stat_first" in best and adapter.check_skill(best) is None
    assert adapter.reference_skill == seed.read_text()
