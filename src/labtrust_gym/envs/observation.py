"""Observation vectors: float32 in [0, 1], one fixed layout for every agent of a world.

Layout (``ObservationBuilder.layout`` lists the blocks and their offsets):

* ``time``: fraction of the episode elapsed;
* ``zone``: one-hot of the agent's zone (all zero while in transit);
* ``transit``: in-transit flag and time to arrival (/60 s, clipped);
* ``role``: one-hot of the agent's role;
* ``carry``: load / capacity, and carried specimens per priority (STAT, URGENT, ROUTINE);
* ``zone_counts``: specimens in the agent's zone per priority and per next step
  (to accession, centrifuge, aliquot, analyse), each /20 clipped;
* ``work``: the agent's work list, ``N_SLOTS`` rows of [present, STAT, URGENT, ROUTINE,
  age / SLA target, stability left / window] — carried specimens first, then the zone's,
  most urgent first;
* ``devices``: per device [IDLE, RUNNING, FAULT, MAINT, queue /10, busy slots / capacity,
  reagent low, QC failed] (the lab's status board is visible to every agent);
* ``results``: releasable, critical to notify, critical to acknowledge, QC-held (/20);
* ``frozen``: one flag per zone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labtrust_gym.engine.actions_devices import specimen_stage
from labtrust_gym.envs.codec import N_SLOTS

__all__ = ["ObservationBuilder"]

_DEV_STATES = {"IDLE": 0, "RUNNING": 1, "FAULT": 2, "MAINT": 3}
_PRIO = {"STAT": 0, "URGENT": 1, "ROUTINE": 2}
_STAGE = {"ARRIVED": 0, "centrifuge": 1, "aliquoter": 2, "analyzer": 3}


class ObservationBuilder:
    def __init__(self, world: Any, roles: list[str], max_steps: int, dt_s: float) -> None:
        self.world = world
        self.zones = sorted(world.zones)
        self.zone_idx = {z: i for i, z in enumerate(self.zones)}
        self.roles = sorted(roles)
        self.role_idx = {r: i for i, r in enumerate(self.roles)}
        self.devices = sorted(world.devices)
        self.horizon = max(1.0, max_steps * dt_s)
        blocks = [
            ("time", 1),
            ("zone", len(self.zones)),
            ("transit", 2),
            ("role", len(self.roles)),
            ("carry", 4),
            ("zone_counts", 7),
            ("work", 6 * N_SLOTS),
            ("devices", 8 * len(self.devices)),
            ("results", 4),
            ("frozen", len(self.zones)),
        ]
        self.layout: dict[str, tuple[int, int]] = {}
        off = 0
        for name, size in blocks:
            self.layout[name] = (off, off + size)
            off += size
        self.dim = off
        self.reorder = {r: int(world.reagents[r]["reorder_level"]) for r in world.reagents}

    def build(self, engine: Any, view: Any, agent_ids: list[str]) -> np.ndarray:
        """Observations of ``agent_ids`` as rows of one ``(N, dim)`` float32 array."""
        L = self.layout
        n = len(agent_ids)
        obs = np.zeros((n, self.dim), dtype=np.float32)
        now = engine.now
        obs[:, 0] = min(1.0, now / self.horizon)
        # Shared blocks: the status board and the results and frozen flags.
        shared = np.zeros(self.dim, dtype=np.float32)
        d0 = L["devices"][0]
        for k, did in enumerate(self.devices):
            d = engine.devices[did]
            base = d0 + 8 * k
            shared[base + _DEV_STATES[d.state]] = 1.0
            shared[base + 4] = min(1.0, len(d.queue) / 10.0)
            shared[base + 5] = len(d.runs) / max(1, d.capacity)
            if any(v <= self.reorder.get(r, 0) for r, v in d.reagents.items()):
                shared[base + 6] = 1.0
            shared[base + 7] = 1.0 if d.qc_failed else 0.0
        r0 = L["results"][0]
        res = view.results
        for j, key in enumerate(
            ("RELEASE_RESULT", "NOTIFY_CRITICAL", "ACK_CRITICAL", "REQUEST_RERUN")
        ):
            shared[r0 + j] = min(1.0, len(res[key]) / 20.0)
        f0 = L["frozen"][0]
        for z in engine.frozen_zones:
            shared[f0 + self.zone_idx[z]] = 1.0
        sl = slice(L["devices"][0], L["frozen"][1])
        obs[:, sl] = shared[sl]
        targets = engine.world.priorities
        zone_cache: dict[str, tuple[np.ndarray, list[Any]]] = {}
        z0, t0, ro0, c0 = L["zone"][0], L["transit"][0], L["role"][0], L["carry"][0]
        zc0, w0 = L["zone_counts"][0], L["work"][0]
        for i, aid in enumerate(agent_ids):
            a = engine.agents[aid]
            if a.role is not None:
                obs[i, ro0 + self.role_idx[a.role]] = 1.0
            zone = a.zone
            if zone is None:
                obs[i, t0] = 1.0
                obs[i, t0 + 1] = min(1.0, max(0.0, a.arrive_t - now) / 60.0)
            else:
                obs[i, z0 + self.zone_idx[zone]] = 1.0
            carried = a.carrying
            if carried:
                obs[i, c0] = min(1.0, len(carried) / max(1, a.capacity))
                for sid in carried:
                    p = _PRIO[engine.specimens[sid].priority]
                    obs[i, c0 + 1 + p] = min(1.0, obs[i, c0 + 1 + p] + 1.0 / max(1, a.capacity))
            if zone is not None:
                zc = zone_cache.get(zone)
                if zc is None:
                    lst = view.zone_specimens(zone)
                    counts = np.zeros(7, dtype=np.float32)
                    for s in lst:
                        counts[_PRIO[s.priority]] += 1
                        if s.status == "ARRIVED":
                            counts[3] += 1
                        elif s.pending_panels and s.status == "ACCEPTED":
                            counts[3 + _STAGE[specimen_stage(s)]] += 1
                    zc = (np.minimum(1.0, counts / 20.0), lst)
                    zone_cache[zone] = zc
                obs[i, zc0 : zc0 + 7] = zc[0]
                work = [engine.specimens[s] for s in carried] + zc[1]
            else:
                work = [engine.specimens[s] for s in carried]
            for k, s in enumerate(work[:N_SLOTS]):
                base = w0 + 6 * k
                obs[i, base] = 1.0
                obs[i, base + 1 + _PRIO[s.priority]] = 1.0
                target = float(targets[s.priority]["target_tat_s"])
                obs[i, base + 4] = min(1.0, max(0.0, (now - s.arrival_t) / target))
                window = max(1.0, s.expires_t - s.collected_t)
                obs[i, base + 5] = min(1.0, max(0.0, (s.expires_t - now) / window))
        return obs
