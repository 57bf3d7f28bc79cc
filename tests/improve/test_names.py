"""The leagents names the issue asks for, with their field orders."""

from __future__ import annotations

import dataclasses

import labtrust_gym.improve as imp


def test_reference_names_import_from_the_package() -> None:
    for name in (
        "Constitution",
        "Verdict",
        "ConstitutionError",
        "Event",
        "EventBus",
        "JobStore",
        "KnowledgeAgent",
        "Proposal",
        "EvalReport",
        "CheckpointRecord",
    ):
        assert name in imp.__all__ and hasattr(imp, name), name
    assert [f.name for f in dataclasses.fields(imp.Verdict)] == ["allowed", "rule", "reason"]
    assert [f.name for f in dataclasses.fields(imp.Event)] == [
        "run_id",
        "stage",
        "kind",
        "cycle",
        "payload",
    ]
    assert hasattr(imp.KnowledgeAgent, "ingest") and hasattr(imp.KnowledgeAgent, "lint")
    assert [n for n in dir(imp.Constitution) if n.startswith("check_")] == [
        "check_backend_spec",
        "check_cycle",
        "check_edit",
        "check_endpoint",
        "check_episodes",
        "check_lab_profile",
        "check_llm_call",
        "check_method",
        "check_scope",
        "check_seeds",
        "check_task",
        "check_wall_time",
    ]
