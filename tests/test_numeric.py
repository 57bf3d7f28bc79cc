"""``labtrust_gym.numeric.percentile`` is numpy's default percentile, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from labtrust_gym.numeric import percentile


@pytest.mark.parametrize("n", [1, 2, 3, 7, 20, 101, 1000])
def test_percentile_equals_numpy_bit_for_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    for draw in range(20):
        xs = (rng.lognormal(5.0, 1.5, n) * (1 + draw)).tolist()
        if draw % 3 == 0:
            xs = [float(round(x)) for x in xs]  # ties and integral values
        for q in (0, 1, 5, 25, 33.3, 50, 66.7, 90, 95, 99, 99.9, 100):
            want = float(np.percentile(xs, q))
            got = percentile(xs, q)
            assert got is not None and got.hex() == want.hex(), (n, draw, q, got, want)


def test_percentile_of_nothing_and_of_integers() -> None:
    assert percentile([], 50) is None
    assert percentile(iter([3, 1, 2]), 50) == 2.0
    assert percentile([1, 2], 25) == float(np.percentile([1, 2], 25))
