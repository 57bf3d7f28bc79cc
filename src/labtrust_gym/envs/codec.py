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
``REJECTION_CODES``) that the env records as a BLOCKED step; it never raises. The value
checks themselves live in :mod:`labtrust_gym.envs.action_forms`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labtrust_gym.envs.action_forms import (
    MAX_ARGS_DEPTH,
    MAX_ARGS_VALUES,
    REJECTION_CODES,
    Rejection,
    args_of,
    describe,
    index_of,
    is_utf8,
    json_problem,
    keys_desc,
    refs_of,
    sig_fields,
)

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
_RAW_KEYS = frozenset({"action_type", "args", "token_refs", "key_id", "signature", "sign_with"})
_CONTRACT_KEYS = frozenset({"action_index", "action_info"})
#: Keys of ``action_info`` that are not arguments.
_INFO_META = frozenset({"action_type", "token_refs", "key_id", "signature", "sign_with"})


def _engine_action(
    src: dict[str, Any], atype: str, args: dict[str, Any], where: str
) -> dict[str, Any] | Rejection | None:
    """The engine action of an action's validated type and args, with the token refs and
    signature fields of ``src`` (``where``: its name in messages, "" for the action
    itself); None for NOOP."""
    refs = refs_of(src.get("token_refs"), f"{where}.token_refs" if where else "token_refs")
    if type(refs) is Rejection:
        return refs
    out: dict[str, Any] = {"action_type": atype, "args": args, "token_refs": refs}
    bad = sig_fields(src, out, where or "action")
    if bad is not None:
        return bad
    return None if atype == "NOOP" else out


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
        idx = index_of(action)
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
                f"a dict action needs action_type or action_index; got keys {keys_desc(action)}",
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
                f"unknown key(s) {keys_desc(extra)} in an engine "
                f"action; allowed: {', '.join(sorted(_RAW_KEYS))}",
            )
        atype = action["action_type"]
        if not isinstance(atype, str) or not atype or not is_utf8(atype):
            return Rejection(
                "ACTION_TYPE_INVALID",
                f"action_type is {describe(atype, 60)}; give an engine action type name",
            )
        args = args_of(action.get("args"), "args")
        if isinstance(args, Rejection):
            return args
        return _engine_action(action, atype, args, "")

    def _from_contract(self, action: dict[str, Any]) -> dict[str, Any] | Rejection | None:
        extra = [k for k in action if k not in _CONTRACT_KEYS]
        if extra:
            return Rejection(
                "ACTION_FIELD_UNKNOWN",
                f"unknown key(s) {keys_desc(extra)} beside "
                "action_index; put arguments in action_info",
            )
        raw_idx = action["action_index"]
        idx = index_of(raw_idx)
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
        elif not isinstance(atype, str) or not atype or not is_utf8(atype):
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
                    f"action_info has args and also {keys_desc(extra)}; put every argument in args",
                )
            args = args_of(info["args"], "action_info.args")
        else:
            args = args_of({k: v for k, v in info.items() if k not in _INFO_META}, "action_info")
        if isinstance(args, Rejection):
            return args
        return _engine_action(info, atype, args, "action_info")

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
