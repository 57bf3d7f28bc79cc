"""Pre-analytics: centrifuges and the aliquoter of the pre-analytics bench."""

from __future__ import annotations

from labtrust_gym.baselines.scripted.operator import Operator

__all__ = ["Preanalytics"]


class Preanalytics(Operator):
    """Operates the pre-analytical devices of its zone.

    Each step, in order: close a door left open; START_RUN the aliquoter whenever it is
    idle with a queue, or a centrifuge whose batch is ready (a STAT or URGENT tube, a full
    load, or the oldest tube waited ``centrifuge_max_wait_s``; a little longer while a
    runner is still queueing tubes for the same spin, and the bench's last idle
    centrifuge is kept for STAT tubes, see :func:`~.operator.batch_ready`); queue tubes
    lying in the zone that need a spin or aliquoting, highest priority and oldest first.
    A queue of higher priority than every startable head goes first. See
    :class:`~.operator.Operator`.
    """
