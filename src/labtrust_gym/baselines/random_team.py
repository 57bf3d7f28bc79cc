"""A random engine-level team: the floor every real controller must beat.

Each step every agent standing in a zone acts with probability ``p_act``: it picks one
action type of its role at random and fills the arguments with plausible values drawn
from what exists (a neighbouring zone, a tube in its zone or hands, a device of its
zone, a result, a route...). Same interface as ``ScriptedTeam``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from labtrust_gym.engine.actions_results import critical_readback

__all__ = ["RandomTeam"]


class RandomTeam:
    def __init__(
        self, agent_ids: Iterable[str] | None = None, params: dict[str, Any] | None = None
    ) -> None:
        self.agent_ids = None if agent_ids is None else tuple(agent_ids)
        self.p_act = float((params or {}).get("p_act", 0.8))
        self.rng = np.random.default_rng(0)
        self._n = 0

    def reset(self, engine: Any, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self._n = 0

    def _pick(self, seq: list[Any]) -> Any:
        return seq[int(self.rng.integers(len(seq)))] if seq else None

    def propose(self, engine: Any, t_s: float) -> dict[str, dict[str, Any]]:
        ids = self.agent_ids or tuple(a for a, s in engine.agents.items() if s.role)
        by_zone: dict[str, list[str]] = {}
        for sid, s in engine.specimens.items():
            if s.loc_kind == "zone" and s.status not in ("REJECTED", "ANALYZED", "ALIQUOTED"):
                by_zone.setdefault(s.loc_id, []).append(sid)
        results = list(engine.results)[-50:]
        out = {}
        for aid in ids:
            a = engine.agents.get(aid)
            if a is None or a.zone is None or a.role is None or self.rng.random() > self.p_act:
                continue
            actions = sorted(engine.world.roles[a.role].actions)
            action = self._pick(actions)
            args = self._args(engine, a, action, by_zone, results)
            out[aid] = {"action_type": action, "args": args, "token_refs": []}
        return out

    def _args(
        self, e: Any, a: Any, action: str, by_zone: dict[str, list[str]], results: list[str]
    ) -> dict[str, Any]:
        w, pick = e.world, self._pick
        here = by_zone.get(a.zone, []) + list(a.carrying)
        devs_here = [d for d, v in e.devices.items() if v.zone == a.zone] or list(e.devices)
        if action == "MOVE":
            return {"to_zone": pick(sorted(w.adjacency[a.zone])) or a.zone}
        if action in ("OPEN_DOOR", "CLOSE_DOOR"):
            return {"door_id": pick(sorted(w.doors)) or "D_NONE"}
        if action in ("ACCESSION", "PICK_UP", "DROP_OFF"):
            return {"specimen_id": pick(here) or "S_NONE"}
        if action == "RESOLVE_HOLD":
            return {"specimen_id": pick(here) or "S_NONE", "decision": pick(["ACCEPT", "REJECT"])}
        if action == "QUEUE_RUN":
            return {"device_id": pick(devs_here), "specimen_id": pick(here) or "S_NONE"}
        if action in ("START_RUN", "RUN_QC", "CALIBRATE", "REPAIR_DEVICE"):
            return {"device_id": pick(devs_here)}
        if action == "RESTOCK_REAGENT":
            did = pick(devs_here)
            return {
                "device_id": did,
                "reagent_id": pick(sorted(e.devices[did].reagents)) or pick(sorted(w.reagents)),
            }
        if action in ("REQUEST_RERUN", "RELEASE_RESULT"):
            return {"result_id": pick(results) or "R_NONE"}
        if action == "NOTIFY_CRITICAL":
            return {
                "result_id": pick(results) or "R_NONE",
                "channel": pick(list(w.ladder["channels"])),
            }
        if action == "ACK_CRITICAL":
            rid = pick(results)
            r = e.results.get(rid) if rid else None
            tiers = [t["recipient_role"] for t in w.ladder["tiers"]]
            rb = critical_readback(r.values, r.critical_analytes) if r is not None else "K 5"
            return {
                "result_id": rid or "R_NONE",
                "receiver_name": "Dr Random",
                "receiver_role": pick(tiers),
                "read_back": rb,
            }
        if action == "SET_DOWNTIME":
            return {"active": bool(self.rng.random() < 0.5)}
        if action == "DISPATCH_TRANSPORT":
            self._n += 1
            return {
                "consignment_id": f"CR-{a.agent_id}-{self._n}",
                "route_id": pick(sorted(w.routes)) or "R_NONE",
                "specimen_ids": [pick(here) or "S_NONE"],
            }
        if action == "RECEIVE_TRANSPORT":
            return {"consignment_id": pick(sorted(e.consignments)) or "C_NONE"}
        if action == "CLEAR_FREEZE":
            return {"zone_id": pick(sorted(w.zones))}
        if action == "ISSUE_TOKEN":
            self._n += 1
            return {
                "token_id": f"TR-{self._n}",
                "token_type": pick(sorted(w.token_types)),
                "subject_agent_id": pick(sorted(e.agents)),
                "approvers": [pick(sorted(e.agents))],
            }
        if action == "REVOKE_TOKEN":
            return {"token_id": pick(sorted(e.tokens)) or "T_NONE"}
        if action == "REVOKE_KEY":
            return {"key_id": f"K_{pick(sorted(e.agents))}"}
        return {}
