"""Actions: the flat discrete action space, its masks, and decoding to engine events.

Three forms of action are accepted for every agent:

* an ``int`` in ``Discrete(n)``: an entry of :attr:`ActionCodec.entries` such as
  ``("MOVE", "Z_CORRIDOR")``, ``("START_RUN", "DEV_CHEM_0001")`` or ``("PICK_UP", 2)`` —
  slot ``k`` is the k-th item of the agent's work list (most urgent first). The env fills
  in the arguments; anything sampled is safe to submit (the engine BLOCKS what is not
  allowed);
* the reference contract's ``{"action_index": 0..5, "action_info": {...}}`` with indices
  NOOP, TICK, QUEUE_RUN, MOVE, OPEN_DOOR, START_RUN and explicit arguments in
  ``action_info`` (``action_info["action_type"]`` may name any other engine action);
* a raw engine action ``{"action_type": ..., "args": {...}, "token_refs": [...]}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ActionCodec", "CONTRACT_ACTIONS", "SLOT_ACTIONS", "N_SLOTS"]

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
_INF = float("inf")


class ActionCodec:
    """Enumerates the discrete actions of a world and turns them into engine actions."""

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
        self._types = np.array([a for a, _ in e])

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
    def to_engine(self, env: Any, agent_id: str, action: Any) -> dict[str, Any] | None:
        """Engine action ``{action_type, args, token_refs[, key_id, signature]}`` or None."""
        if isinstance(action, dict):
            if "action_type" in action:
                out = {
                    "action_type": action["action_type"],
                    "args": action.get("args") or {},
                    "token_refs": list(action.get("token_refs") or []),
                }
                for k in ("key_id", "signature", "sign_with"):
                    if k in action:
                        out[k] = action[k]
                return None if out["action_type"] == "NOOP" else out
            if "action_index" in action:
                return self._from_contract(action)
            return {"action_type": "__MALFORMED__", "args": {}, "token_refs": []}
        try:
            idx = int(action)
        except (TypeError, ValueError):
            return {"action_type": "__MALFORMED__", "args": {}, "token_refs": []}
        if not 0 <= idx < self.n:
            return {"action_type": "__OUT_OF_RANGE__", "args": {}, "token_refs": []}
        a, p = self.entries[idx]
        if a == "NOOP":
            return None
        return {"action_type": a, "args": self._args(env, agent_id, a, p), "token_refs": []}

    def _from_contract(self, action: dict[str, Any]) -> dict[str, Any] | None:
        info = dict(action.get("action_info") or {})
        try:
            idx = int(action["action_index"])
        except (TypeError, ValueError):
            return {"action_type": "__MALFORMED__", "args": {}, "token_refs": []}
        if not 0 <= idx < len(CONTRACT_ACTIONS):
            return {"action_type": "__OUT_OF_RANGE__", "args": {}, "token_refs": []}
        atype = info.pop("action_type", None) or CONTRACT_ACTIONS[idx]
        if atype == "NOOP":
            return None
        refs = list(info.pop("token_refs", None) or [])
        out: dict[str, Any] = {"action_type": atype, "token_refs": refs}
        for k in ("key_id", "signature"):
            if k in info:
                out[k] = info.pop(k)
        out["args"] = info.pop("args", None) or info
        return out

    def _args(self, env: Any, agent_id: str, a: str, p: Any) -> dict[str, Any]:
        eng = env.engine
        if a == "MOVE":
            return {"to_zone": p}
        if a in ("OPEN_DOOR", "CLOSE_DOOR"):
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
            return {"result_id": item, "channel": "PHONE"}
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
