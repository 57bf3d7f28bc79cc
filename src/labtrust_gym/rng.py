"""The one path of randomness: every generator is derived from the episode seed.

``stream(seed, name)`` returns a ``numpy.random.Generator`` for a named purpose. Streams
are independent children of ``SeedSequence(seed)`` at fixed indices, so adding a consumer
never shifts another's draws, and nothing depends on Python's per-process salted hashing.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STREAMS", "stream", "derive_seed"]

#: Fixed stream indices. Append new names; never reorder.
STREAMS: dict[str, int] = {
    "values": 0,
    "service": 1,
    "faults": 2,
    "transport": 3,
    "misc": 4,
    "scenario": 5,
    "keys": 6,
    "adversary": 7,
    "policy": 8,
    "network": 9,
    "scale": 10,
    "injection": 11,
    "insider": 12,
    "backlog": 13,
}


def stream(seed: int, name: str) -> np.random.Generator:
    idx = STREAMS[name]
    ss = np.random.SeedSequence(int(seed), spawn_key=(idx,))
    return np.random.Generator(np.random.PCG64(ss))


def derive_seed(base_seed: int, *parts: int | str) -> int:
    """A stable 63-bit seed from a base seed and an identity (ints or strings)."""
    words: list[int] = [int(base_seed) & 0xFFFFFFFF, (int(base_seed) >> 32) & 0xFFFFFFFF]
    for p in parts:
        if isinstance(p, str):
            words.extend(p.encode("utf-8"))
            words.append(0x1F)
        else:
            words.extend([int(p) & 0xFFFFFFFF, (int(p) >> 32) & 0xFFFFFFFF])
    state = np.random.SeedSequence(words).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)
