"""QC officer: quality-control runs, and reruns of results held by a QC failure."""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.scripted.common import RoleAgent, act
from labtrust_gym.baselines.scripted.view import StepView

__all__ = ["QC"]

_OUT = ("FAULT", "MAINT")


class QC(RoleAgent):
    """Runs QC on the analyzers of its site and clears QC holds.

    Each step, in order: RUN_QC on an analyzer just calibrated after a QC failure, or one
    whose recent patient results drifted from the population (patient-based QC, see
    ``ScriptedTeam``); REQUEST_RERUN a HELD_QC result once its analyzer passed QC again
    (or another analyzer of the type can take the rerun); RUN_QC on every analyzer every
    ``qc_interval_s`` (the first round at the start of the shift). An analyzer whose QC
    failed is not re-checked before it is calibrated; if no analytics agent of the team
    covers it, the QC officer calibrates it itself.
    """

    def idle_key(self, v: StepView, a: Any) -> tuple[Any, ...] | None:
        return None  # each QC agent has its own analyzers and QC timetable

    def decide(self, v: StepView, a: Any) -> dict[str, Any] | None:
        z = a.zone
        mem = v.mem
        door = self.close_door(v, a)
        if door is not None:
            return door
        due: tuple[Any, ...] | None = None
        interval = float(v.params["qc_interval_s"])
        for did in self.team.qc_devices.get(self.aid, ()):
            d = v.e.devices[did]
            if d.state in _OUT or d.zone in v.frozen or "dev:" + did in v.claims:
                continue
            if d.qc_failed and did not in mem.calibrated:
                if not d.runs and did in self.team.self_calibrate and d.zone == z:
                    v.claim("dev:" + did)
                    mem.calibrated[did] = v.now
                    return act("CALIBRATE", device_id=did)
                continue
            if did in mem.calibrated:
                urgency = 0
            elif did in mem.suspect:
                urgency = 1
            elif v.now - mem.last_qc.get(did, -1e18) >= interval:
                urgency = 3
            else:
                continue
            key = (urgency, self.dist(v, z, d.zone), did)
            if due is None or key < due:
                due = key
        if due is not None and due[0] <= 1:
            return self.run_qc(v, z, due[2])
        rerun = self.rerun(v)
        if rerun is not None:
            return rerun
        if due is not None:
            return self.run_qc(v, z, due[2])
        return self.go_home(v, z)

    def run_qc(self, v: StepView, z: str, did: str) -> dict[str, Any] | None:
        d = v.e.devices[did]
        if d.zone != z:
            return self.move_toward(v, z, d.zone)
        mem = v.mem
        v.claim("dev:" + did)
        v.qc_now.add(did)
        mem.last_qc[did] = v.now
        mem.calibrated.pop(did, None)
        mem.suspect.pop(did, None)
        for key in [k for k in mem.pb_window if k[0] == did]:
            del mem.pb_window[key]
        return act("RUN_QC", device_id=did)

    def rerun(self, v: StepView) -> dict[str, Any] | None:
        if not self.can("REQUEST_RERUN"):
            return None
        e = v.e
        for r in sorted(
            v.held_qc, key=lambda r: (v.st.rank.get(r.priority, 9), r.arrival_t, r.result_id)
        ):
            s = e.specimens[r.specimen_id]
            if s.status != "ANALYZED" or s.loc_kind != "zone" or s.specimen_id in v.claims:
                continue
            d = e.devices[r.device_id]
            if d.qc_failed and not v.team.alternative_analyzer(v, d):
                continue
            v.claim(s.specimen_id)
            v.claim("res:" + r.result_id)
            return act("REQUEST_RERUN", result_id=r.result_id)
        return None
