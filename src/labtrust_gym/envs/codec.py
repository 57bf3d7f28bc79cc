"""Actions: the flat discrete action space, its masks, and decoding to engine events.

Accepted action forms (see docs/actions.md for the full reference):

* an **index** of ``Discrete(n)``: a Python ``int`` (not ``bool``), a numpy integer
  scalar or a 0-d numpy integer array — what ``Discrete(n).contains`` accepts, less
  ``bool``. Entry ``k`` of :attr:`ActionCodec.entries` is ``(action_type, parameter)``,
  such as ``("MOVE", "Z_CORRIDOR")``, ``("START_RUN", "DEV_CHEM_0001")`` or
  ``("PICK_UP", 2)`` (slot 2 = the third item of the agent's work list, most urgent
  first). The env fills in the arguments when the agent's turn comes;
* the reference contract's ``{"action_index": 0..5, "action_info": {...}}`` (indices
  NOOP, TICK, QUEUE_RUN, MOVE, OPEN_DOOR, START_RUN) with explicit arguments in
  ``action_info`` (``action_info["action_type"]`` may name any other engine action);
* a raw engine action ``{"action_type": str, "args": {...}, "token_refs": [...]}``
  (optionally ``key_id`` and ``signature``, or ``sign_with``);
* ``None``: no action (as NOOP).

Nothing is coerced: ``"3"``, ``3.9``, ``True``, ``b"3"``, NaN, a list or any other value
is not an action. :meth:`ActionCodec.decode` turns each such value into a
:class:`Rejection` with a registered reason code (``ACTION_*``, see the module's
``REJECTION_CODES``) that the env records as a BLOCKED step; it never raises.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "ActionCodec",
    "CONTRACT_ACTIONS",
    "SLOT_ACTIONS",
    "DEVICE_ACTIONS",
    "N_SLOTS",
    "Rejection",
    "REJECTION_CODES",
    "MAX_ARGS_DEPTH",
    "MAX_ARGS_VALUES",
    "describe",
    "json_problem",
]

#: The reference contract's action_index vocabulary.
CONTRACT_ACTIONS = ("NOOP", "TICK", "QUEUE_RUN", "MOVE", "OPEN_DOOR", "START_RUN")
SLOT_ACTIONS = (
    "ACCESSION",
    "PICK_UP",
    "DROP_OFF",
    "RELEASE_RESULT",
    "NOTIFY_CRITICAL",
    "ACK_CRITICAL",
    "REQUEST_RERUN",
    "RESOLVE_HOLD",
)
DEVICE_ACTIONS = (
    "QUEUE_RUN",
    "START_RUN",
    "RUN_QC",
    "CALIBRATE",
    "REPAIR_DEVICE",
    "RESTOCK_REAGENT",
)
N_SLOTS = 8
#: Deepest nesting of lists and dicts inside ``args`` (``args`` itself is level 1).
MAX_ARGS_DEPTH = 16
#: Most values (containers included) inside one ``args``.
MAX_ARGS_VALUES = 4096

#: Reason codes of actions the codec rejects before any engine event exists.
REJECTION_CODES = (
    "ACTION_FORM_UNKNOWN",
    "ACTION_INDEX_NOT_INTEGER",
    "ACTION_INDEX_OUT_OF_RANGE",
    "ACTION_FIELD_UNKNOWN",
    "ACTION_INFO_NOT_MAPPING",
    "ACTION_TYPE_INVALID",
    "ACTION_ARGS_NOT_MAPPING",
    "ACTION_ARGS_NOT_JSON",
    "ACTION_TOKEN_REFS_INVALID",
    "ACTION_SIGNATURE_FIELDS_INVALID",
    "ACTION_SIGN_WITH_INVALID",
)

_RAW_KEYS = frozenset({"action_type", "args", "token_refs", "key_id", "signature", "sign_with"})
_CONTRACT_KEYS = frozenset({"action_index", "action_info"})
#: Keys of ``action_info`` that are not arguments.
_INFO_META = frozenset({"action_type", "token_refs", "key_id", "signature", "sign_with"})
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what canonical JSON (orjson) can write


class Rejection(NamedTuple):
    """An action the codec cannot turn into an engine event: ``code`` (registered) and
    ``problem`` (what is wrong, naming the field)."""

    code: str
    problem: str


def _index_of(value: Any) -> int | None:
    """The integer of an accepted index form, else None (bool is not an index)."""
    t = type(value)
    if t is int:
        return value
    if t is bool or t is np.bool_:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iu":
        return int(value)
    return None


def _utf8(s: str) -> bool:
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_problem(value: Any, where: str = "args") -> str | None:
    """What keeps ``value`` from being canonical JSON, or None.

    Canonical JSON here is what the audit log writes without changing a value: dicts
    with string keys, lists, strings (valid UTF-8), ``bool``, ``None``, integers that fit
    in 64 bits and finite floats, nested at most :data:`MAX_ARGS_DEPTH` deep and at most
    :data:`MAX_ARGS_VALUES` values in all. Tuples, sets, bytes, Decimal, numpy values,
    NaN and infinities are not (each would be changed or refused on the way to JSON).
    """
    stack: list[tuple[Any, str, int]] = [(value, where, 1)]
    count = 0
    while stack:
        v, path, depth = stack.pop()
        count += 1
        if count > MAX_ARGS_VALUES:
            return f"{where} holds more than {MAX_ARGS_VALUES} values"
        if isinstance(v, str):
            if not _utf8(v):
                return f"{path} is a string with a lone surrogate (not UTF-8)"
            continue
        if v is None or v is True or v is False:
            continue
        t = type(v)
        if t is float:
            if not math.isfinite(v):
                return f"{path} is {v!r}, which JSON cannot hold"
            continue
        if isinstance(v, int) and not isinstance(v, np.generic):
            if not _INT_MIN <= v <= _INT_MAX:
                return f"{path} is an integer beyond 64 bits"
            continue
        if isinstance(v, dict):
            if depth >= MAX_ARGS_DEPTH and v:
                return f"{path} is nested deeper than {MAX_ARGS_DEPTH} levels"
            for k, x in v.items():
                if not isinstance(k, str):
                    return f"{path} has a key of type {type(k).__name__}; keys are strings"
                if not _utf8(k):
                    return f"{path} has a key with a lone surrogate (not UTF-8)"
                stack.append((x, f"{path}.{k}", depth + 1))
            continue
        if isinstance(v, list):
            if depth >= MAX_ARGS_DEPTH and v:
                return f"{path} is nested deeper than {MAX_ARGS_DEPTH} levels"
            for i, x in enumerate(v):
                stack.append((x, f"{path}[{i}]", depth + 1))
            continue
        return f"{path} is a {t.__module__}.{t.__qualname__}, not a JSON value".replace(
            "builtins.", ""
        )
    return None


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def describe(value: Any, limit: int = 160) -> str:
    """A short, deterministic, JSON-safe description of any value (for the audit log).

    No object addresses, no set order that depends on the hash seed, no lone surrogates;
    at most ``limit`` characters."""
    out: list[str] = []
    budget = [limit]

    def put(s: str) -> None:
        if budget[0] > 0:
            out.append(s[: budget[0]])
            budget[0] -= len(s)

    def walk(v: Any, depth: int) -> None:
        if budget[0] <= 0:
            return
        if depth > 4:
            put("...")
            return
        if isinstance(v, dict):
            put("{")
            for i, (k, x) in enumerate(v.items()):
                if i:
                    put(", ")
                if budget[0] <= 0:
                    return
                walk(k, depth + 1)
                put(": ")
                walk(x, depth + 1)
            put("}")
        elif isinstance(v, (list, tuple)):
            put("[" if isinstance(v, list) else "(")
            for i, x in enumerate(v):
                if i:
                    put(", ")
                if budget[0] <= 0:
                    return
                walk(x, depth + 1)
            put("]" if isinstance(v, list) else ")")
        elif isinstance(v, (set, frozenset)):
            if len(v) > 64:
                put(f"{type(v).__name__}(<{len(v)} items>)")
            else:
                items = sorted(describe(x, 40) for x in v)
                put(f"{type(v).__name__}({{{', '.join(items)}}})")
        elif isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 128:
            put(f"<int of {v.bit_length()} bits>")
        elif isinstance(v, np.ndarray):
            put(f"ndarray(shape={v.shape}, dtype={v.dtype})")
        elif isinstance(v, (str, bytes, bytearray, int, float, complex, np.generic)) or v is None:
            put(repr(v[:limit] if isinstance(v, (str, bytes, bytearray)) else v))
        else:
            t = type(v)
            try:
                text = repr(v)
            except Exception:  # noqa: BLE001 - a broken __repr__ is still described
                text = ""
            text = _ADDRESS.sub("", text)
            put(f"<{t.__module__}.{t.__qualname__}>" if not text or "<" in text else text)

    walk(value, 0)
    text = "".join(out)[:limit]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _keys_desc(keys: Any) -> str:
    return ", ".join(sorted(describe(k, 30) for k in list(keys)[:8]))


def _refs(value: Any, where: str) -> list[str] | Rejection:
    if value is None:
        return []
    if not isinstance(value, list):
        return Rejection(
            "ACTION_TOKEN_REFS_INVALID",
            f"{where} is a {type(value).__name__}; give a list of token id strings",
        )
    for i, r in enumerate(value):
        if not isinstance(r, str) or not _utf8(r):
            return Rejection(
                "ACTION_TOKEN_REFS_INVALID",
                f"{where}[{i}] is a {type(r).__name__}; token ids are strings",
            )
    return list(value)


def _sig_fields(src: dict[str, Any], out: dict[str, Any], where: str) -> Rejection | None:
    """Copy ``key_id``/``signature`` or ``sign_with`` from ``src`` into ``out``."""
    if "sign_with" in src:
        sw = src["sign_with"]
        if "key_id" in src or "signature" in src:
            return Rejection(
                "ACTION_SIGN_WITH_INVALID",
                f"{where} has sign_with and key_id/signature; give one or the other",
            )
        if (
            not isinstance(sw, (tuple, list))
            or len(sw) != 2
            or not isinstance(sw[0], str)
            or not sw[0]
            or not _utf8(sw[0])
            or not isinstance(sw[1], Ed25519PrivateKey)
        ):
            return Rejection(
                "ACTION_SIGN_WITH_INVALID",
                f"{where}.sign_with is {describe(sw, 60)}; give (key_id, Ed25519PrivateKey)",
            )
        out["sign_with"] = (sw[0], sw[1])
        return None
    for k in ("key_id", "signature"):
        if k in src:
            v = src[k]
            if v is not None and (not isinstance(v, str) or not _utf8(v)):
                return Rejection(
                    "ACTION_SIGNATURE_FIELDS_INVALID",
                    f"{where}.{k} is a {type(v).__name__}; give a string or None",
                )
            out[k] = v
    return None


def _args(value: Any, where: str) -> dict[str, Any] | Rejection:
    if value is None:
        return {}
    if not isinstance(value, dict):
        return Rejection(
            "ACTION_ARGS_NOT_MAPPING", f"{where} is a {type(value).__name__}; give a dict"
        )
    problem = json_problem(value, where)
    if problem is not None:
        return Rejection("ACTION_ARGS_NOT_JSON", problem)
    return value


class ActionCodec:
    """Enumerates the discrete actions of a world and turns actions into engine actions."""

    def __init__(self, world: Any, n_slots: int = N_SLOTS) -> None:
        self.world = world
        self.n_slots = n_slots
        e: list[tuple[str, Any]] = [("NOOP", None), ("TICK", None)]
        self.zones = sorted(world.zones)
        self.doors = sorted(world.doors)
        self.devices = sorted(world.devices)
        self.routes = sorted(world.routes)
        e += [("MOVE", z) for z in self.zones]
        for d in self.doors:
            e += [("OPEN_DOOR", d), ("CLOSE_DOOR", d)]
        for dev in self.devices:
            e += [(a, dev) for a in DEVICE_ACTIONS]
        for a in SLOT_ACTIONS:
            e += [(a, k) for k in range(n_slots)]
        for r in self.routes:
            e += [("DISPATCH_TRANSPORT", r), ("RECEIVE_TRANSPORT", r)]
        e += [("CLEAR_FREEZE", z) for z in self.zones]
        e.append(("VERIFY_AUDIT", None))
        self.entries = e
        self.n = len(e)
        self.index = {x: i for i, x in enumerate(e)}
        self.slot_start = {a: self.index[(a, 0)] for a in SLOT_ACTIONS}
        self._static: dict[tuple[str | None, str | None], np.ndarray] = {}

    # ---------------------------------------------------------------- masks ------------
    def static_mask(self, role: str | None, zone: str | None) -> np.ndarray:
        """Actions the role may attempt from ``zone`` (cached; zone None = in transit)."""
        key = (role, zone)
        m = self._static.get(key)
        if m is not None:
            return m
        w = self.world
        m = np.zeros(self.n, dtype=np.int8)
        m[0] = m[1] = 1
        if role is not None and zone is not None:
            spec = w.roles[role]
            for i, (a, p) in enumerate(self.entries):
                if a not in spec.actions:
                    continue
                if a == "MOVE":
                    ok = p in w.adjacency[zone] and w.zones[p]["kind"] in spec.zone_kinds
                elif a in ("OPEN_DOOR", "CLOSE_DOOR"):
                    ok = zone in w.doors[p]["zones"]
                elif a in DEVICE_ACTIONS:
                    d = w.devices[p]
                    here = d["zone"] == zone
                    if a == "RESTOCK_REAGENT":  # fetched at its site's stores, loaded here
                        here = here or p in w.stores_devices.get(zone, ())
                    ok = here and d["device_type"] in spec.device_types
                    if a in ("RUN_QC", "CALIBRATE"):
                        ok = ok and w.device_types[d["device_type"]]["kind"] == "analyzer"
                elif a == "ACCESSION":
                    ok = w.zones[zone]["kind"] == "reception"
                elif a == "DISPATCH_TRANSPORT":
                    ok = zone == w.sites[w.routes[p]["from_site"]]["dispatch_zone"]
                elif a == "RECEIVE_TRANSPORT":
                    ok = zone == w.sites[w.routes[p]["to_site"]]["dispatch_zone"]
                else:
                    ok = True
                m[i] = 1 if ok else 0
        self._static[key] = m
        return m

    # ---------------------------------------------------------------- decoding ---------
    def decode(self, action: Any) -> None | tuple[str, Any] | dict[str, Any] | Rejection:
        """Turn one agent's action into what the env submits; never raises.

        Returns None (no action: NOOP or ``None``), ``(action_type, parameter)`` for an
        index (the env fills the arguments at the agent's turn, :meth:`fill`), an engine
        action dict ``{action_type, args, token_refs[, key_id, signature | sign_with]}``
        for the mapping forms, or a :class:`Rejection`.
        """
        idx = _index_of(action)
        if idx is not None:
            if not 0 <= idx < self.n:
                return Rejection(
                    "ACTION_INDEX_OUT_OF_RANGE",
                    f"action index {idx} is outside 0..{self.n - 1}",
                )
            entry = self.entries[idx]
            return None if idx == 0 else entry
        if action is None:
            return None
        if isinstance(action, dict):
            if "action_type" in action:
                if "action_index" in action:
                    return Rejection(
                        "ACTION_FORM_UNKNOWN",
                        "the action has both action_type and action_index; use one form",
                    )
                return self._from_raw(action)
            if "action_index" in action:
                return self._from_contract(action)
            return Rejection(
                "ACTION_FORM_UNKNOWN",
                f"a dict action needs action_type or action_index; got keys {_keys_desc(action)}",
            )
        if isinstance(
            action, (str, bytes, bytearray, float, bool, np.bool_, np.generic, complex)
        ) or (isinstance(action, np.ndarray) and action.shape == ()):
            return Rejection(
                "ACTION_INDEX_NOT_INTEGER",
                f"action {describe(action, 60)} ({type(action).__name__}) is not an integer "
                "index; give an int or a numpy integer",
            )
        t = type(action)
        if t.__module__ in ("decimal", "fractions"):
            return Rejection(
                "ACTION_INDEX_NOT_INTEGER",
                f"action {describe(action, 60)} ({t.__name__}) is not an integer index",
            )
        return Rejection(
            "ACTION_FORM_UNKNOWN",
            f"action of type {t.__name__} is neither an index, a dict nor None",
        )

    def _from_raw(self, action: dict[str, Any]) -> dict[str, Any] | Rejection | None:
        extra = [k for k in action if k not in _RAW_KEYS]
        if extra:
            return Rejection(
                "ACTION_FIELD_UNKNOWN",
                f"unknown key(s) {_keys_desc(extra)} in an engine "
                f"action; allowed: {', '.join(sorted(_RAW_KEYS))}",
            )
        atype = action["action_type"]
        if not isinstance(atype, str) or not atype or not _utf8(atype):
            return Rejection(
                "ACTION_TYPE_INVALID",
                f"action_type is {describe(atype, 60)}; give an engine action type name",
            )
        args = _args(action.get("args"), "args")
        if type(args) is Rejection:
            return args
        refs = _refs(action.get("token_refs"), "token_refs")
        if type(refs) is Rejection:
            return refs
        out: dict[str, Any] = {"action_type": atype, "args": args, "token_refs": refs}
        bad = _sig_fields(action, out, "action")
        if bad is not None:
            return bad
        return None if atype == "NOOP" else out

    def _from_contract(self, action: dict[str, Any]) -> dict[str, Any] | Rejection | None:
        extra = [k for k in action if k not in _CONTRACT_KEYS]
        if extra:
            return Rejection(
                "ACTION_FIELD_UNKNOWN",
                f"unknown key(s) {_keys_desc(extra)} beside "
                "action_index; put arguments in action_info",
            )
        raw_idx = action["action_index"]
        idx = _index_of(raw_idx)
        if idx is None:
            return Rejection(
                "ACTION_INDEX_NOT_INTEGER",
                f"action_index {describe(raw_idx, 60)} ({type(raw_idx).__name__}) is not "
                "an integer",
            )
        if not 0 <= idx < len(CONTRACT_ACTIONS):
            return Rejection(
                "ACTION_INDEX_OUT_OF_RANGE",
                f"action_index {idx} is outside 0..{len(CONTRACT_ACTIONS) - 1}",
            )
        info = action.get("action_info")
        if info is None:
            info = {}
        elif not isinstance(info, dict):
            return Rejection(
                "ACTION_INFO_NOT_MAPPING",
                f"action_info is a {type(info).__name__}; give a dict",
            )
        atype = info.get("action_type")
        if atype is None:
            atype = CONTRACT_ACTIONS[idx]
        elif not isinstance(atype, str) or not atype or not _utf8(atype):
            return Rejection(
                "ACTION_TYPE_INVALID",
                f"action_info.action_type is {describe(atype, 60)}; give an engine action "
                "type name",
            )
        if "args" in info:
            extra = [k for k in info if k not in _INFO_META and k != "args"]
            if extra:
                return Rejection(
                    "ACTION_FIELD_UNKNOWN",
                    f"action_info has args and also {_keys_desc(extra)}; "
                    "put every argument in args",
                )
            args = _args(info["args"], "action_info.args")
        else:
            args = _args({k: v for k, v in info.items() if k not in _INFO_META}, "action_info")
        if type(args) is Rejection:
            return args
        refs = _refs(info.get("token_refs"), "action_info.token_refs")
        if type(refs) is Rejection:
            return refs
        out: dict[str, Any] = {"action_type": atype, "args": args, "token_refs": refs}
        bad = _sig_fields(info, out, "action_info")
        if bad is not None:
            return bad
        return None if atype == "NOOP" else out

    def to_engine(self, env: Any, agent_id: str, action: Any) -> dict[str, Any] | None:
        """The engine action ``{action_type, args, token_refs[, key_id, signature |
        sign_with]}`` that ``action`` submits for ``agent_id`` now (an index's arguments
        filled from the current state), or None for no action. An action that is not
        valid raises ``ValueError`` with its reason code (``env.step`` instead records it
        as a BLOCKED step)."""
        dec = self.decode(action)
        if dec is None:
            return None
        if type(dec) is Rejection:
            raise ValueError(f"{dec.code}: {dec.problem}")
        if type(dec) is dict:
            return dict(dec)
        a, p = dec
        args, refs = self.fill(env, agent_id, a, p)
        return {"action_type": a, "args": args, "token_refs": refs}

    # ---------------------------------------------------------------- arguments -------
    def fill(self, env: Any, agent_id: str, a: str, p: Any) -> tuple[dict[str, Any], list[str]]:
        """``(args, token_refs)`` of index entry ``(a, p)`` for ``agent_id`` now."""
        if a == "OPEN_DOOR":
            tid = env.door_token(agent_id, p)
            return {"door_id": p}, ([tid] if tid is not None else [])
        return self._fill_args(env, agent_id, a, p), []

    def _fill_args(self, env: Any, agent_id: str, a: str, p: Any) -> dict[str, Any]:
        eng = env.engine
        if a == "MOVE":
            return {"to_zone": p}
        if a == "CLOSE_DOOR":
            return {"door_id": p}
        if a == "CLEAR_FREEZE":
            return {"zone_id": p}
        if a == "VERIFY_AUDIT" or a == "TICK":
            return {}
        if a == "QUEUE_RUN":
            sid = env.view.best_specimen_for_device(agent_id, p)
            return {"device_id": p, "specimen_id": sid} if sid else {"device_id": p}
        if a == "RESTOCK_REAGENT":  # the reagent the engine would fetch or load now
            rid = eng.restock_option(eng.agents[agent_id], p)[0]
            return {"device_id": p, "reagent_id": rid} if rid else {"device_id": p}
        if a in DEVICE_ACTIONS:
            return {"device_id": p}
        if a == "DISPATCH_TRANSPORT":
            sids = [
                s
                for s in eng.agents[agent_id].carrying
                if eng.specimens[s].status in ("ARRIVED", "ACCEPTED")
            ]
            env._consignment_seq += 1
            return {
                "consignment_id": f"C{env._consignment_seq:05d}-{agent_id}",
                "route_id": p,
                "specimen_ids": sids,
            }
        if a == "RECEIVE_TRANSPORT":
            for cid, c in eng.consignments.items():
                if c.route_id == p and c.status == "ARRIVED":
                    return {"consignment_id": cid}
            return {}
        lst = env.view.slot_list(agent_id, a)
        if p >= len(lst):
            return {}
        item = lst[p]
        if a in ("ACCESSION", "PICK_UP", "DROP_OFF"):
            return {"specimen_id": item}
        if a == "RESOLVE_HOLD":
            return {"specimen_id": item, "decision": "REJECT"}
        if a == "NOTIFY_CRITICAL":
            return {"result_id": item, "channel": self.notify_channel(eng)}
        if a == "ACK_CRITICAL":
            from labtrust_gym.engine.actions_results import critical_readback

            res = eng.results[item]
            role = eng.world.ladder["tiers"][res.crit_tier - 1]["recipient_role"]
            return {
                "result_id": item,
                "receiver_name": "on-call receiver",
                "receiver_role": role,
                "read_back": critical_readback(res.values, res.critical_analytes),
            }
        return {"result_id": item}

    @staticmethod
    def notify_channel(eng: Any) -> str:
        """The first channel of the escalation ladder usable now (downtime narrows it)."""
        ladder = eng.world.ladder
        chans = ladder["channels"]
        if eng.downtime:
            down = ladder["downtime_channels"]
            for c in chans:
                if c in down:
                    return str(c)
        return str(chans[0])
