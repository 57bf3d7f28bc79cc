"""SkillOpt I/O types: the reference's fields and dict round trips."""

from __future__ import annotations

import dataclasses

import pytest

from labtrust_gym.errors import ConfigError
from labtrust_gym.skillopt.types import (
    EDIT_OPS,
    GATE_ACTIONS,
    BatchSpec,
    Edit,
    GateResult,
    Patch,
    RolloutResult,
)


def test_fields_match_the_reference() -> None:
    assert [f.name for f in dataclasses.fields(Edit)] == [
        "op",
        "content",
        "target",
        "support_count",
        "source_type",
        "merge_level",
        "update_origin",
        "update_target",
    ]
    assert [f.name for f in dataclasses.fields(Patch)] == ["edits", "reasoning", "ranking_details"]
    assert [f.name for f in dataclasses.fields(BatchSpec)] == [
        "phase",
        "split",
        "seed",
        "batch_size",
        "payload",
        "metadata",
    ]
    assert [f.name for f in dataclasses.fields(GateResult)][:6] == [
        "action",
        "current_skill",
        "current_score",
        "best_skill",
        "best_score",
        "best_step",
    ]
    assert {"id", "hard", "soft", "extras"} <= {f.name for f in dataclasses.fields(RolloutResult)}
    assert EDIT_OPS == ("append", "insert_after", "replace", "delete")
    assert set(GATE_ACTIONS) == {
        "accept_new_best",
        "accept",
        "reject",
        "reject_unverified",
        "vetoed",
    }


@pytest.mark.parametrize("op", EDIT_OPS)
def test_edit_round_trip(op: str) -> None:
    e = Edit(op, "new", "old", 3, "failure", 1, "o", "t")
    d = e.to_dict()
    assert d == {
        "op": op,
        "content": "new",
        "target": "old",
        "support_count": 3,
        "source_type": "failure",
        "merge_level": 1,
        "update_origin": "o",
        "update_target": "t",
    }
    assert Edit.from_dict(d) == e
    assert Edit.from_dict({"op": op}).to_dict() == {"op": op, "content": ""}


def test_bad_edits() -> None:
    with pytest.raises(ConfigError, match="edit op 'rewrite'"):
        Edit.from_dict({"op": "rewrite"})
    with pytest.raises(ConfigError, match="source_type"):
        Edit("append", "x", source_type="maybe")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="mapping"):
        Edit.from_dict(["op"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="list"):
        Patch.from_dict({"edits": "x"})


def test_patch_round_trip() -> None:
    p = Patch([Edit("append", "a"), Edit("delete", target="b")], "why", {"selected_indices": [0]})
    assert Patch.from_dict(p.to_dict()) == p
    assert Patch.from_dict({}).to_dict() == {"reasoning": "", "edits": []}


def test_rollout_result_keeps_extras() -> None:
    d = {
        "id": "t/train/1",
        "hard": 1,
        "soft": 0.5,
        "task_type": "t",
        "seed": 1,
        "metrics": {"throughput": 3},
        "fail_reason": "",
    }
    r = RolloutResult.from_dict(d)
    assert (r.id, r.hard, r.soft, r.task_type) == ("t/train/1", 1, 0.5, "t")
    assert r.extras == {"seed": 1, "metrics": {"throughput": 3}}
    assert RolloutResult.from_dict(r.to_dict()) == r


def test_batch_spec_and_gate_result_round_trip() -> None:
    b = BatchSpec("eval", "valid_seen", 3, 2, [{"id": "x"}, {"id": "y"}], {"k": 1})
    assert len(b) == 2 and BatchSpec.from_dict(b.to_dict()) == b
    g = GateResult(
        "vetoed",
        "c",
        0.5,
        "b",
        0.6,
        2,
        "why",
        {"mean": 0.1},
        {"a": 0.1},
        ({"episode": "a/1", "new": {"code:X": 1}},),
    )
    assert GateResult.from_dict(g.to_dict(with_skills=True)) == g
    with pytest.raises(ConfigError):
        GateResult.from_dict({**g.to_dict(), "action": "force_accept"})
