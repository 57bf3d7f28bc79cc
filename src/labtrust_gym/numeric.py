"""Small numeric helpers shared by the metrics of every layer (standard library only)."""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["percentile"]


def percentile(xs: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile of ``xs`` (None when empty), bit for bit what
    ``numpy.percentile`` gives with its default linear interpolation.

    In pure Python because ``numpy.percentile`` imports ``numpy.ma`` on first use, a tenth
    of a one-episode run's start-up, for a few short lists per episode.
    """
    s = sorted(float(x) for x in xs)
    n = len(s)
    if n == 0:
        return None
    pos = (n - 1) * (q / 100.0)
    lo = math.floor(pos)
    if lo >= n - 1:
        return s[-1]
    a, b = s[lo], s[lo + 1]
    t = pos - lo
    # numpy interpolates from the nearer end, so that t close to 1 lands on b exactly.
    return b - (b - a) * (1.0 - t) if t >= 0.5 else a + (b - a) * t
