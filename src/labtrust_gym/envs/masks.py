"""Action masks of the lab env: what each agent can plausibly do now.

:class:`ActionMasks` is a mixin of :class:`~labtrust_gym.envs.core.LabEnvCore`.
A mask (int8 over ``Discrete(env.codec.n)``, 1 = the engine would accept the action in the
state at the start of the step, were the agent the first to act) combines the codec's
static mask of (role, zone) with a part shared by every agent (frozen zones, doors,
arrived consignments) and the agent's own state (devices of its zone, work lists, load,
door tokens, signing key). docs/actions.md lists what a mask-allowed action can still meet.
Masks are cached per (role, zone, load, tokens, key) until the engine state changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labtrust_gym.envs.codec import DEVICE_ACTIONS, SLOT_ACTIONS

__all__ = ["ActionMasks"]


class ActionMasks:
    """Mask computation and caches (state lives on the env: engine, codec, view, keys)."""

    engine: Any
    codec: Any
    view: Any
    engine_id: dict[str, str]

    @property
    def _keys(self) -> dict[str, Any]:  # pragma: no cover - the env's signing keys
        raise NotImplementedError

    def _init_masks(self) -> None:
        codec = self.codec
        idx = codec.index
        self._mask_cache: dict[tuple[Any, ...], np.ndarray] = {}
        self._gmask: np.ndarray | None = None
        self._door_tokens: dict[str, list[Any]] | None = None
        self._custody_here: dict[tuple[str, str], bool] = {}
        self._clear_idx = np.array([idx[("CLEAR_FREEZE", z)] for z in codec.zones], dtype=np.int64)
        self._dispatch_idx = np.array(
            [idx[("DISPATCH_TRANSPORT", r)] for r in codec.routes], dtype=np.int64
        )
        self._receive_idx = np.array(
            [idx[("RECEIVE_TRANSPORT", r)] for r in codec.routes], dtype=np.int64
        )

    def _masks_stale(self) -> None:
        """Engine state may have changed: drop the cached masks and token index."""
        if self._mask_cache:
            self._mask_cache = {}
        self._gmask = None
        self._door_tokens = None

    def action_mask(self, agent: str) -> np.ndarray:
        """1 for actions that can plausibly be accepted now, else 0 (int8, ``Discrete(n)``).

        ``agent`` is a PettingZoo name or an engine agent id. Computed afresh (a new,
        writable array). The mask describes the state at the start of the step; see
        docs/actions.md for what can still be BLOCKED (agents acting earlier in the same
        step)."""
        agent = self.engine_id.get(agent, agent)
        return self._compute_mask(self.engine.agents[agent], self._global_mask(fresh=True))

    def _cached_mask(self, a: Any) -> np.ndarray:
        """The mask of agent state ``a`` (read-only), shared by agents with the same role,
        zone, load (specimens and reagent packs) and door tokens until engine state
        changes."""
        toks = self._agent_door_tokens(a.agent_id) if self.engine.tokens else None
        key = (
            a.role,
            a.zone,
            tuple(a.carrying),
            tuple(a.packs),
            tuple(t.token_id for t in toks) if toks else (),
            self._must_sign(a) and not self._can_sign(a.agent_id),
        )
        m = self._mask_cache.get(key)
        if m is None:
            m = self._compute_mask(a, self._global_mask())
            m.flags.writeable = False
            self._mask_cache[key] = m
        return m

    def _agent_door_tokens(self, agent_id: str) -> list[Any]:
        """Tokens ``agent_id`` holds that can open a door now (unused, live, in scope)."""
        eng = self.engine
        by_subject = self._door_tokens
        if by_subject is None:
            by_subject = {}
            for tok in eng.tokens.values():
                if not tok.used and not tok.revoked and "OPEN_DOOR" in tok.action_types:
                    by_subject.setdefault(tok.subject, []).append(tok)
            self._door_tokens = by_subject
        toks = by_subject.get(agent_id)
        if not toks:
            return []
        now = eng.now
        return [t for t in toks if now <= t.expires_t]  # expiry moves with the clock

    def _must_sign(self, a: Any) -> bool:
        """Whether some action the agent may attempt now is signed by the env: every
        action in strict mode, else the custody actions at a dispatch dock."""
        if self.engine.strict_signatures:
            return True
        if not self._dispatch_idx.size or a.zone is None or a.role is None:
            return False
        key = (a.role, a.zone)
        dock = self._custody_here.get(key)
        if dock is None:
            static = self.codec.static_mask(a.role, a.zone)
            dock = bool(static[self._dispatch_idx].any() or static[self._receive_idx].any())
            self._custody_here[key] = dock
        return dock

    def _can_sign(self, agent_id: str) -> bool:
        """Whether the env's signature for ``agent_id`` verifies (an active key of its own)."""
        kp = self._keys.get(agent_id)
        if kp is None:
            return False
        entry = self.engine.keys.get(kp[0])
        return entry is not None and entry.status == "ACTIVE" and entry.agent_id == agent_id

    def door_token(self, agent_id: str, door_id: str) -> str | None:
        """The token an index OPEN_DOOR of ``door_id`` presents: for a restricted door, the
        agent's usable token of the door's type whose scope covers the door and the zone
        behind it (the one expiring first); None for other doors or without one."""
        eng = self.engine
        door = eng.doors[door_id]
        if door.kind != "restricted":
            return None
        zone = eng.agents[agent_id].zone
        other = door.zones[1] if zone == door.zones[0] else door.zones[0]
        best: tuple[float, str] | None = None
        for tok in self._agent_door_tokens(agent_id):
            if tok.token_type != door.token_type:
                continue
            if tok.ids and door_id not in tok.ids:
                continue
            if tok.zones and other not in tok.zones:
                continue
            k = (tok.expires_t, tok.token_id)
            if best is None or k < best:
                best = k
        return best[1] if best is not None else None

    def _global_mask(self, fresh: bool = False) -> np.ndarray:
        """The part of the masks that is the same for every agent: frozen zones, doors,
        arrived consignments."""
        if self._gmask is not None and not fresh:
            return self._gmask
        eng = self.engine
        codec = self.codec
        idx = codec.index
        g = np.ones(codec.n, dtype=np.int8)
        g[self._clear_idx] = 0
        frozen = eng.frozen_zones
        for z in frozen:
            i = idx.get(("MOVE", z))
            if i is not None:
                g[i] = 0
            i = idx.get(("CLEAR_FREEZE", z))
            # A zone is unfrozen only once every door of it is closed.
            if i is not None and not any(
                eng.doors[d].open for d in eng.world.zone_doors.get(z, ())
            ):
                g[i] = 1
        for did in codec.doors:
            d = eng.doors[did]
            if d.open:
                g[idx[("OPEN_DOOR", did)]] = 0
            else:
                g[idx[("CLOSE_DOOR", did)]] = 0
            if frozen and (d.zones[0] in frozen or d.zones[1] in frozen):
                g[idx[("OPEN_DOOR", did)]] = 0
        if codec.routes:
            arrived = {c.route_id for c in eng.consignments.values() if c.status == "ARRIVED"}
            for r in codec.routes:
                if r not in arrived:
                    g[idx[("RECEIVE_TRANSPORT", r)]] = 0
        if not fresh:
            self._gmask = g
        return g

    def _compute_mask(self, a: Any, g: np.ndarray) -> np.ndarray:
        codec = self.codec
        eng = self.engine
        if eng.forensic_frozen:  # every event is BLOCKED until the episode ends
            m0 = np.zeros(codec.n, dtype=np.int8)
            m0[0] = 1
            return m0
        static = codec.static_mask(a.role, a.zone)
        if a.zone is None or a.role is None:
            return static.copy()
        m: np.ndarray = static & g
        idx = codec.index
        agent = a.agent_id
        frozen = eng.frozen_zones
        w = eng.world
        for did in self.view.zone_devices(a.zone):
            d = eng.devices[did]
            usable = d.state not in ("FAULT", "MAINT") and d.zone not in frozen
            for act in DEVICE_ACTIONS:
                i = idx[(act, did)]
                if not m[i]:
                    continue
                if act == "REPAIR_DEVICE":
                    ok = d.state == "FAULT" and not d.repairing and d.zone not in frozen
                elif act == "START_RUN":
                    ok = bool(
                        usable and d.queue and (not d.runs if d.batch else len(d.runs) < d.capacity)
                    ) and self._reagents_for_head(d)
                elif act == "QUEUE_RUN":
                    ok = usable and self.view.best_specimen_for_device(agent, did) is not None
                elif act == "RESTOCK_REAGENT":  # load a carried pack
                    ok = eng.restock_option(a, did)[1]
                elif act == "CALIBRATE":
                    ok = d.zone not in frozen and d.state != "FAULT" and not d.runs
                else:
                    ok = usable
                if not ok:
                    m[i] = 0
        for did in eng.world.stores_devices.get(a.zone, ()):  # fetch a pack at the stores
            i = idx[("RESTOCK_REAGENT", did)]
            if m[i] and not eng.restock_option(a, did)[1]:
                m[i] = 0
        for act in SLOT_ACTIONS:
            start = codec.slot_start[act]
            if not m[start]:
                continue
            lst = self.view.slot_list(agent, act)
            k = len(lst)
            if act == "PICK_UP" and len(a.carrying) >= a.capacity:
                k = 0
            if k < codec.n_slots:
                m[start + k : start + codec.n_slots] = 0
            if act in ("NOTIFY_CRITICAL", "ACK_CRITICAL", "REQUEST_RERUN"):
                for j in range(min(k, codec.n_slots)):
                    if not self._result_slot_ok(act, lst[j]):
                        m[start + j] = 0
        if self._dispatch_idx.size and not any(
            eng.specimens[s].status in ("ARRIVED", "ACCEPTED") for s in a.carrying
        ):
            m[self._dispatch_idx] = 0
        toks = None
        for did in w.zone_doors.get(a.zone, ()):
            i = idx[("OPEN_DOOR", did)]
            if m[i] and eng.doors[did].kind == "restricted":
                if toks is None:
                    toks = self._agent_door_tokens(agent)
                if not toks or self.door_token(agent, did) is None:
                    m[i] = 0  # a restricted door opens only with a token the agent holds
        if self._must_sign(a) and not self._can_sign(agent):
            # The env signs these actions with the agent's key: without an active key of
            # its own they are refused (SIG_* or TRANSPORT_CUSTODY_UNSIGNED).
            if eng.strict_signatures:
                keep = (0, 1, idx[("VERIFY_AUDIT", None)])
                kept = m[list(keep)].copy()
                m[:] = 0
                m[list(keep)] = kept
            else:
                m[self._dispatch_idx] = 0
                m[self._receive_idx] = 0
        edge_door = w.edge_door
        for nb in w.adjacency.get(a.zone, ()):
            mi = idx.get(("MOVE", nb))
            if mi is None or not m[mi]:
                continue
            door_id = edge_door.get((a.zone, nb))
            if door_id is not None:
                door = eng.doors[door_id]
                if door.kind == "restricted" and not door.open:
                    m[mi] = 0
                    continue
            if w.edge_capacity and eng.edge_free(a.zone, nb) == 0:
                m[mi] = 0  # a full narrow passage cannot be entered now
        return m

    def _reagents_for_head(self, d: Any) -> bool:
        """Whether an analyzer holds the reagents its queue head needs (START_RUN)."""
        if d.kind != "analyzer":
            return True
        eng = self.engine
        w = eng.world
        spec = eng.specimens[d.work[d.queue[0][3]].specimen_id]
        need: dict[str, int] = {}
        for p in spec.pending_panels:
            rid = w.panels[p]["reagent_id"]
            need[rid] = need.get(rid, 0) + int(w.reagents[rid]["per_run"])
        return all(d.reagents.get(rid, 0) >= n for rid, n in need.items())

    def _result_slot_ok(self, act: str, rid: str) -> bool:
        eng = self.engine
        res = eng.results[rid]
        if act == "REQUEST_RERUN":
            s = eng.specimens[res.specimen_id]
            return s.status == "ANALYZED" and s.loc_kind == "zone"
        return bool(res.status != "HELD_QC")  # NOTIFY/ACK of a QC-held value is refused
