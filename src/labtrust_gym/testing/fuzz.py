"""Hostile actions for fuzzing the env and its action codec.

:class:`ActionFuzzer` draws, for one agent of one env, either a *hostile* action — a value
of every shape a careless or malicious caller can hand to ``env.step`` (indices that are
strings, floats, NaN, bools, numpy arrays or out of range; mappings whose
``action_info``, ``token_refs``, ``action_type``, ``args``, ``key_id``/``signature`` or
``sign_with`` are of the wrong type; args that are not canonical JSON...) — or a *valid*
one (a uniform index of the action space, or a uniform index among those the agent's
action mask allows). :func:`hostile_kinds` lists the hostile generators by name.

The env must answer every one of them with a step result (ACCEPTED or BLOCKED with a
registered reason code), never an exception: ``labtrust bench fuzz`` and
``tests/envs/test_fuzz.py`` drive it (see :mod:`labtrust_gym.bench.fuzz_bench`).

Draws are deterministic for a given generator state (no object identities, no set-order
dependence on hash seeds reach the env's audit log through the codec's descriptions).
"""

from __future__ import annotations

import decimal
import fractions
from collections.abc import Callable
from typing import Any

import numpy as np

from labtrust_gym.engine.action_types import ACTION_TYPES
from labtrust_gym.engine.signatures import private_key_from_bytes

__all__ = ["ActionFuzzer", "hostile_kinds", "HOSTILE_SCALARS", "NOT_JSON_VALUES"]


class _Opaque:
    """An object of a type no codec knows (its repr carries no address)."""

    def __repr__(self) -> str:
        return "<opaque>"


def _self_ref_list() -> list[Any]:
    lst: list[Any] = [1]
    lst.append(lst)
    return lst


def _deep(depth: int) -> Any:
    v: Any = "leaf"
    for _ in range(depth):
        v = [v]
    return v


#: Scalars that are not action indices (each must be BLOCKED, none may raise).
HOSTILE_SCALARS: tuple[Callable[[], Any], ...] = (
    lambda: "3",
    lambda: " 7 ",
    lambda: "\u0663",  # ARABIC-INDIC DIGIT THREE: int() accepts it
    lambda: "",
    lambda: "nonsense",
    lambda: b"3",
    lambda: bytearray(b"3"),
    lambda: 3.9,
    lambda: 3.0,
    lambda: float("nan"),
    lambda: float("inf"),
    lambda: float("-inf"),
    lambda: True,
    lambda: False,
    lambda: np.bool_(True),
    lambda: np.float32(2.0),
    lambda: np.float64("nan"),
    lambda: complex(1, 0),
    lambda: decimal.Decimal(3),
    lambda: fractions.Fraction(3, 1),
    lambda: np.array([3]),
    lambda: np.array(2.5),
    lambda: [3],
    lambda: (3,),
    lambda: {3},
    lambda: frozenset({3}),
    lambda: _Opaque(),
    lambda: _self_ref_list(),
)

#: Values that are not canonical JSON (each inside ``args`` must be BLOCKED).
NOT_JSON_VALUES: tuple[Callable[[], Any], ...] = (
    lambda: b"bytes",
    lambda: bytearray(b"x"),
    lambda: {1, 2},
    lambda: frozenset({"a"}),
    lambda: decimal.Decimal("1.5"),
    lambda: 2**70,
    lambda: -(2**70),
    lambda: "\ud800",  # a lone surrogate: not UTF-8
    lambda: float("nan"),
    lambda: float("inf"),
    lambda: float("-inf"),
    lambda: np.array([1, 2]),
    lambda: np.array("S1"),
    lambda: np.int64(3),
    lambda: np.float64(1.0),
    lambda: (1, 2),
    lambda: {1: "x"},
    lambda: {"k": {2: "y"}},
    lambda: _Opaque(),
    lambda: complex(1, 2),
    lambda: _self_ref_list(),
    lambda: _deep(400),
    lambda: fractions.Fraction(1, 3),
)


def hostile_kinds() -> tuple[str, ...]:
    """Names of the hostile generators, in a fixed order."""
    return tuple(name[3:] for name in dir(ActionFuzzer) if name.startswith("_h_"))


class ActionFuzzer:
    """Draws hostile and valid actions for the agents of ``env``.

    ``rng`` is a ``numpy.random.Generator``; ``keys`` maps engine agent ids to their
    signing keys ``(key_id, private key)`` (as ``task.agent_keys(seed)``), so that some
    ``sign_with`` actions are validly signed and some use another agent's key.
    """

    def __init__(
        self, env: Any, rng: np.random.Generator, keys: dict[str, Any] | None = None
    ) -> None:
        self.env = env
        self.rng = rng
        self.keys = dict(keys or {})
        self.n = int(env.codec.n)
        self._kinds = hostile_kinds()
        self._types = sorted(ACTION_TYPES)
        self._zones = sorted(env.world.zones)
        self._stranger = ("K_STRANGER", private_key_from_bytes(bytes(range(32))))

    # ------------------------------------------------------------------ drawing -------
    def pick(self, seq: Any) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def hostile(self, agent: str) -> tuple[str, Any]:
        """``(kind, action)``: one hostile action for ``agent`` (a PettingZoo name)."""
        kind = self.pick(self._kinds)
        return kind, getattr(self, "_h_" + kind)(agent)

    def valid_index(self) -> int:
        """A uniform index of the action space (what a random policy samples)."""
        return int(self.rng.integers(self.n))

    def allowed_index(self, mask: Any, *, skip_trivial: bool = True) -> int | None:
        """A uniform index among those ``mask`` allows (NOOP and TICK left out unless
        ``skip_trivial`` is false); None when there is none."""
        idx = np.flatnonzero(np.asarray(mask))
        if skip_trivial:
            idx = idx[idx > 1]
        if idx.size == 0:
            return None
        return int(idx[int(self.rng.integers(idx.size))])

    # ------------------------------------------------------------------ pieces --------
    def _scalar(self) -> Any:
        return self.pick(HOSTILE_SCALARS)()

    def _not_json(self) -> Any:
        return self.pick(NOT_JSON_VALUES)()

    def _bad_index(self) -> Any:
        r = int(self.rng.integers(8))
        n = self.n
        return (
            -1,
            n,
            n + int(self.rng.integers(1, 1000)),
            2**63,
            2**70,
            -(2**70),
            np.uint64(2**64 - 1),
            np.int8(-1),
        )[r]

    def _good_index(self) -> Any:
        i = self.valid_index()
        return (i, np.int64(i), np.int32(i), np.uint16(min(i, 65535)), np.array(i))[
            int(self.rng.integers(5))
        ]

    def _action_type(self) -> Any:
        return self.pick(
            (
                lambda: self.pick(self._types),
                lambda: "NOT_AN_ACTION",
                lambda: "",
                lambda: ["MOVE"],
                lambda: {"MOVE": 1},
                lambda: None,
                lambda: 7,
                lambda: b"MOVE",
                lambda: np.str_("MOVE"),
            )
        )()

    def _refs(self) -> Any:
        return self.pick(
            (
                lambda: "T1",
                lambda: ["T1", 2],
                lambda: ("T1",),
                lambda: {"T1"},
                lambda: [b"T1"],
                lambda: 5,
                lambda: [None],
                lambda: ["T_NONE"],
                lambda: [],
            )
        )()

    def _args(self) -> Any:
        zone = self.pick(self._zones)
        return self.pick(
            (
                lambda: {"to_zone": self._not_json()},
                lambda: {"to_zone": zone, "extra": self._not_json()},
                lambda: {"specimen_ids": [self._not_json()]},
                lambda: self._not_json(),
                lambda: ["to_zone", zone],
                lambda: "to_zone",
                lambda: {"to_zone": zone},
                lambda: {},
            )
        )()

    def _sig_value(self) -> Any:
        return self.pick(
            (
                lambda: b"\x00" * 64,
                lambda: 12345,
                lambda: "zz",
                lambda: self.rng.bytes(64).hex(),
                lambda: ["K"],
                lambda: float("nan"),
                lambda: None,
            )
        )()

    def _sign_with(self, agent: str) -> Any:
        eid = self.env.engine_id.get(agent, agent)
        own = self.keys.get(eid)
        other = self.keys.get(self.pick(sorted(self.keys))) if self.keys else None
        return self.pick(
            (
                lambda: own or self._stranger,
                lambda: other or self._stranger,
                lambda: self._stranger,
                lambda: ("K_X", "not a key"),
                lambda: "K_X",
                lambda: (1, 2, 3),
                lambda: (None, None),
                lambda: [own[0] if own else "K_X", b"\x00" * 32],
                lambda: {"key_id": "K_X"},
                lambda: (b"K", own[1] if own else self._stranger[1]),
            )
        )()

    # ------------------------------------------------------------------ generators ----
    def _h_scalar(self, agent: str) -> Any:
        return self._scalar()

    def _h_index_out_of_range(self, agent: str) -> Any:
        return self._bad_index()

    def _h_contract_bad_index(self, agent: str) -> Any:
        return {"action_index": self.pick((self._scalar, self._bad_index))()}

    def _h_contract_bad_info(self, agent: str) -> Any:
        info = self.pick(
            (
                lambda: ["to_zone", "Z"],
                lambda: "to_zone",
                lambda: 5,
                lambda: {"to_zone": self._not_json()},
                lambda: {"action_type": self._action_type(), "args": {}},
                lambda: {"action_type": "MOVE", "args": self._args()},
                lambda: {"token_refs": self._refs(), "to_zone": self.pick(self._zones)},
                lambda: {"key_id": self._sig_value(), "signature": self._sig_value()},
                lambda: {"sign_with": self._sign_with(agent), "to_zone": self.pick(self._zones)},
                lambda: {"args": {"to_zone": "Z"}, "stray": 1},
            )
        )()
        return {"action_index": int(self.rng.integers(6)), "action_info": info}

    def _h_raw_bad_type(self, agent: str) -> Any:
        return {"action_type": self._action_type(), "args": {}, "token_refs": []}

    def _h_raw_bad_args(self, agent: str) -> Any:
        return {"action_type": self.pick(self._types), "args": self._args()}

    def _h_raw_bad_refs(self, agent: str) -> Any:
        return {"action_type": self.pick(self._types), "args": {}, "token_refs": self._refs()}

    def _h_raw_bad_signature(self, agent: str) -> Any:
        return {
            "action_type": "MOVE",
            "args": {"to_zone": self.pick(self._zones)},
            "key_id": self._sig_value(),
            "signature": self._sig_value(),
        }

    def _h_raw_sign_with(self, agent: str) -> Any:
        act: dict[str, Any] = {
            "action_type": self.pick(("MOVE", "TICK", "DISPATCH_TRANSPORT", "VERIFY_AUDIT")),
            "args": {"to_zone": self.pick(self._zones)},
            "sign_with": self._sign_with(agent),
        }
        if self.rng.random() < 0.2:
            act["signature"] = "00"
        return act

    def _h_mapping_shape(self, agent: str) -> Any:
        return self.pick(
            (
                lambda: {},
                lambda: {"foo": 1},
                lambda: {1: 2},
                lambda: {"action_index": 1, "action_type": "TICK"},
                lambda: {"action_type": "TICK", "args": {}, "stray": True},
                lambda: {"action_index": 1, "action_info": {}, "stray": True},
            )
        )()

    def _h_good_index_forms(self, agent: str) -> Any:
        # Accepted forms that a codec must not mangle: ints and numpy integers.
        return self._good_index()
