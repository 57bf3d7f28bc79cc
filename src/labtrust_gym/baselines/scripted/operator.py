"""Device operation shared by the pre-analytics and analytics roles.

An operator looks after the devices of its role's types in the zones it covers (its home
zone, plus device zones of its site that no operator calls home). In the zone where it
stands it closes a door left open, repairs, calibrates, starts runs and queues
specimens lying there; if another covered zone has work it goes there, otherwise it
returns home. It fetches reagent packs from the stores only on a site where no runner can
(see :mod:`~.restock`).
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.scripted.common import RoleAgent, act
from labtrust_gym.baselines.scripted.restock import restock_step
from labtrust_gym.baselines.scripted.view import StepView

__all__ = ["Operator", "can_start", "batch_ready"]

_OUT = ("FAULT", "MAINT")


def batch_ready(v: StepView, d: Any) -> bool:
    """Centrifuge batching rule.

    Spin at once for a STAT tube or a full load. While another centrifuge of the bench
    is idle, also spin for an URGENT tube or once the oldest tube waited
    ``centrifuge_max_wait_s`` (a little longer while a runner is still queueing tubes for
    the same spin). The last idle centrifuge is kept for STAT tubes: it spins other
    tubes only once the oldest waited ``centrifuge_reserve_wait_s``.
    """
    q = d.queue
    if len(q) >= d.capacity:
        return True
    ranks = [v.qrank(d, it) for it in q]
    best = min(ranks)
    p = v.params
    waited = v.now - min(it[1] for it in q)
    if best == 0:
        # A runner standing here still queueing tubes for this spin: one more step.
        hot_wait = v.now - min(it[1] for it, r in zip(q, ranks, strict=True) if r == 0)
        here = v.team.incoming(v, d.zone, d.kind, here_only=True)
        return not (here and len(q) + here <= d.capacity and hot_wait < 2 * v.dt)
    if v.reserved_for_stat(d):
        return waited >= float(p["centrifuge_reserve_wait_s"])
    if best < v.st.low_rank:
        return True
    max_wait = float(p["centrifuge_max_wait_s"])
    incoming = v.team.incoming(v, d.zone, d.kind)
    if incoming and len(q) + incoming <= d.capacity and waited < 2 * max_wait:
        return False  # more tubes are being queued right now: spin them together
    return waited >= max_wait


def can_start(v: StepView, d: Any) -> bool:
    if not d.queue or d.state in _OUT or d.zone in v.frozen or "dev:" + d.device_id in v.claims:
        return False
    if (d.batch and d.runs) or len(d.runs) >= d.capacity:
        return False
    if d.kind == "analyzer":
        if d.qc_failed:
            return False  # never run on an analyzer with an active QC failure
        head = v.e.specimens[d.work[d.queue[0][3]].specimen_id]
        if not v.reagent_ok(d, head, with_stores=False):
            return False
        if v.qrank(d, d.queue[0]) > 0 and stat_hold(v, d):
            return False
    if d.batch and d.kind == "centrifuge":
        return batch_ready(v, d)
    return True


def stat_hold(v: StepView, d: Any) -> bool:
    """Keep an analyzer channel free for STAT tubes about to reach analyzers of the type:
    a non-STAT run may not take the site's last free channels they need."""
    soon = v.stat_soon(d.site_id, d.device_type)
    if not soon:
        return False
    free = 0
    for did in v.st.by_site_type.get((d.site_id, d.device_type), ()):
        o = v.e.devices[did]
        if o.state not in _OUT and not o.qc_failed and o.zone not in v.frozen:
            free += max(0, o.capacity - len(o.runs)) - ("dev:" + did in v.claims)
    return free - 1 < soon


class Operator(RoleAgent):
    """Base of the device-operating roles (see the module docstring)."""

    def __init__(self, agent_id: str, role: Any, home: str, team: Any) -> None:
        super().__init__(agent_id, role, home, team)
        self.zones: list[str] = [home]  # extended by the team at reset

    def idle_key(self, v: StepView, a: Any) -> tuple[Any, ...] | None:
        key = super().idle_key(v, a)
        return None if key is None else (*key, tuple(self.zones))

    def my_devices(self, v: StepView, zone: str) -> list[Any]:
        devs = v.e.devices
        return [devs[d] for d in v.st.by_zone.get(zone, ()) if devs[d].device_type in self.types]

    def decide(self, v: StepView, a: Any) -> dict[str, Any] | None:
        z = a.zone
        door = self.close_door(v, a)
        if door is not None:
            return door
        restock = restock_step(self, v, a, move=False)  # a pack to fetch or load here
        if restock is not None:
            return restock
        if z in self.zones:
            action = self.work_here(v, z)
            if action is not None:
                return action
        restock = restock_step(self, v, a, move=True)  # (only where no runner restocks)
        if restock is not None:
            return restock
        for zone in self.zones:
            if zone != z and self.has_work(v, zone):
                return self.move_toward(v, z, zone)
        if z in self.zones and z != self.home and self.work_soon(v, z):
            return None  # a batch is filling up or a run is about to end here
        return self.go_home(v, z)

    def work_soon(self, v: StepView, zone: str) -> bool:
        horizon = v.now + float(v.params["linger_s"])
        return any(
            (d.queue and len(d.runs) < (1 if d.batch else d.capacity))
            or any(r.end_t <= horizon for r in d.runs.values())
            for d in self.my_devices(v, zone)
            if d.state not in _OUT
        )

    def has_work(self, v: StepView, zone: str) -> bool:
        for d in self.my_devices(v, zone):
            if can_start(v, d) or (
                d.state == "FAULT" and not d.repairing and self.can("REPAIR_DEVICE")
            ):
                return True
        return any(s.specimen_id not in v.claims for s in v.zone_work(zone).inzone) and self.can(
            "QUEUE_RUN"
        )

    def work_here(self, v: StepView, z: str) -> dict[str, Any] | None:
        devs = self.my_devices(v, z)
        mem = v.mem
        for d in devs:
            did = d.device_id
            if (
                d.state == "FAULT"
                and not d.repairing
                and self.can("REPAIR_DEVICE")
                and v.claim("dev:" + did)
            ):
                return act("REPAIR_DEVICE", device_id=did)
        if self.can("CALIBRATE"):
            for d in devs:
                did = d.device_id
                if (
                    d.kind == "analyzer"
                    and d.qc_failed
                    and not d.runs
                    and d.state != "FAULT"
                    and d.zone not in v.frozen
                    and did not in mem.calibrated
                    and v.claim("dev:" + did)
                ):
                    mem.calibrated[did] = v.now
                    return act("CALIBRATE", device_id=did)
        start = None
        if self.can("START_RUN"):
            heads = [
                (v.qrank(d, d.queue[0]), d.queue[0][1], d.device_id)
                for d in devs
                if can_start(v, d)
            ]
            start = min(heads) if heads else None
        queue = None
        if self.can("QUEUE_RUN"):
            for s in v.zone_work(z).inzone:
                if s.specimen_id in v.claims:
                    continue
                best = v.best_device(s, z, types=self.types, zone=z)
                if best is not None and best[0] < 2 and v.may_queue(v.e.devices[best[1]], s):
                    queue = (s, best[1])
                    break
        if start is not None and (queue is None or start[0] <= v.rank(queue[0])):
            v.claim("dev:" + start[2])
            return act("START_RUN", device_id=start[2])
        if queue is not None:
            s, did = queue
            v.claim(s.specimen_id)
            v.add_load(did, s)
            return act("QUEUE_RUN", device_id=did, specimen_id=s.specimen_id)
        return None
