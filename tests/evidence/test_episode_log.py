"""Episode logs v1: header, chain over every line, footer, digest of the file, atomic
writes, signature sidecars kept out of the (byte-stable) log."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from labtrust_gym.benchmarks.runner import run_benchmark, run_episode
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.evidence.episode_log import episode_log_bytes, write_episode_log
from labtrust_gym.evidence.keys import AUDIT_KEY_ENV, generate_key_file
from labtrust_gym.evidence.log_format import GENESIS, LOG_FORMAT, chain_hash, unseal
from labtrust_gym.evidence.logcheck import ParsedLog, check_audit_chain, parse_log
from labtrust_gym.evidence.recount import recount_metrics
from labtrust_gym.outputs import TMP_PREFIX


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_bytes().splitlines()]


def test_header_footer_and_a_chain_over_every_line(run_dir: Path) -> None:
    res = json.loads((run_dir / "insider_key_misuse" / "results.json").read_text())
    log = Path(res["logs"][0])
    recs = _lines(log)
    h, f = recs[0], recs[-1]
    assert h["type"] == "header" and h["format"] == LOG_FORMAT
    assert (h["task"], h["seed"], h["max_steps"], h["dt_s"]) == (
        "insider_key_misuse",
        res["episodes"][0]["seed"],
        60,
        res["dt_s"],
    )
    assert h["policy_fingerprint"] == res["policy_fingerprint"]
    assert h["keys"] and all(len(k["public_key"]) == 64 for k in h["keys"].values())
    assert (
        h["initial_state_sha256"]
        == hashlib.sha256(
            json.dumps(
                h["initial_state"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
        ).hexdigest()
    )
    assert f["type"] == "footer" and f["records"] == len(recs) - 1
    assert f["steps"] == 60 and f["t_end_s"] == 60 * h["dt_s"]
    # Every line: seq, prev, and a hash over all of the line's other bytes.
    prev = GENESIS
    for i, raw in enumerate(log.read_bytes().splitlines()):
        body, claimed = unseal(raw)  # type: ignore[misc]
        assert json.loads(body)["seq"] == i and json.loads(body)["prev"] == prev
        assert chain_hash(prev, body) == claimed
        prev = claimed
    kinds = {r["type"] for r in recs[1:-1]}
    assert kinds == {"event", "tick"}
    ev = next(r for r in recs if r["type"] == "event" and r["result"]["signature_verified"])
    assert set(ev["result"]) == {
        "status",
        "blocked_reason_code",
        "emits",
        "violations",
        "token_consumed",
        "signature_verified",
        "now_s",
        "head_hash",
        "audit_length",
    }
    assert "signature" in ev["event"]


def test_results_digest_is_the_file_on_disk_and_the_same_without_a_log(run_dir: Path) -> None:
    res = json.loads((run_dir / "multi_site_stat" / "results.json").read_text())
    on_disk = hashlib.sha256(Path(res["logs"][0]).read_bytes()).hexdigest()
    assert res["episodes"][0]["metrics"]["episode_log_sha256"] == on_disk
    again = run_benchmark("multi_site_stat", 1, 3, params={"max_steps": 90})
    assert again["episodes"][0]["metrics"]["episode_log_sha256"] == on_disk


def test_the_log_is_independent_of_the_audit_key_and_the_sidecar_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = get_task("throughput_sla")(params={"max_steps": 12})
    _, env = run_episode(task, 5)
    write_episode_log(env, tmp_path / "a.jsonl")
    other = tmp_path / "other.pem"
    generate_key_file(other)
    monkeypatch.setenv(AUDIT_KEY_ENV, str(other))
    write_episode_log(env, tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    sa = json.loads((tmp_path / "a.jsonl.sig.json").read_text())
    sb = json.loads((tmp_path / "b.jsonl.sig.json").read_text())
    assert sa["sha256"] == sb["sha256"] and sa["key_id"] != sb["key_id"]


def test_a_failed_write_leaves_no_log_at_the_final_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = get_task("throughput_sla")(params={"max_steps": 12})
    _, env = run_episode(task, 5)
    path = tmp_path / "logs" / "ep.jsonl"
    path.parent.mkdir()
    path.write_bytes(b"previous log\n")

    def killed(fd: int) -> None:  # the process dies after writing, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        write_episode_log(env, path)
    assert path.read_bytes() == b"previous log\n"
    assert not (tmp_path / "logs" / "ep.jsonl.sig.json").exists()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(TMP_PREFIX)]
    monkeypatch.undo()
    write_episode_log(env, path)
    assert path.read_bytes() == episode_log_bytes(env)


def test_events_with_no_json_form_are_logged_as_the_engine_audited_them() -> None:
    task = get_task("throughput_sla")(params={"max_steps": 3})
    env = task.make_env()
    env.reset(seed=1)
    bad = {"t_s": 0.0, "event_id": "0:X", "args": {"s": {1, 2}}}
    env.episode_log.event(0, bad, env.engine.step(bad), env.engine)
    env.step_count = 1
    log = parse_log(episode_log_bytes(env))
    assert log.ok, log.summary()
    assert log.records[-1][1]["event"] == {"unserializable_event": "dict"}
    assert log.records[-1][1]["result"]["blocked_reason_code"] == "EVENT_MALFORMED"
    assert check_audit_chain(log)[0]  # the stand-in is what the engine hashed


def _synthetic(t_end: float, target: float) -> ParsedLog:
    """One specimen arriving at t=100 with a turnaround target, nothing else."""
    header = {
        "initial_state": {
            "arrival_schedule": [
                {
                    "t_s": 100.0,
                    "specimen": {"specimen_id": "S1", "panels": ["BMP"], "priority": "STAT"},
                }
            ]
        },
        "sla_targets_s": {"STAT": target},
    }
    footer = {"t_end_s": t_end, "steps": 1, "audit_length": 1, "audit_head_hash": "0" * 64}
    tick = {
        "type": "tick",
        "step": 0,
        "t_s": 100.0,
        "result": {"emits": ["SPECIMEN_ARRIVED"], "violations": []},
    }
    return ParsedLog(header=header, records=[(2, tick)], footer=footer)


def test_orders_due_need_the_episode_length_not_the_last_record() -> None:
    # The last record is at t=100; the order falls due at 100 + 600 = 700; the episode
    # ran to 900. Counting to the last record would miss it.
    assert recount_metrics(_synthetic(900.0, 600.0))[0]["orders_due"] == 1
    assert recount_metrics(_synthetic(100.0, 600.0))[0]["orders_due"] == 0


def test_multi_site_recount_from_the_log_matches_the_results(run_dir: Path) -> None:
    res = json.loads((run_dir / "multi_site_stat" / "results.json").read_text())
    log = parse_log(Path(res["logs"][0]).read_bytes())
    got, problems = recount_metrics(log)
    assert problems == []
    m = res["episodes"][0]["metrics"]
    for k in (
        "orders_due",
        "throughput",
        "on_time_rate",
        "turnaround_p50_s",
        "blocked",
        "specimens_arrived",
        "violations_total",
    ):
        assert got[k] == pytest.approx(m[k]), k


def test_the_log_pickles_and_copies_with_the_env_state() -> None:
    import copy
    import pickle

    task = get_task("throughput_sla")(params={"max_steps": 6})
    _, env = run_episode(task, 2)
    log = env.episode_log
    for clone in (pickle.loads(pickle.dumps(log)), copy.deepcopy(log)):
        assert clone.to_bytes(env.engine, env.step_count) == episode_log_bytes(env)
        assert clone.head == log.head and len(clone) == len(log)


def test_llm_records_are_chained_verified_and_carried_by_the_replay(tmp_path: Path) -> None:
    from labtrust_gym.benchmarks.replay import replay_log
    from labtrust_gym.evidence.verify import check_episode_log

    res = run_benchmark(
        "throughput_sla",
        1,
        4,
        params={"max_steps": 40},
        controller="llm",
        llm="offline",
        log_dir=tmp_path,
    )
    log = Path(res["logs"][0])
    data = log.read_bytes()
    parsed = parse_log(data)
    assert parsed.ok, parsed.summary()
    assert parsed.extras and {r["type"] for _, r in parsed.extras} == {"llm"}
    assert hashlib.sha256(data).hexdigest() == res["episodes"][0]["metrics"]["episode_log_sha256"]
    checks, _ = check_episode_log(data, (tmp_path / (log.name + ".sig.json")).read_bytes())
    assert all(c.ok for c in checks), [c.line() for c in checks]
    assert replay_log(log)["ok"]
    # An llm record is covered by the chain like any other line.
    lines = data.splitlines()
    i = parsed.extras[0][0] - 1
    lines[i] = lines[i].replace(b'"type":"llm"', b'"type":"llm","forged":1', 1)
    assert not parse_log(b"\n".join(lines) + b"\n").ok
