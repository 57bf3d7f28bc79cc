"""The stdlib canonical JSON reproduces the engine's orjson bytes exactly."""

from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest

from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.evidence.canonical import canonical_bytes, format_float


def test_floats_match_orjson_bit_for_bit() -> None:
    rng = np.random.default_rng(20240611)
    values = [0.0, -0.0, 1e-5, 1.234e-5, -9.99e-5, 1e-6, 1e-7, 1e16, 1e15, 5e-324, 1e308]
    values += [struct.unpack("<d", rng.bytes(8))[0] for _ in range(20000)]
    values += [float(x) for x in rng.uniform(-1, 1, 5000) * 10.0 ** rng.integers(-30, 30, 5000)]
    values += [round(float(x), 1) for x in rng.uniform(-1e5, 1e5, 2000)]
    for v in values:
        assert format_float(v).encode() == orjson.dumps(v), repr(v)
    assert format_float(float("nan")) == "null" == orjson.dumps(float("inf")).decode()


def test_documents_match_the_engine_form() -> None:
    doc = {
        "b": [1, 2.5, None, True, False, 'x\n\t\u0001\u007f\u2028é😀"\\'],
        "a": {"z": -0.0, "é": 1e-5, "K": 1e300, "😀": [], "": {}},
        "n": -(2**63),
    }
    assert canonical_bytes(doc) == canonical_json(doc)


@pytest.mark.parametrize("bad", [{"k": "\ud800"}, {1: "x"}, {"s": {1, 2}}, b"bytes"])
def test_values_without_a_canonical_form_are_value_errors(bad: object) -> None:
    with pytest.raises(ValueError):
        canonical_bytes(bad)


def test_deep_nesting_is_a_value_error() -> None:
    doc: object = []
    for _ in range(100_000):
        doc = [doc]
    with pytest.raises(ValueError, match="deep"):
        canonical_bytes(doc)
