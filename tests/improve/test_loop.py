"""The loop end to end on the tiny config: state, denials, fatal rules, approvals, crash
recovery, executors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import constitution_file, tiny
from labtrust_gym.errors import ConfigError
from labtrust_gym.improve import (
    JobStore,
    fingerprint,
    read_events,
    resume_run,
    run_summary,
    start_run,
    verify_chain,
)
from labtrust_gym.improve.events import EventBus
from labtrust_gym.improve.knowledge import KnowledgeAgent
from labtrust_gym.improve.loop import approve
from labtrust_gym.testing.fake_openai import FakeOpenAI


def test_reference_run_state(reference_run: Path) -> None:
    s = run_summary(reference_run)
    assert s["status"] == "completed" and not s["live"]
    assert s["decisions"] == ["promote", "stop"]
    c1 = s["cycles"][0]
    assert c1["gate"]["action"] == "accept_new_best" and c1["champion_after"] == c1["candidate"]
    assert s["champion"] == c1["candidate"] == s["cycles"][1]["champion_before"]
    assert s["events"]["chain_ok"] and verify_chain(reference_run)["ok"]
    assert (reference_run / "champion.md").read_text() == (
        reference_run / "candidates" / f"{s['champion']}.md"
    ).read_text()
    st = JobStore(reference_run / "store.sqlite", read_only=True)
    try:
        run_id = s["run_id"]
        jobs = st.jobs(run_id)
        assert {j["status"] for j in jobs} == {"done"}
        assert sorted({j["stage"] for j in jobs if j["cycle"] == 1}) == sorted(
            ["propose", "collect", "train", "eval", "decide", "apply", "knowledge"]
        )
        assert all((reference_run / j["log_path"]).is_file() for j in jobs)
        champs = [r for r in st.rows("candidates", run_id, order="hash") if r["is_champion"]]
        assert [r["hash"] for r in champs] == [s["champion"]]
        ev = st.rows("evals", run_id, order="cycle, role, episode_id")
        # baseline (2), cycle 1 candidate + champion (4); cycle 2 built no candidate (the
        # rules had nothing new to propose on its training episodes)
        assert s["cycles"][1]["candidate"] is None and s["cycles"][1]["gate"] is None
        assert len(ev) == 6 and {r["split"] for r in ev} == {"valid_seen"}
        g = st.rows("gate_results", run_id)[0]
        assert g["mean_delta"] > 0 and g["ci95_low"] <= g["mean_delta"] <= g["ci95_high"]
    finally:
        st.close()
    assert KnowledgeAgent(reference_run / "knowledge").lint() == []
    assert json.loads((reference_run / "report.json").read_text())["champion"] == s["champion"]


def test_a_second_start_in_the_same_directory_is_refused(reference_run: Path) -> None:
    with pytest.raises(ConfigError, match="improve resume"):
        start_run(tiny(), reference_run)


def test_resuming_a_finished_run_changes_nothing(reference_run: Path, tmp_path: Path) -> None:
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(reference_run, d)
    before = fingerprint(d)
    resume_run(d)
    assert fingerprint(d) == before
    kinds = [e["kind"] for e in read_events(d)]
    assert kinds[-2:] == ["run_resumed", "run_completed"] and "stage_started" not in kinds[-2:]


def test_a_stage_done_event_lost_in_a_crash_is_recovered(
    reference_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crash after the train stage's commit, before its stage_done event: resume writes
    the event (recovered), does not redo the stage, and ends in the reference state."""
    real_emit = EventBus.emit

    class Crash(BaseException):
        pass

    def emit(self, ev, *, sync=False):
        if ev.kind == "stage_done" and ev.stage == "train" and ev.cycle == 1:
            raise Crash
        return real_emit(self, ev, sync=sync)

    monkeypatch.setattr(EventBus, "emit", emit)
    d = tmp_path / "run"
    with pytest.raises(Crash):
        start_run(tiny(), d)
    monkeypatch.setattr(EventBus, "emit", real_emit)
    resume_run(d)
    ev = read_events(d)
    rec = [e for e in ev if e["kind"] == "stage_done" and e["payload"].get("recovered")]
    assert [(e["cycle"], e["stage"]) for e in rec] == [(1, "train")]
    assert (
        sum(
            1
            for e in ev
            if e["kind"] == "stage_started" and e["stage"] == "train" and e["cycle"] == 1
        )
        == 1
    )
    assert fingerprint(d) == fingerprint(reference_run)
    assert verify_chain(d)["ok"]


def test_denials_are_recorded_and_the_loop_goes_on(tmp_path: Path, fake_episodes: None) -> None:
    """A forbidden edit, a protected-region edit, an exhausted episode budget and an
    exhausted LLM-call budget are rejected proposals; a garbled LLM reply falls back."""
    con = constitution_file(tmp_path, budgets__llm_calls=1, budgets__episodes_per_cycle=40)
    srv = FakeOpenAI(max_life_s=120).start()
    srv.script.append(("ok", "Sure! Add more QC. (not JSON)"))
    try:
        cfg = tiny(
            constitution=con,
            proposer={"llm": f"openai:fake@{srv.url}", "timeout_s": 5},
            scripted_proposals=[
                {
                    "cycle": 1,
                    "name": "forbidden-file",
                    "edits": [
                        {
                            "file": "policy/invariants/invariant_registry.v0.1.yaml",
                            "op": "delete",
                            "target": "INV",
                        }
                    ],
                },
                {
                    "cycle": 1,
                    "name": "protected-region",
                    "edits": [
                        {
                            "op": "replace",
                            "target": "Never prop a door open",
                            "content": "Prop doors open",
                        }
                    ],
                },
                {"cycle": 2, "name": "too-many-episodes", "collect_episodes": 100},
            ],
        )
        s = start_run(cfg, tmp_path / "run")
    finally:
        srv.stop()
    assert s["status"] == "completed" and len(s["cycles"]) == 2
    rejected = [
        (c["cycle"], p["source"], p["rule"])
        for c in s["cycles"]
        for p in c["proposals"]
        if p["status"] == "rejected"
    ]
    assert rejected == [
        (1, "scripted", "protected.path"),
        (1, "scripted", "protected.skill_region"),
        (2, "scripted", "budget.episodes_per_cycle"),
        (2, "llm", "budget.llm_calls"),
    ]
    for c in s["cycles"]:  # the deterministic proposal went ahead every cycle
        assert any(
            p["source"] == "deterministic" and p["status"] == "accepted" for p in c["proposals"]
        )
    ev = read_events(tmp_path / "run")
    denied = [(e["cycle"], e["payload"]["rule"]) for e in ev if e["kind"] == "constitution_denied"]
    # (the LLM budget is checked before the call, ahead of the proposals' checks)
    assert denied == [
        (1, "protected.path"),
        (1, "protected.skill_region"),
        (2, "budget.llm_calls"),
        (2, "budget.episodes_per_cycle"),
    ]
    fb = [e for e in ev if e["kind"] == "llm_proposer_fallback"]
    assert (
        len(fb) == 1 and fb[0]["cycle"] == 1 and "not a JSON object" in fb[0]["payload"]["reason"]
    )
    assert len(srv.requests) == 1  # the second call was denied, never made
    assert s["decisions"] == ["promote", "stop"]


def test_a_fatal_rule_stops_the_run_before_any_episode(tmp_path: Path) -> None:
    s = start_run(tiny(proposer={"llm": "openai:m@http://10.9.8.7:8000/v1"}), tmp_path / "run")
    assert s["status"] == "stopped" and "network.loopback" in s["status_reason"]
    ev = read_events(tmp_path / "run")
    assert ev[-2]["kind"] == "constitution_denied" and ev[-2]["payload"]["fatal"] is True
    assert ev[-1]["kind"] == "run_stopped"
    assert not any(e["kind"] == "stage_started" for e in ev)


def test_promotion_waits_for_an_approval(tmp_path: Path, fake_episodes: None) -> None:
    con = constitution_file(tmp_path, human_gates__require_approval_for=["promote"])
    d = tmp_path / "run"
    s = start_run(tiny(constitution=con, cycles=1), d)
    assert s["status"] == "awaiting_approval"
    cand = s["cycles"][0]["candidate"]
    assert s["cycles"][0]["status"] == "awaiting_approval" and s["champion"] != cand
    with pytest.raises(ConfigError, match="no decision waits on 'deadbeef'"):
        approve(d, "deadbeef", approver="alice")
    s2 = resume_run(d)  # without an approval it waits again
    assert s2["status"] == "awaiting_approval"
    approve(d, cand, approver="alice", note="looks good")
    s3 = resume_run(d)
    assert s3["status"] == "completed" and s3["champion"] == cand
    st = JobStore(d / "store.sqlite", read_only=True)
    try:
        (row,) = st.rows("approvals", s3["run_id"], order="candidate")
        assert (row["candidate"], row["approver"], row["note"]) == (cand, "alice", "looks good")
    finally:
        st.close()
    kinds = [e["kind"] for e in read_events(d)]
    assert kinds.count("awaiting_approval") == 2 and "approval_recorded" in kinds
    assert verify_chain(d)["ok"]


def test_dask_collect_gives_the_same_decisions_as_the_process_pool(tmp_path: Path) -> None:
    from dask.distributed import Client, LocalCluster

    from labtrust_gym.studies.executors import open_executor

    cfg = tiny(cycles=1)
    with open_executor("local", 2) as h:
        pool = start_run(cfg, tmp_path / "pool", executor=h.executor)
    cluster = LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    )
    try:
        with Client(cluster) as client:
            dask = start_run(cfg, tmp_path / "dask", executor=client.get_executor(pure=False))
    finally:
        cluster.close()
    assert pool["decisions"] == dask["decisions"] == ["promote"]
    assert fingerprint(tmp_path / "pool") == fingerprint(tmp_path / "dask")


def test_a_plateau_escalates_to_an_optuna_search(tmp_path: Path, fake_episodes: None) -> None:
    cfg = tiny(
        cycles=3,
        ladder=["skill_rules", "optuna_params"],
        rungs={"optuna_params": {"trials": 6, "max_edits": 2}},
        decide={"plateau_cycles": 1, "rollback_threshold": 0.05, "floor": 0.0},
    )
    d = tmp_path / "run"
    s = start_run(cfg, d)
    assert s["decisions"] == ["promote", "escalate", "promote"]
    assert [c["rung"] for c in s["cycles"]] == ["skill_rules", "skill_rules", "optuna_params"]
    assert s["cycles"][1]["candidate"] is None
    st = JobStore(d / "store.sqlite", read_only=True)
    try:
        tr = st.job_output(s["run_id"], 3, "train")
    finally:
        st.close()
    assert len(tr["trials"]) == 6 and tr["trials"][0]["params"]["qc_interval_s"] == 3600
    assert [e["op"] for e in tr["selected"]] and all(e["op"] == "replace" for e in tr["selected"])
    assert (d / "optuna" / "c003.db").is_file()
    champion = (d / "champion.md").read_text()
    assert "qc_interval_s: 3600" not in champion  # the tuned value was promoted


def test_a_safety_veto_rolls_back_and_the_edit_is_not_tried_again(
    tmp_path: Path, fake_episodes: None
) -> None:
    harmful = {"op": "insert_after", "target": "rules:", "content": "- prop_doors_open"}
    cfg = tiny(
        cycles=2,
        scripted_proposals=[{"cycle": 1, "name": "doors", "edits": [harmful]}],
        rungs={"skill_rules": {"max_edits": 1}},
    )
    s = start_run(cfg, tmp_path / "run")
    c1, c2 = s["cycles"]
    assert c1["gate"]["action"] == "vetoed" and c1["gate"]["vetoes"] == 2
    assert c1["decision"] == "rollback" and c1["champion_after"] == c1["champion_before"]
    # cycle 2 proposes from the rules; the vetoed edit stays in the rejected buffer
    assert c2["decision"] == "promote"
    text = (tmp_path / "run" / "champion.md").read_text()
    assert "- prop_doors_open" not in text and "- stat_first" in text


def test_final_evaluation_on_the_test_split(tmp_path: Path, fake_episodes: None) -> None:
    d = tmp_path / "run"
    # cycle 2 decides stop (no candidate, no budget left): the final stage still runs
    s = start_run(tiny(cycles=2, test_episodes=2), d)
    assert s["decisions"] == ["promote", "stop"]
    rep = s["final_test"]
    assert rep["episodes"] == 2 and rep["rows"][0]["diff"]["mean"] > 0
    st = JobStore(d / "store.sqlite", read_only=True)
    try:
        rows = st.rows("evals", s["run_id"], where="AND split = 'test'", order="role, episode_id")
    finally:
        st.close()
    assert [(r["role"], r["seed"]) for r in rows] == [
        ("champion", 3000),
        ("champion", 3001),
        ("seed", 3000),
        ("seed", 3001),
    ]
    assert {r["skill_hash"] for r in rows if r["role"] == "champion"} == {s["champion"]}
    kinds = [(e["stage"], e["kind"]) for e in read_events(d)]
    assert ("knowledge", "knowledge_updated") in kinds and ("final", "stage_done") in kinds


def test_the_active_lab_profile_must_be_the_configs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABTRUST_PROFILE", "partner_x")
    with pytest.raises(ConfigError, match="runs under 'partner_x'"):
        start_run(tiny(), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    s = start_run(tiny(lab_profile="partner_x"), tmp_path / "run")
    assert s["status"] == "stopped" and "scope.lab_profile" in s["status_reason"]


def test_two_runs_of_one_config_differ_only_in_ts(tmp_path: Path, fake_episodes: None) -> None:
    a = start_run(tiny(), tmp_path / "a")
    b = start_run(tiny(), tmp_path / "b")
    ea = [{k: v for k, v in e.items() if k != "ts"} for e in read_events(tmp_path / "a")]
    eb = [{k: v for k, v in e.items() if k != "ts"} for e in read_events(tmp_path / "b")]
    assert ea == eb and a["events"]["head"] == b["events"]["head"]
    assert fingerprint(tmp_path / "a") == fingerprint(tmp_path / "b")
    for sub in ("knowledge/tasks/stat_insertion.md", "champion.md", "logs/c001-train.log"):
        assert (tmp_path / "a" / sub).read_bytes() == (tmp_path / "b" / sub).read_bytes()


def test_resume_refuses_a_run_another_process_is_running(
    reference_run: Path, tmp_path: Path
) -> None:
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(reference_run, d)
    st = JobStore(d / "store.sqlite")
    run_id = run_summary(d)["run_id"]
    st.start_job(run_id, 3, "propose", 1, "logs/x.log")  # a job the live process runs
    st.close()
    with EventBus(d):  # the live writer
        with pytest.raises(ConfigError, match="another process is running this run"):
            resume_run(d)
        with pytest.raises(ConfigError, match="another process"):
            approve(d, "x", approver="a")
    st = JobStore(d / "store.sqlite", read_only=True)
    assert st.job(run_id, 3, "propose")["status"] == "running"  # left alone
    st.close()
