"""Scripted-team parameters are checked, and tasks pass their ``team`` overrides on."""

from __future__ import annotations

import pytest

from labtrust_gym.baselines.scripted import ScriptedTeam
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.errors import ConfigError


def test_unknown_team_parameter_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"restok.*known:.*restock"):
        ScriptedTeam(params={"restok": False})


def test_task_team_overrides_reach_the_team() -> None:
    t = get_task("reagent_stockout")(params={"team": {"restock": False}})
    (team,) = t.make_policies(0)
    assert team.params["restock"] is False
    with pytest.raises(ConfigError, match="'team' must be a mapping"):
        get_task("throughput_sla")(params={"team": ["restock"]}).make_policies(0)


def test_skip_actions_removes_an_action_from_every_role() -> None:
    from labtrust_gym.engine import LabEngine

    e = LabEngine()
    e.reset({}, seed=0)
    team = ScriptedTeam(params={"skip_actions": ["REPAIR_DEVICE"]})
    team.reset(e, 0)
    assert not any(m.can("REPAIR_DEVICE") for m in team.members)
    assert any(m.can("START_RUN") for m in team.members)
    # Nobody repairs: every analyzer is "uncovered" for repairs now.
    assert team.uncovered_repairs
