"""The arrival generator's mix draws are ``Generator.choice``'s, draw for draw."""

from __future__ import annotations

import numpy as np
import pytest

from labtrust_gym.benchmarks.arrivals import _Picker


@pytest.mark.parametrize(
    "mix",
    [
        {"CBC": 1.0},
        {"STAT": 0.1, "URGENT": 0.2, "ROUTINE": 0.7},
        {"a": 3, "b": 0, "c": 1e-9, "d": 7.25, "e": 0.3333},
        {f"k{i}": float(i % 5) + 0.1 for i in range(40)},
    ],
)
def test_picker_draws_what_choice_draws_and_consumes_the_same(mix: dict[str, float]) -> None:
    keys = list(mix)
    p = np.asarray([float(mix[k]) for k in keys])
    pick = _Picker(mix)
    for seed in range(20):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        for _ in range(300):
            assert pick(a) == keys[int(b.choice(len(keys), p=p / p.sum()))]
        assert a.random() == b.random()  # the streams stay in step
