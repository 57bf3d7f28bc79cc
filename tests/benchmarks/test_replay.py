"""labtrust replay: v1 logs only, every field compared, clear errors, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from labtrust_gym.benchmarks.replay import replay_log
from labtrust_gym.benchmarks.runner import run_benchmark
from labtrust_gym.cli.main import main
from labtrust_gym.errors import ConfigError, LabTrustError
from labtrust_gym.evidence.tamper import rechain


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("replay")
    res = run_benchmark(
        "qc_cascade", 1, 3, params={"max_steps": 40}, log_dir=d / "logs", out=d / "r.json"
    )
    return d / "r.json", Path(res["logs"][0])


def test_a_results_file_is_named_as_such(
    run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    results, log = run
    with pytest.raises(ConfigError, match="is a results file .*not an episode log") as e:
        replay_log(results)
    assert str(log) in str(e.value)  # and it says which logs to replay
    assert main(["replay", str(results)]) == 2
    assert "results file" in capsys.readouterr().err


def test_a_log_from_before_v1_is_refused_clearly(tmp_path: Path) -> None:
    old = tmp_path / "old.jsonl"
    old.write_text(json.dumps({"type": "header", "task": "x", "seed": 1}) + "\n")
    with pytest.raises(ConfigError, match="before the labtrust.episode_log.v1 format"):
        replay_log(old)


def test_exit_codes(run: tuple[Path, Path], tmp_path: Path) -> None:
    _, log = run
    assert main(["replay", str(log)]) == 0
    lines = log.read_bytes().splitlines()
    recs = [json.loads(x) for x in lines]
    i = next(k for k, r in enumerate(recs) if r["type"] == "tick" and r["result"]["emits"])
    recs[i]["result"]["emits"] = recs[i]["result"]["emits"][1:]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(rechain(recs))  # chain recomputed: only the replay can tell
    rep = replay_log(bad)
    assert rep["chain_verifies"] and not rep["ok"]
    assert rep["first_mismatch"]["line"] == i + 1
    assert rep["first_mismatch"]["field"] == "result.emits"
    assert main(["replay", str(bad)]) == 1
    assert main(["replay", str(tmp_path / "missing.jsonl")]) == 2


def test_an_initial_state_the_engine_rejects_is_a_failed_replay(
    run: tuple[Path, Path], tmp_path: Path
) -> None:
    _, log = run
    recs = [json.loads(x) for x in log.read_bytes().splitlines()]
    recs[0]["initial_state"]["agents"][0]["role"] = "ROLE_NOPE"
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(rechain(recs))
    rep = replay_log(bad)
    assert not rep["ok"] and "the engine raised ConfigError" in rep["summary"]


def test_malformed_logs_never_give_a_traceback(run: tuple[Path, Path], tmp_path: Path) -> None:
    _, log = run
    good = log.read_bytes()
    rng = np.random.default_rng(1)
    recs = [json.loads(x) for x in good.splitlines()]
    junk: list[object] = [None, 0, -1, 10**40, 1e308, "x", [], {}, [1, 2], {"a": None}, True]
    cases: list[bytes] = [
        b"\n",
        b"[" * 5000 + b"]" * 5000 + b"\n",
        b'{"type":"header"}\n',
        b'{"type":"header","format":"labtrust.episode_log.v1"}\n',
        good.splitlines()[0] + b"\n",
        good[: len(good) // 2],
        b"\xff\xfe" + good[2:],
    ]
    for _ in range(40):
        mutated = json.loads(json.dumps(recs))
        for _ in range(int(rng.integers(1, 4))):
            r = mutated[int(rng.integers(len(mutated)))]
            # (not the fields the rewrite recomputes, nor the version, which is not compared)
            keys = sorted(
                set(r)
                - {"seq", "prev", "hash", "records", "initial_state_sha256", "package_version"}
            )
            k = keys[int(rng.integers(len(keys)))]
            if isinstance(r[k], dict) and r[k] and rng.random() < 0.6:
                sub = sorted(r[k])
                r[k][sub[int(rng.integers(len(sub)))]] = junk[int(rng.integers(len(junk)))]
            else:
                r[k] = junk[int(rng.integers(len(junk)))]
        if mutated != recs:
            cases.append(rechain(mutated))
    path = tmp_path / "m.jsonl"
    for data in cases:
        path.write_bytes(data)
        try:
            rep = replay_log(path)
        except LabTrustError:
            continue
        assert rep["ok"] is False, rep["summary"]


def test_files_with_no_log_line_are_bad_input(tmp_path: Path) -> None:
    for name, text, says in (
        ("a.txt", "not json\n", "not JSON and not an episode log"),
        ("b.json", '{\n  "a": 1\n}\n', "JSON, but not an episode log"),
        ("c.jsonl", '{"x": 1}\n[2]\n', "JSON, but not an episode log"),
    ):
        (tmp_path / name).write_text(text)
        with pytest.raises(ConfigError, match=says):
            replay_log(tmp_path / name)
