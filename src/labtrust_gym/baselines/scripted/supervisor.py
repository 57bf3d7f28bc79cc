"""Supervisor: frozen zones, held tubes, repairs nobody else covers, audit checks."""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.scripted.common import RoleAgent, act
from labtrust_gym.baselines.scripted.view import StepView

__all__ = ["Supervisor"]


class Supervisor(RoleAgent):
    """Each step, in order: close a door of its zone left open; REVOKE_KEY of an agent the
    team's audit review flagged (:mod:`~.security`); CLEAR_FREEZE a frozen zone
    whose doors are all closed; REJECT a held tube (recollection is safer than overriding
    a hold); repair a faulted device of its site that no operator can repair; walk to a
    door left open that nobody closed; VERIFY_AUDIT every ``audit_interval_s``.
    """

    def decide(self, v: StepView, a: Any) -> dict[str, Any] | None:
        e, z = v.e, a.zone
        door = self.close_door(v, a)
        if door is not None:
            return door
        if self.can("REVOKE_KEY"):
            for kid in self.team.review.keys_to_revoke(e):
                if v.claim("revoke:" + kid):
                    return act("REVOKE_KEY", key_id=kid)
        if self.can("CLEAR_FREEZE"):
            for zone in sorted(e.frozen_zones):
                doors = e.world.zone_doors.get(zone, ())
                if all(not e.doors[d].open for d in doors) and v.claim("freeze:" + zone):
                    return act("CLEAR_FREEZE", zone_id=zone)
        if self.can("RESOLVE_HOLD"):
            for s in sorted(v.held, key=v.skey):
                if v.claim(s.specimen_id):
                    return act("RESOLVE_HOLD", specimen_id=s.specimen_id, decision="REJECT")
        if self.can("REPAIR_DEVICE"):
            for did in self.team.uncovered_repairs.get(self.site, ()):
                d = e.devices[did]
                if d.state != "FAULT" or d.repairing or d.device_type not in self.types:
                    continue
                if d.zone == z:
                    if v.claim("dev:" + did):
                        return act("REPAIR_DEVICE", device_id=did)
                elif self.dist(v, z, d.zone) < float("inf") and v.claim("walk:" + did):
                    return self.move_toward(v, z, d.zone)
        if self.can("CLOSE_DOOR"):  # a door left open where no teammate can close it
            late = 2 * float(v.params["door_close_after_s"])
            for did in sorted(e.doors):
                door = e.doors[did]
                if not door.open or v.now - door.opened_t < late or not v.claim("walk:" + did):
                    continue
                zone = min(door.zones, key=lambda x: (self.dist(v, z, x), x))
                if self.dist(v, z, zone) < float("inf"):
                    return self.move_toward(v, z, zone)
        interval = float(v.params["audit_interval_s"])
        if self.can("VERIFY_AUDIT") and v.now - v.mem.last_audit >= interval and v.claim("audit"):
            v.mem.last_audit = v.now
            return act("VERIFY_AUDIT")
        return self.go_home(v, z)
