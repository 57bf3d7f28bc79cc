"""Scripted baseline agents, one script per role, and the reference driver loop."""

from labtrust_gym.baselines.scripted.driver import run_scripted
from labtrust_gym.baselines.scripted.team import ScriptedTeam

__all__ = ["ScriptedTeam", "run_scripted"]
