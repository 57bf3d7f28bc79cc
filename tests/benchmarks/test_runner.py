"""Runner, metrics, results schema, episode logs and replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labtrust_gym.benchmarks.metrics import mean_ci95
from labtrust_gym.benchmarks.replay import replay_log
from labtrust_gym.benchmarks.runner import episode_seed, run_benchmark, validate_results
from labtrust_gym.cli.main import main
from labtrust_gym.errors import ConfigError


def test_results_validate_and_episode_seeds_are_stable(tmp_path: Path) -> None:
    one = run_benchmark("throughput_sla", 1, 7, controller="random")
    three = run_benchmark("throughput_sla", 3, 7, controller="random")
    validate_results(one)
    validate_results(three)
    assert one["episodes"][0]["seed"] == three["episodes"][0]["seed"] == episode_seed(7, 0)
    assert (
        one["episodes"][0]["metrics"]["episode_log_sha256"]
        == three["episodes"][0]["metrics"]["episode_log_sha256"]
    )
    seeds = [e["seed"] for e in three["episodes"]]
    assert len(set(seeds)) == 3
    assert three["summary"]["throughput"]["n"] == 3


def test_schema_rejects_a_broken_results_document() -> None:
    res = run_benchmark("throughput_sla", 1, 0, controller="random")
    res["episodes"][0]["metrics"]["throughput"] = -1
    with pytest.raises(ConfigError, match="throughput"):
        validate_results(res)


def test_log_replays_to_the_same_chain_and_detects_edits(tmp_path: Path) -> None:
    res = run_benchmark("qc_cascade", 1, 3, controller="random", log_dir=tmp_path)
    log = Path(res["logs"][0])
    rep = replay_log(log)
    assert rep["ok"] and rep["chain_verifies"]
    assert rep["head_hash"] == res["episodes"][0]["metrics"]["audit_head_hash"]
    lines = log.read_bytes().splitlines()
    # Change one event's argument: replay must point at that line.
    for i, raw in enumerate(lines[1:], start=1):
        rec = json.loads(raw)
        if rec["type"] == "event" and rec["event"]["action_type"] == "MOVE":
            rec["event"]["args"]["to_zone"] = "Z_OFFICE"
            lines[i] = json.dumps(rec).encode()
            bad_line = i + 1
            break
    edited = tmp_path / "edited.jsonl"
    edited.write_bytes(b"\n".join(lines) + b"\n")
    rep2 = replay_log(edited)
    assert not rep2["ok"]
    assert rep2["first_mismatch"]["line"] == bad_line


def test_mean_ci95() -> None:
    s = mean_ci95([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0
    assert s["ci95_low"] == pytest.approx(2.0 - 4.303 * 1.0 / 3**0.5)
    assert mean_ci95([5.0])["ci95_low"] is None
    assert mean_ci95([])["n"] == 0


def test_cli_errors_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run-benchmark", "--task", "no_such_task"]) == 2
    err = capsys.readouterr().err
    assert "throughput_sla" in err and "no_such_task" in err
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "run-benchmark",
                "--task",
                "reagent_stockout",
                "--controller",
                "random",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["run-summary", "--run", str(out), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary[0]["task"] == "reagent_stockout"
    assert main(["summarize-results", "--in", str(out), "--out", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "summary.md").read_text().startswith("| task")
    assert main(["replay", str(tmp_path / "missing.jsonl")]) == 2


def test_determinism_report_runs_two_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "det.json"
    assert main(["determinism-report", "--task", "qc_cascade", "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert rep["identical"] is True
    assert rep["log_hashes"][0] == rep["log_hashes"][1]


def test_policy_dir_env_var_is_used_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from labtrust_gym.config import get_policy_dir, policy_path
    from labtrust_gym.policy import load_policy

    src = get_policy_dir()
    dst = tmp_path / "mypolicy"
    shutil.copytree(src, dst)
    text = (dst / "sla" / "sla_targets.v0.1.yaml").read_text()
    (dst / "sla" / "sla_targets.v0.1.yaml").write_text(
        text.replace("target_tat_s: 1200", "target_tat_s: 900")
    )
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(dst))
    assert get_policy_dir() == dst.resolve()
    assert policy_path(None, "sla", "x.yaml") == dst.resolve() / "sla" / "x.yaml"
    assert load_policy()["sla_targets"]["priorities"]["STAT"]["target_tat_s"] == 900


def test_tasks_run_from_a_policy_dir_with_any_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from labtrust_gym.config import get_policy_dir

    dst = tmp_path / "site_policy"
    shutil.copytree(get_policy_dir(), dst)
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(dst))
    monkeypatch.chdir(tmp_path)
    res = run_benchmark("coord_scale", 1, 0)
    assert res["episodes"][0]["metrics"]["throughput"] > 0


def test_injection_flag_params_and_coordination_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run-benchmark", "--task", "coord_risk", "--injection", "INJ-NOPE-001"]) == 2
    err = capsys.readouterr().err
    assert "INJ-NOPE-001" in err and "INJ-NET-PARTITION-001" in err  # lists the known ids
    argv = ["run-benchmark", "--task", "throughput_sla", "--injection", "INJ-NET-DELAY-001"]
    assert main(argv) == 2
    assert "coord_risk" in capsys.readouterr().err
    out = tmp_path / "r.json"
    argv = [
        "run-benchmark",
        "--task",
        "coord_risk",
        "--scale",
        "small_smoke",
        "--injection",
        "INJ-ID-SPOOF-001",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    res = json.loads(out.read_text())
    validate_results(res)
    assert res["injection"] == "INJ-ID-SPOOF-001"
    m = res["episodes"][0]["metrics"]
    assert m["injection_id"] == "INJ-ID-SPOOF-001"
    assert m["injection.attempts"] > 0 and m["injection.accepted"] == 0
    assert m["blocked_by_reason_code"]["SIG_KEY_AGENT_MISMATCH"] > 0
    for k in (
        "comm.msg_count",
        "comm.p95_latency_ms",
        "comm.drop_rate",
        "comm.partition_events",
        "coordination.stale_action_rate",
    ):
        assert k in m
    # params={"injection": ID} is the same thing; the default stays the device fault.
    by_params = run_benchmark(
        "coord_risk", 1, 0, scale="small_smoke", params={"injection": "INJ-COLLUSION-001"}
    )
    assert by_params["episodes"][0]["metrics"]["injection_id"] == "INJ-COLLUSION-001"
    default = run_benchmark("coord_risk", 1, 0, scale="small_smoke")
    assert default["injection"] == "INJ-DEVICE-FAULT-001"
    assert default["episodes"][0]["metrics"]["injection.device_faults"] == 1
    plain = run_benchmark("throughput_sla", 1, 0, controller="random")
    assert "comm.msg_count" not in plain["episodes"][0]["metrics"]  # no bus without coordination
