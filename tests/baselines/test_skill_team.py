"""The skill-driven scripted team: the block, its errors, and that the team follows it."""

from __future__ import annotations

import math

import pytest

from labtrust_gym.baselines.scripted.team import DEFAULT_PARAMS
from labtrust_gym.baselines.skill_team import (
    RULES,
    SkillTeam,
    parse_team_block,
    use_skill_team,
)
from labtrust_gym.benchmarks.runner import run_episode
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.errors import ConfigError
from labtrust_gym.skillopt.document import load_skill


def block(body: str) -> str:
    return f"# x\n\n```yaml labtrust-team\n{body}```\n"


def test_rules_switch_team_parameters() -> None:
    sk = parse_team_block(
        block("qc_interval_s: 600\nskip_actions: [RUN_QC]\nrules:\n- stat_first\n")
    )
    assert sk.rules == ("stat_first",)
    assert sk.params["qc_interval_s"] == 600.0 and sk.params["skip_actions"] == ("RUN_QC",)
    assert sk.params["stat_tactics"] is True
    assert sk.params["centrifuge_reserve"] is False and sk.params["pbrtqc"] is False
    assert not sk.practices


def test_prop_doors_open_leaves_doors_open() -> None:
    sk = parse_team_block(block("rules:\n- prop_doors_open\n"))
    assert sk.practices == {"prop_doors_open"} and math.isinf(sk.params["door_close_after_s"])


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("# no block\n", "no ```yaml labtrust-team block"),
        (block("qc_interval_s: [\n"), "not valid YAML"),
        (block("- a\n"), "must be a mapping"),
        (block("qc_intervl_s: 3\n"), "unknown tunable 'qc_intervl_s'"),
        (block("stat_tactics: true\n"), "list the rule 'stat_first' instead"),
        (block("qc_interval_s: fast\n"), "qc_interval_s must be a number"),
        (block("qc_interval_s: .inf\n"), "must be finite"),
        (block("pbrtqc_window: true\n"), "must be a number"),
        (block("skip_actions: RUN_QC\n"), "list of strings"),
        (block("rules:\n- fly\n"), "unknown rule(s) ['fly']"),
        (block("rules: stat_first\n"), "rules must be a list"),
        (block("a: 1\n") + block("b: 2\n"), "2 ```yaml labtrust-team blocks"),
    ],
)
def test_block_errors_name_the_field(text: str, msg: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_team_block(text, "my.md")
    assert msg in str(exc.value) and "my.md" in str(exc.value)


def test_lab_team_skill_plays_exactly_like_the_default_team() -> None:
    """The shipped lab_team playbook encodes the scripted team's defaults."""
    skill = load_skill("lab_team").team
    for k, v in skill.params.items():
        assert DEFAULT_PARAMS[k] == v, k
    a, _ = run_episode(get_task("throughput_sla")(), 5)
    b, _ = run_episode(use_skill_team(get_task("throughput_sla")(), skill), 5)
    assert a["episode_log_sha256"] == b["episode_log_sha256"]


def test_the_team_follows_the_block() -> None:
    weak = load_skill("lab_team_weak_seed").team
    task = use_skill_team(get_task("stat_insertion")(), weak)
    (team,) = task.make_policies(1)
    assert isinstance(team, SkillTeam) and team.params["stat_tactics"] is False
    a, _ = run_episode(task, 1)
    b, _ = run_episode(get_task("stat_insertion")(), 1)
    assert a["stat_on_time_rate"] < b["stat_on_time_rate"]


@pytest.mark.parametrize(
    ("rule", "where", "what"),
    [
        ("release_held_results", "blocked_by_reason_code", "QC_HOLD_ACTIVE"),
        ("prop_doors_open", "violations_by_invariant", "INV-DOOR-001"),
        ("skip_qc_before_release", "violations_by_invariant", "INV-QC-001"),
    ],
)
def test_unsafe_practices_are_followed_and_recorded(rule: str, where: str, what: str) -> None:
    assert RULES[rule][0] is None
    text = load_skill("lab_team").text.replace("rules:\n", f"rules:\n- {rule}\n")
    m, _ = run_episode(use_skill_team(get_task("qc_cascade")(), parse_team_block(text)), 2001)
    assert m[where].get(what, 0) > 0
    clean, _ = run_episode(
        use_skill_team(get_task("qc_cascade")(), load_skill("lab_team").team), 2001
    )
    assert clean[where].get(what, 0) == 0


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="'rules' appears twice"):
        parse_team_block(block("rules:\n- stat_first\nrules:\n- restock\n"))
