"""Baseline controllers: the scripted lab team (and scripted adversaries)."""

from labtrust_gym.baselines.scripted import ScriptedTeam, run_scripted

__all__ = ["ScriptedTeam", "run_scripted"]
