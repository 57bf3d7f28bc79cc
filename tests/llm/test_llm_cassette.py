"""Record an episode against the fake server, replay it with the server stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _fake_openai import FakeOpenAI
from _llm_helpers import SECRET, double_answer

from labtrust_gym.benchmarks.replay import replay_log
from labtrust_gym.benchmarks.runner import run_benchmark
from labtrust_gym.cli.main import main
from labtrust_gym.errors import ConfigError
from labtrust_gym.llm import CASSETTE_FORMAT, LLMConfig

PARAMS = {"max_steps": 80}


def test_record_then_replay_without_network_gives_identical_logs(tmp_path: Path) -> None:
    cassette = tmp_path / "run.cassette.jsonl"
    srv = FakeOpenAI(double_answer, max_life_s=120).start()
    try:
        rec = run_benchmark(
            "throughput_sla",
            2,
            5,
            controller="llm",
            params=PARAMS,
            log_dir=tmp_path / "rec",
            llm=LLMConfig(
                spec=f"openai:test-model@{srv.url}",
                roles=("supervisor", "qc"),
                api_key=SECRET,
                record=str(cassette),
            ),
        )
        served = len(srv.requests)
    finally:
        srv.stop()
    lines = cassette.read_text().splitlines()
    head = json.loads(lines[0])
    assert head["format"] == CASSETTE_FORMAT and head["model"] == "test-model"
    assert len(lines) - 1 == served == sum(e["metrics"]["llm.calls"] for e in rec["episodes"])
    assert SECRET not in cassette.read_text()
    assert rec["llm"]["cassette"] == cassette.name and "api_key" not in json.dumps(rec["llm"])

    # The server is gone: a replay needs no network.
    rep = run_benchmark(
        "throughput_sla",
        2,
        5,
        controller="llm",
        params=PARAMS,
        log_dir=tmp_path / "rep",
        llm=LLMConfig(spec=f"replay:{cassette}", roles=("supervisor", "qc")),
    )
    for a, b in zip(rec["logs"], rep["logs"], strict=True):
        assert Path(a).read_bytes() == Path(b).read_bytes()
        assert b'"type":"llm"' in Path(a).read_bytes()
        assert replay_log(b)["ok"]
    for ea, eb in zip(rec["episodes"], rep["episodes"], strict=True):
        for k in ("llm.calls", "llm.tokens_in", "llm.tokens_out", "episode_log_sha256"):
            assert ea["metrics"][k] == eb["metrics"][k]


def test_a_cassette_miss_is_an_error_naming_the_request(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    run_benchmark(
        "throughput_sla",
        1,
        5,
        controller="llm",
        params=PARAMS,
        llm=LLMConfig(spec="offline", roles=("qc",), record=str(cassette)),
    )
    with pytest.raises(
        ConfigError, match=r"has no answer for request [0-9a-f]{64} \(agent A_QC_01"
    ):
        run_benchmark(
            "throughput_sla",
            1,
            6,  # another seed asks other questions
            controller="llm",
            params=PARAMS,
            llm=LLMConfig(spec=f"replay:{cassette}", roles=("qc",)),
        )


def test_cli_records_and_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cas = tmp_path / "cli.jsonl"
    base = ["run-benchmark", "--task", "throughput_sla", "--controller", "llm"]
    assert (
        main(
            [
                *base,
                "--llm",
                "offline",
                "--llm-roles",
                "qc",
                "--llm-record",
                str(cas),
                "--log-dir",
                str(tmp_path / "a"),
                "--out",
                str(tmp_path / "a.json"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                *base,
                "--llm-replay",
                str(cas),
                "--llm-roles",
                "qc",
                "--log-dir",
                str(tmp_path / "b"),
                "--out",
                str(tmp_path / "b.json"),
            ]
        )
        == 0
    )
    a = (tmp_path / "a" / "throughput_sla_ep000.jsonl").read_bytes()
    assert a == (tmp_path / "b" / "throughput_sla_ep000.jsonl").read_bytes()
    doc = json.loads((tmp_path / "b.json").read_text())
    assert doc["controller"] == "llm" and doc["llm"]["spec"] == f"replay:{cas}"
    assert doc["episodes"][0]["metrics"]["llm.calls"] > 0
    assert main(["replay", str(tmp_path / "b" / "throughput_sla_ep000.jsonl")]) == 0


def test_a_broken_cassette_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "exchange"}\n')
    with pytest.raises(ConfigError, match="bad.jsonl:1: expected a header"):
        run_benchmark("throughput_sla", 1, 0, controller="llm", llm=f"replay:{bad}")
