"""Analytics: the analyzers of the bench (and any device of the site left uncovered)."""

from __future__ import annotations

from labtrust_gym.baselines.scripted.operator import Operator

__all__ = ["Analytics"]


class Analytics(Operator):
    """Keeps the analyzers of its zone running.

    Each step, in order: close a door left open; REPAIR_DEVICE a faulted device;
    CALIBRATE an analyzer whose QC failed once its runs are done (the QC officer then
    re-runs QC); START_RUN the queue head with the
    best priority on an analyzer with a free channel, no QC failure and the reagents for
    it (a non-STAT head does not take the last channels that STAT tubes due within
    ``stat_hold_s`` need); queue specimens lying in the zone (reruns, drop-offs) on the
    analyzer with the shortest expected wait. See :class:`~.operator.Operator`.
    """
