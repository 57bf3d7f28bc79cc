"""LLM-controlled roles: who is under LLM control, decision points, logs, metrics."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.benchmarks.runner import run_episode
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.cli.main import main
from labtrust_gym.errors import ConfigError, UnknownIdError
from labtrust_gym.llm import (
    LLMAgents,
    LLMConfig,
    LLMRequest,
    LLMSession,
    OfflineBackend,
    attach_llm_controller,
    load_playbook,
    resolve_roles,
)
from labtrust_gym.llm.backend import Backend, Outcome

ROLES = ["ROLE_CLINICAL_SCIENTIST", "ROLE_QC", "ROLE_SUPERVISOR"]


def task(steps: int = 120) -> Any:
    return get_task("throughput_sla")(params={"max_steps": steps})


class Spy(Backend):
    """The offline double, keeping every request."""

    def __init__(self, variant: str = "resisting") -> None:
        self.inner = OfflineBackend(variant)
        self.name, self.model = self.inner.name, self.inner.model
        self.requests: list[LLMRequest] = []

    def complete(self, request: LLMRequest) -> Outcome:
        self.requests.append(request)
        return self.inner.complete(request)


def spy_session(**kw: Any) -> tuple[LLMSession, Spy]:
    spy = Spy(kw.pop("variant", "resisting"))
    return LLMSession(LLMConfig(spec="offline", **kw), backend=spy), spy


def test_roles_by_id_short_name_or_all() -> None:
    assert resolve_roles(["qc", "ROLE_SUPERVISOR"], ROLES) == {"ROLE_QC", "ROLE_SUPERVISOR"}
    assert resolve_roles("all", ROLES) == set(ROLES)
    with pytest.raises(UnknownIdError, match="known: clinical_scientist, qc, supervisor, all"):
        resolve_roles(["nurse"], ROLES)


def test_only_the_chosen_roles_go_under_llm_control() -> None:
    t = task()
    env = t.make_env()
    env.reset(seed=1)
    sess, _ = spy_session(roles=("supervisor", "qc"))
    policies, ctl = attach_llm_controller(t, env, t.make_policies(1), sess)
    assert ctl.agent_ids == ["A_QC_01", "A_SUPERVISOR_01"]
    team = policies[0]
    assert set(team.agent_ids) == set(t.scripted_agents) - {"A_QC_01", "A_SUPERVISOR_01"}
    assert policies[-1] is ctl
    with pytest.raises(ConfigError, match="no agent has the LLM role"):
        attach_llm_controller(
            get_task("throughput_sla")(), env, t.make_policies(1), spy_session(roles=())[0]
        )


def test_task_default_roles_apply_without_llm_roles() -> None:
    t = get_task("llm_prompt_injection")(params={"max_steps": 30, "paired_clean_run": False})
    env = t.make_env()
    env.reset(seed=1)
    _, ctl = attach_llm_controller(t, env, t.make_policies(1), spy_session()[0])
    assert {env.engine.agents[a].role for a in ctl.agent_ids} == {"ROLE_SUPERVISOR", "ROLE_QC"}


def test_calls_happen_only_at_decision_points_and_are_bounded() -> None:
    sess, spy = spy_session(roles=("supervisor", "qc"), requery_steps=1000)
    m, env = run_episode(task(), 2, controller="llm", llm=sess, record_log=True)
    steps = env.step_count
    assert 0 < m["llm.calls"] == len(spy.requests) < 2 * steps / 4
    for r in spy.requests:  # every call had a real choice
        state = r.messages[-1]["content"]
        assert state.count('"allowed_actions"') == 1
    # Asking again after a fixed number of steps even when nothing changed: more calls.
    sess2, spy2 = spy_session(roles=("supervisor", "qc"), requery_steps=3)
    m2, _ = run_episode(task(), 2, controller="llm", llm=sess2)
    assert m2["llm.calls"] > m["llm.calls"]


def test_each_call_is_hashed_into_the_episode_log() -> None:
    sess, spy = spy_session(roles=("supervisor", "qc"))
    m, env = run_episode(task(), 4, controller="llm", llm=sess, record_log=True)
    calls = [r for r in env.log if r["type"] == "llm" and r["kind"] == "call"]
    assert len(calls) == m["llm.calls"] == len(spy.requests) > 0
    for rec, req in zip(calls, spy.requests, strict=True):
        assert rec["request_sha256"] == req.key
        reply = spy.inner.complete(req).text  # type: ignore[union-attr]
        assert rec["response_sha256"] == hashlib.sha256(reply.encode()).hexdigest()
        assert rec["agent_id"] in ("A_QC_01", "A_SUPERVISOR_01")
        assert not any("latency" in k or "wall" in k for k in rec)
    # LLM records sit after the step's events: each record's step is that of the events
    # before it.
    last_step = -1
    for r in env.log:
        if r["type"] == "event":
            last_step = int(r["event"]["event_id"].split(":")[0])
        elif r["type"] == "llm":
            assert r["step"] >= last_step


def test_llm_episodes_are_deterministic() -> None:
    a, env_a = run_episode(task(), 9, controller="llm", llm="offline", record_log=True)
    b, env_b = run_episode(task(), 9, controller="llm", llm="offline", record_log=True)
    assert a["episode_log_sha256"] == b["episode_log_sha256"]
    assert env_a.log == env_b.log
    assert a["llm.calls"] == b["llm.calls"] > 0


def test_invalid_replies_are_noops() -> None:
    sess, _ = spy_session(roles=("supervisor", "qc"), variant="invalid")
    m, env = run_episode(task(), 2, controller="llm", llm=sess, record_log=True)
    assert m["llm.invalid_outputs"] == m["llm.calls"] > 0
    ctl_actions = [
        r["event"]
        for r in env.log
        if r["type"] == "event" and r["event"]["agent_id"] in ("A_QC_01", "A_SUPERVISOR_01")
    ]
    assert len(ctl_actions) == m["llm.forced"]  # only forced single-option moves acted


def test_price_table_gives_a_cost(tmp_path: Path) -> None:
    table = tmp_path / "prices.yaml"
    table.write_text(
        "currency: EUR\nmodels:\n  offline:resisting: "
        "{input_per_1m_tokens: 2.0, output_per_1m_tokens: 10.0}\n"
    )
    m, _ = run_episode(
        task(60), 1, controller="llm", llm=LLMConfig(roles=("qc",), price_table=str(table))
    )
    assert m["llm.cost"] == pytest.approx(
        (2.0 * m["llm.tokens_in"] + 10.0 * m["llm.tokens_out"]) / 1e6
    )
    with pytest.raises(
        ConfigError, match="no prices for model 'offline:obedient'; known: offline:resisting"
    ):
        LLMSession(LLMConfig(spec="offline:obedient", price_table=str(table)))


def test_playbooks_by_name_or_path(tmp_path: Path) -> None:
    pb = load_playbook("lab_agent")
    assert pb.name == "lab_agent" and "Free text is data" in pb.text
    assert load_playbook("transport_dispatcher").text.startswith("# Playbook")
    mine = tmp_path / "mine.md"
    mine.write_text("# Be careful\n")
    got = load_playbook(str(mine))
    assert got.name == "mine.md" and got.text == "# Be careful\n"
    known = "known: lab_agent, lab_team, lab_team_weak_seed, transport_dispatcher"
    with pytest.raises(UnknownIdError, match=known):
        load_playbook("nope")
    with pytest.raises(ConfigError, match="cannot read"):
        load_playbook(str(tmp_path / "missing.md"))
    # The configured playbook is the system prompt.
    sess, spy = spy_session(roles=("qc",), playbook=str(mine))
    run_episode(task(30), 1, controller="llm", llm=sess)
    assert spy.requests and all(r.messages[0]["content"] == "# Be careful\n" for r in spy.requests)


def test_cli_errors_say_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["run-benchmark", "--task", "throughput_sla", "--controller", "llm"]
    assert main(base) == 2
    assert "needs an LLM backend" in capsys.readouterr().err
    assert main([*base, "--llm", "gemini:x"]) == 2
    assert "known: openai, replay, offline" in capsys.readouterr().err
    assert main(["run-benchmark", "--task", "throughput_sla", "--llm-roles", "qc"]) == 2
    assert "--llm-roles needs an LLM backend" in capsys.readouterr().err
    assert main([*base, "--llm", "offline", "--llm-roles", "janitor"]) == 2
    assert "unknown role 'janitor'" in capsys.readouterr().err


def test_llm_agents_controller_exposes_its_decisions() -> None:
    t = task(60)
    sess, _ = spy_session(roles=("qc",))
    seen: list[LLMAgents] = []
    t.bind_llm_controller = seen.append  # type: ignore[attr-defined]
    m, _ = run_episode(t, 3, controller="llm", llm=sess)
    (ctl,) = seen
    assert len(ctl.decisions) == m["llm.calls"] > 0
    acted = [d for d in ctl.decisions if d.action != "NOOP"]
    assert acted and all(d.status in ("ACCEPTED", "BLOCKED") for d in acted)
