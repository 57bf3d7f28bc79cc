"""The action codec: accepted forms, no coercion, one specific reason code per defect."""

from __future__ import annotations

import decimal
import subprocess
import sys
from typing import Any

import numpy as np
import orjson
import pytest

from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.engine.signatures import private_key_from_bytes
from labtrust_gym.envs import make_env
from labtrust_gym.envs.codec import REJECTION_CODES, Rejection, describe, json_problem
from labtrust_gym.policy.loader import load_policy
from labtrust_gym.testing.fuzz import NOT_JSON_VALUES


@pytest.fixture(scope="module")
def env0() -> Any:
    return make_env("throughput_sla", seed=0)


def _move_index(env: Any, agent: str) -> int:
    m = env.action_mask(agent)
    return next(i for i, (t, _) in enumerate(env.codec.entries) if t == "MOVE" and m[i])


def test_rejection_codes_are_registered() -> None:
    registry = load_policy()["reason_code_registry"]["reason_codes"]
    family = {r["code"]: r["family"] for r in registry}
    assert {family.get(c) for c in REJECTION_CODES} == {"ACTION"}


@pytest.mark.parametrize(
    "form",
    [
        lambda i: i,
        lambda i: np.int64(i),
        lambda i: np.int32(i),
        lambda i: np.uint16(i),
        lambda i: np.array(i),
        lambda i: np.array(i, dtype=np.uint8),
    ],
    ids=["int", "int64", "int32", "uint16", "0d-array", "0d-uint8"],
)
def test_integer_forms_decode_like_an_int(form: Any) -> None:
    env = make_env("throughput_sla", seed=0)
    i = _move_index(env, "runner_01")
    env.step({"runner_01": form(i)})
    assert env.last_results["A_RUNNER_01"]["status"] == "ACCEPTED"
    assert env.last_events["A_RUNNER_01"]["action_type"] == "MOVE"


NOT_INDICES: list[tuple[str, Any, str]] = [
    ("str digit", "3", "ACTION_INDEX_NOT_INTEGER"),
    ("str padded", " 7 ", "ACTION_INDEX_NOT_INTEGER"),
    ("arabic-indic digit", "\u0663", "ACTION_INDEX_NOT_INTEGER"),
    ("bytes", b"3", "ACTION_INDEX_NOT_INTEGER"),
    ("float", 3.9, "ACTION_INDEX_NOT_INTEGER"),
    ("integral float", 3.0, "ACTION_INDEX_NOT_INTEGER"),
    ("nan", float("nan"), "ACTION_INDEX_NOT_INTEGER"),
    ("inf", float("inf"), "ACTION_INDEX_NOT_INTEGER"),
    ("bool", True, "ACTION_INDEX_NOT_INTEGER"),
    ("numpy bool", np.bool_(True), "ACTION_INDEX_NOT_INTEGER"),
    ("numpy float", np.float32(3.0), "ACTION_INDEX_NOT_INTEGER"),
    ("0-d float array", np.array(3.0), "ACTION_INDEX_NOT_INTEGER"),
    ("Decimal", decimal.Decimal(3), "ACTION_INDEX_NOT_INTEGER"),
    ("negative", -1, "ACTION_INDEX_OUT_OF_RANGE"),
    ("huge", 2**70, "ACTION_INDEX_OUT_OF_RANGE"),
    ("uint64 max", np.uint64(2**64 - 1), "ACTION_INDEX_OUT_OF_RANGE"),
    ("list", [3], "ACTION_FORM_UNKNOWN"),
    ("1-d array", np.array([3]), "ACTION_FORM_UNKNOWN"),
    ("set", {3}, "ACTION_FORM_UNKNOWN"),
    ("object", object(), "ACTION_FORM_UNKNOWN"),
    ("contract float index", {"action_index": 3.9}, "ACTION_INDEX_NOT_INTEGER"),
    ("contract str index", {"action_index": "3"}, "ACTION_INDEX_NOT_INTEGER"),
    ("contract bool index", {"action_index": True}, "ACTION_INDEX_NOT_INTEGER"),
    ("contract index 6", {"action_index": 6}, "ACTION_INDEX_OUT_OF_RANGE"),
    ("contract inf index", {"action_index": float("inf")}, "ACTION_INDEX_NOT_INTEGER"),
    ("contract info list", {"action_index": 3, "action_info": ["Z"]}, "ACTION_INFO_NOT_MAPPING"),
    ("contract info str", {"action_index": 3, "action_info": "Z"}, "ACTION_INFO_NOT_MAPPING"),
    ("contract stray key", {"action_index": 1, "extra": 1}, "ACTION_FIELD_UNKNOWN"),
    (
        "contract args and stray",
        {"action_index": 3, "action_info": {"args": {"to_zone": "Z"}, "to": "Z"}},
        "ACTION_FIELD_UNKNOWN",
    ),
    (
        "contract type unhashable",
        {"action_index": 0, "action_info": {"action_type": ["MOVE"]}},
        "ACTION_TYPE_INVALID",
    ),
    ("empty dict", {}, "ACTION_FORM_UNKNOWN"),
    ("both forms", {"action_index": 1, "action_type": "TICK"}, "ACTION_FORM_UNKNOWN"),
    ("raw type list", {"action_type": ["MOVE"]}, "ACTION_TYPE_INVALID"),
    ("raw type dict", {"action_type": {"MOVE": 1}}, "ACTION_TYPE_INVALID"),
    ("raw type empty", {"action_type": ""}, "ACTION_TYPE_INVALID"),
    ("raw type None", {"action_type": None}, "ACTION_TYPE_INVALID"),
    ("raw stray key", {"action_type": "TICK", "note": "x"}, "ACTION_FIELD_UNKNOWN"),
    ("raw args list", {"action_type": "MOVE", "args": ["Z"]}, "ACTION_ARGS_NOT_MAPPING"),
    ("raw args empty str", {"action_type": "MOVE", "args": ""}, "ACTION_ARGS_NOT_MAPPING"),
    ("raw refs str", {"action_type": "TICK", "token_refs": "T1"}, "ACTION_TOKEN_REFS_INVALID"),
    ("raw refs ints", {"action_type": "TICK", "token_refs": [1]}, "ACTION_TOKEN_REFS_INVALID"),
    ("raw refs tuple", {"action_type": "TICK", "token_refs": ("T",)}, "ACTION_TOKEN_REFS_INVALID"),
    (
        "raw signature bytes",
        {"action_type": "TICK", "key_id": "K", "signature": b"\x00"},
        "ACTION_SIGNATURE_FIELDS_INVALID",
    ),
    ("raw key_id int", {"action_type": "TICK", "key_id": 5}, "ACTION_SIGNATURE_FIELDS_INVALID"),
    ("sign_with str", {"action_type": "TICK", "sign_with": "K"}, "ACTION_SIGN_WITH_INVALID"),
    (
        "sign_with no key",
        {"action_type": "TICK", "sign_with": ("K", "not a key")},
        "ACTION_SIGN_WITH_INVALID",
    ),
    (
        "sign_with triple",
        {"action_type": "TICK", "sign_with": (1, 2, 3)},
        "ACTION_SIGN_WITH_INVALID",
    ),
    (
        "sign_with and signature",
        {
            "action_type": "TICK",
            "sign_with": ("K", private_key_from_bytes(bytes(32))),
            "signature": "00",
        },
        "ACTION_SIGN_WITH_INVALID",
    ),
]


@pytest.mark.parametrize(
    ("name", "action", "code"), NOT_INDICES, ids=[n for n, _, _ in NOT_INDICES]
)
def test_no_coercion_and_a_specific_code(env0: Any, name: str, action: Any, code: str) -> None:
    env = env0
    before = env.engine.agents["A_RUNNER_01"].zone
    n = len(env.engine.audit)
    env.step({"runner_01": action})
    res = env.last_results["A_RUNNER_01"]
    assert res["status"] == "BLOCKED" and res["blocked_reason_code"] == code
    assert env.engine.agents["A_RUNNER_01"].zone == before
    assert len(env.engine.audit) >= n + 1  # the rejection is in the audit log


@pytest.mark.parametrize("value", [f() for f in NOT_JSON_VALUES], ids=repr)
def test_args_that_are_not_canonical_json_are_blocked(env0: Any, value: Any) -> None:
    env0.step({"runner_01": {"action_type": "MOVE", "args": {"to_zone": value}}})
    res = env0.last_results["A_RUNNER_01"]
    assert res["blocked_reason_code"] == "ACTION_ARGS_NOT_JSON"
    problem = env0.last_events["A_RUNNER_01"]["problem"]
    assert problem.startswith("args.to_zone") or problem.startswith("args")


def test_json_problem_accepts_canonical_json_unchanged() -> None:
    ok = {
        "s": "S1",
        "n": np.str_("np-str"),  # a str subclass: written as the same string
        "i": -(2**63),
        "u": 2**64 - 1,
        "f": 1.5,
        "b": True,
        "z": None,
        "l": [1, {"k": ["v"]}],
        "unicode": "\u0663 \U0001f9ea",
    }
    assert json_problem(ok) is None
    assert orjson.loads(canonical_json(ok)) == {**ok, "n": "np-str"}
    assert "64 bits" in str(json_problem({"x": 2**64}))
    assert "not UTF-8" in str(json_problem({"\ud800": 1}))
    assert "keys are strings" in str(json_problem({"a": {1: 2}}))
    assert "deeper than" in str(json_problem({"a": [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}))


def test_accepted_forms(env0: Any) -> None:
    env = make_env("throughput_sla", seed=0)
    env.step(
        {
            "runner_01": {"action_index": 3, "action_info": {"to_zone": "Z_CORRIDOR"}},
            "runner_02": {
                "action_index": 3,
                "action_info": {"action_type": "MOVE", "args": {"to_zone": "Z_RECEPTION"}},
            },
            "reception_01": {"action_type": "TICK"},  # args and token_refs default empty
            "qc_01": {"action_index": 1, "action_info": None},
            "scientist_01": None,  # no action
        }
    )
    assert {a: r["status"] for a, r in env.last_results.items()} == {
        "A_RUNNER_01": "ACCEPTED",
        "A_RUNNER_02": "ACCEPTED",
        "A_RECEPTION_01": "ACCEPTED",
        "A_QC_01": "ACCEPTED",
    }
    assert env.last_events["A_RUNNER_02"]["args"] == {"to_zone": "Z_RECEPTION"}


def test_a_rejection_is_audited_without_changing_state() -> None:
    env = make_env("throughput_sla", seed=0)
    eng = env.engine
    state = eng.state_dict()
    state.pop("audit")
    n = len(eng.audit)
    rej = env.codec.decode({"action_type": "MOVE", "args": {"to_zone": {1, 2}}})
    assert isinstance(rej, Rejection)
    stub = {"event_id": "r", "t_s": eng.now, "agent_id": "A_RUNNER_01", "rejected_action": "x"}
    out = eng.reject(stub, rej.code)
    assert out["status"] == "BLOCKED" and out["blocked_reason_code"] == "ACTION_ARGS_NOT_JSON"
    assert len(eng.audit) == n + 1 and eng.audit.verify() == (True, None)
    rec = orjson.loads(eng.audit.record_bytes(n))
    assert rec["event"] == stub and rec["outcome"]["status"] == "BLOCKED"
    after = eng.state_dict()
    after.pop("audit")
    assert after.pop("_seq") == state.pop("_seq") + 1
    assert after == state
    with pytest.raises(ValueError, match="not registered"):
        eng.reject(stub, "NOT_A_CODE")


_DESCRIBE = """
from labtrust_gym.envs.codec import describe
class O: pass
print(describe([{"b", "a", "c"}, O(), "\\ud800", b"x", float("nan"), 2**5000]))
"""


def test_describe_is_deterministic_across_processes() -> None:
    outs = set()
    for seed in ("0", "1", "2"):
        p = subprocess.run(
            [sys.executable, "-c", _DESCRIBE],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        )
        outs.add(p.stdout)
    assert len(outs) == 1
    text = outs.pop()
    assert "0x" not in text and "frozenset" not in text and "{'a', 'b', 'c'}" in text
    assert describe("\ud800").encode("utf-8")  # always valid UTF-8


def test_an_episode_log_with_rejections_replays(tmp_path: Any) -> None:
    from labtrust_gym.benchmarks.replay import replay_log
    from labtrust_gym.envs import REJECTION_CODES
    from labtrust_gym.evidence.episode_log import write_episode_log

    env = make_env("throughput_sla", record_log=True)
    env.reset(seed=0)
    denied = env.codec.index[("RELEASE_RESULT", 0)]  # RBAC: blocked before the clock
    for k in range(20):
        env.step(
            {
                "runner_01": "3" if k % 2 else {"action_type": "MOVE", "args": {"x": {1}}},
                "reception_01": denied,
            }
        )
    rejected = [r for r in env.log if r["type"] == "event" and r.get("rejected")]
    assert len(rejected) == 20
    assert {r["rejected"] for r in rejected} <= set(REJECTION_CODES)
    assert any(r["type"] == "tick" for r in env.log)
    path = tmp_path / "ep.jsonl"
    write_episode_log(env, path, sign=False)
    rep = replay_log(path)
    assert rep["ok"] and rep["head_hash"] == env.engine.audit.head_hash


def test_to_engine_fills_an_index_and_refuses_what_is_not_an_action() -> None:
    env = make_env("throughput_sla", seed=0)
    i = env.codec.index[("MOVE", "Z_CORRIDOR")]
    assert env.codec.to_engine(env, "A_RUNNER_01", i) == {
        "action_type": "MOVE",
        "args": {"to_zone": "Z_CORRIDOR"},
        "token_refs": [],
    }
    assert env.codec.to_engine(env, "A_RUNNER_01", 0) is None
    with pytest.raises(ValueError, match="ACTION_INDEX_NOT_INTEGER"):
        env.codec.to_engine(env, "A_RUNNER_01", "3")
