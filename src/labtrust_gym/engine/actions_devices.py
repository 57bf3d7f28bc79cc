"""Devices: queues (queue contract v0.1), runs, results at run completion, QC, faults,
maintenance and reagents.

Queue contract: items are ordered by priority rank (STAT < URGENT < ROUTINE), then enqueue
time, then a monotonic sequence number; service is non-preemptive; START_RUN consumes the
head (a named work id must be the head); a work id is never reused. A device type with
``queue_discipline: fifo`` ignores the rank (first come, first served): prioritising is
then the team's job (when, and in which order, it queues).

Reagents: a run consumes ``per_run`` units of each panel's reagent. Restocking is a trip
(see :meth:`DeviceActions._act_restock_reagent`): a pack is fetched at a stores zone of
the device's site and loaded at the device. A reagent is *out* on a device while less than
one run's worth is on board; the device times each stock-out (``out_since`` /
``stockout_s``) and remembers the work that waited in its queue meanwhile
(``held_for_reagent``).
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from labtrust_gym.engine.base import Blocked, EngineBase, arg_opt_str, arg_str
from labtrust_gym.engine.state import ResultState, Run, SpecimenState, WorkItem

__all__ = ["DeviceActions", "QC_DRIFT_BIAS", "work_reagents"]

#: Relative bias of every value an analyzer reports while its calibration drifts.
QC_DRIFT_BIAS = 0.15


def work_reagents(world: Any, s: SpecimenState) -> dict[str, int]:
    """Reagent units an analyzer run of ``s`` consumes: ``{reagent_id: units}``."""
    need: dict[str, int] = {}
    for p in s.pending_panels:
        rid = world.panels[p].get("reagent_id")
        if rid is not None:
            need[rid] = need.get(rid, 0) + int(world.reagents[rid]["per_run"])
    return need


def specimen_stage(s: SpecimenState) -> str:
    """The device kind a specimen needs next: centrifuge, aliquoter or analyzer."""
    if s.needs_centrifuge and not s.centrifuged:
        return "centrifuge"
    if s.needs_aliquot and not s.aliquoted:
        return "aliquoter"
    return "analyzer"


class DeviceActions(EngineBase):
    def _check_device_usable(self, dev: Any) -> None:
        if dev.zone in self.frozen_zones:
            raise Blocked("ZONE_FROZEN")
        if dev.state == "FAULT":
            raise Blocked("DEVICE_FAULT")
        if dev.state == "MAINT":
            raise Blocked("DEVICE_MAINT")

    # ------------------------------------------------------------------ queueing -------
    def _act_queue_run(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        dev = self._device_for(agent, args)
        s = self._spec(args)
        work_id = arg_opt_str(args, "work_id")
        prio = arg_opt_str(args, "priority")
        self._check_device_usable(dev)
        self._reachable(agent, s)
        if s.status == "REJECTED":
            raise Blocked("SPEC_REJECTED")
        if s.status != "ACCEPTED" or not s.pending_panels:
            raise Blocked("SPEC_NOT_READY")
        stage = specimen_stage(s)
        if stage != dev.kind:
            raise Blocked("SPEC_NOT_READY")
        if stage == "analyzer" and dev.device_type != s.analyzer_type:
            raise Blocked("QUEUE_WRONG_DEVICE_TYPE")
        if prio is not None and prio != s.priority:
            raise Blocked("QUEUE_PRIORITY_MISMATCH")
        c = self._counters
        if work_id is None:
            c["work"] += 1
            work_id = f"W{c['work']:07d}"
            while work_id in self.work_ids:
                c["work"] += 1
                work_id = f"W{c['work']:07d}"
        elif work_id in self.work_ids:
            raise Blocked("QUEUE_DUPLICATE_WORK_ID")
        self._take_from_agent_or_zone(agent, s)
        c["qseq"] = seq = c.get("qseq", 0) + 1
        rank = int(self.world.priorities[s.priority]["rank"])
        item = WorkItem(work_id, dev.device_id, s.specimen_id, s.priority, rank, self.now, seq)
        self.work_ids.add(work_id)
        dev.work[work_id] = item
        heapq.heappush(dev.queue, (self._queue_rank(dev, rank), self.now, seq, work_id))
        s.loc_kind = "device"
        s.loc_id = dev.device_id
        s.status = "QUEUED"
        if dev.kind == "analyzer":
            rg = self.world.reagents
            if any(
                dev.reagents.get(r, 0) < int(rg[r]["per_run"]) for r in work_reagents(self.world, s)
            ):
                dev.held_for_reagent[work_id] = None
        self._touch("specimens", s.specimen_id)
        self.step_ctx["work_id"] = work_id
        self._emit("WORK_QUEUED")

    def _queue_rank(self, dev: Any, rank: int) -> int:
        """The rank a queue orders by: the priority's, or 0 on a first-come device."""
        return 0 if dev.device_type in self.world.fifo_types else rank

    def _act_start_run(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        dev = self._device_for(agent, args)
        work_id = arg_opt_str(args, "work_id")
        self._check_device_usable(dev)
        if not dev.queue:
            raise Blocked("QUEUE_EMPTY")
        head = dev.queue[0][3]
        if work_id is not None and work_id != head:
            raise Blocked("QUEUE_NOT_HEAD" if work_id in dev.work else "QUEUE_WORK_UNKNOWN")
        if dev.batch:
            if dev.runs:
                raise Blocked("DEVICE_BUSY")
            n = min(dev.capacity, len(dev.queue))
        else:
            if len(dev.runs) >= dev.capacity:
                raise Blocked("DEVICE_BUSY")
            n = 1
        w = self.world
        dtype = w.device_types[dev.device_type]
        spec_head = self.specimens[dev.work[head].specimen_id]
        need: dict[str, int] = {}
        if dev.kind == "analyzer":
            need = work_reagents(w, spec_head)
            for rid, units in need.items():
                if dev.reagents.get(rid, 0) < units:
                    raise Blocked("REAGENT_STOCKOUT")
        # -- commit --
        items = [dev.work.pop(heapq.heappop(dev.queue)[3]) for _ in range(n)]
        svc = dtype["service_s"]
        if dev.kind == "analyzer":
            nominal = float(sum(svc.get(p, svc["default"]) for p in spec_head.pending_panels))
        else:
            nominal = float(svc["default"])
        duration = self._service_time(nominal, float(dtype.get("service_cv", 0.0)))
        self._counters["run"] += 1
        run_id = f"RUN{self._counters['run']:07d}"
        run = Run(run_id, dev.device_id, items, self.now, self.now + duration)
        dev.runs[run_id] = run
        dev.state = "RUNNING"
        started = []
        for it in items:
            sp = self.specimens[it.specimen_id]
            sp.status = "IN_RUN"
            started.append(it.specimen_id)
        self.step_ctx["run_specimens"] = started
        self.step_ctx["run_device"] = dev.device_id
        if need:
            low = []
            for rid, units in need.items():
                left = dev.reagents[rid] - units
                dev.reagents[rid] = left
                if left < int(w.reagents[rid]["reorder_level"]):
                    low.append(rid)
                    if left + units >= int(w.reagents[rid]["reorder_level"]):
                        self._emit("REAGENT_LOW")
                if left == 0:
                    self._emit("REAGENT_STOCKOUT")
                if left < int(w.reagents[rid]["per_run"]):
                    self._reagent_out(dev, rid)
            self.step_ctx["reagent_low"] = low
        self._schedule(run.end_t, "RUN_COMPLETE", (dev.device_id, run_id))
        self._emit("RUN_STARTED")

    def _service_time(self, nominal: float, cv: float) -> float:
        if self.timing_mode != "simulated" or cv <= 0.0:
            return nominal
        sigma = math.sqrt(math.log1p(cv * cv))
        z = float(self.rng["service"].standard_normal())
        return round(nominal * math.exp(sigma * z - 0.5 * sigma * sigma), 3)

    # ------------------------------------------------------------------ completion -----
    def _on_run_complete(self, device_id: str, run_id: str) -> None:
        dev = self.devices[device_id]
        run = dev.runs.pop(run_id, None)
        if run is None:
            return  # aborted by a fault
        for it in run.work:
            s = self.specimens[it.specimen_id]
            s.loc_kind = "zone"
            s.loc_id = dev.zone
            if dev.kind == "centrifuge":
                s.centrifuged = True
                s.status = "ACCEPTED"
            elif dev.kind == "aliquoter":
                self._make_aliquots(s, dev.zone)
            else:
                self._make_results(s, dev)
        if dev.kind == "centrifuge":
            self._emit("CENTRIFUGATION_COMPLETE")
        elif dev.kind == "aliquoter":
            self._emit("ALIQUOTS_CREATED")
        self._emit("RUN_COMPLETED")
        if not dev.runs and dev.state == "RUNNING":
            if dev.maint_pending:
                dev.maint_pending = False
                dev.state = "MAINT"
                self._emit("MAINTENANCE_STARTED")
            else:
                dev.state = "IDLE"

    def _make_aliquots(self, parent: SpecimenState, zone: str) -> None:
        parent.aliquoted = True
        parent.status = "ALIQUOTED"
        k = 0
        for panel in parent.pending_panels:
            k += 1
            aid = f"{parent.specimen_id}-A{k}"
            while aid in self.specimens:  # e.g. aliquoted again after a rerun request
                k += 1
                aid = f"{parent.specimen_id}-A{k}"
            names = self.world.panels[panel]["analytes"]
            hidden = dict(parent.hidden)
            hidden["values"] = {a: v for a, v in parent.hidden["values"].items() if a in names}
            child = SpecimenState(
                specimen_id=aid,
                site_id=parent.site_id,
                priority=parent.priority,
                panels=[panel],
                tube_type=parent.tube_type,
                arrival_t=parent.arrival_t,
                collected_t=parent.collected_t,
                status="ACCEPTED",
                loc_kind="zone",
                loc_id=zone,
                needs_centrifuge=parent.needs_centrifuge,
                needs_aliquot=False,
                analyzer_type=parent.analyzer_type,
                centrifuged=parent.centrifuged,
                pending_panels=[panel],
                parent_id=parent.specimen_id,
                expires_t=parent.expires_t,
                expired=parent.expired,
                hidden=hidden,
            )
            self.specimens[aid] = child
            if not child.expired:
                self._schedule(child.expires_t, "SPECIMEN_EXPIRY", (aid,))
        parent.pending_panels = []

    def _make_results(self, s: SpecimenState, dev: Any) -> None:
        w = self.world
        thresholds = w.thresholds
        for panel in s.pending_panels:
            key = f"res:{s.specimen_id}:{panel}"
            self._counters[key] = n = self._counters.get(key, 0) + 1
            rid = f"R-{s.specimen_id}-{panel}-{n}"
            values = {}
            crit = []
            for a in w.panels[panel]["analytes"]:
                v = s.hidden["values"][a]
                if dev.qc_drift:
                    v = round(v * (1.0 + QC_DRIFT_BIAS), 2)
                values[a] = v
                th = thresholds.get(a)
                if th is not None and (
                    v < th.get("low", -math.inf) or v > th.get("high", math.inf)
                ):
                    crit.append(a)
            res = ResultState(
                result_id=rid,
                specimen_id=s.specimen_id,
                panel=panel,
                device_id=dev.device_id,
                values=values,
                generated_t=self.now,
                arrival_t=s.arrival_t,
                priority=s.priority,
                status="HELD_QC" if dev.qc_failed else "READY",
                critical=bool(crit),
                critical_analytes=crit,
                qc_drift=dev.qc_drift,
                was_held=dev.qc_failed,
            )
            self.results[rid] = res
            self._emit("RESULT_GENERATED")
            if res.status == "HELD_QC":
                self._emit("RESULT_HELD_QC")
            if crit:
                self._start_critical(res)
        s.pending_panels = []
        s.status = "ANALYZED"

    # ------------------------------------------------------------------ QC -------------
    def _analyzer_for(self, agent: Any, args: dict[str, Any]) -> Any:
        dev = self._device_for(agent, args)
        if dev.kind != "analyzer":
            raise Blocked("DEVICE_NOT_ANALYZER")
        if dev.zone in self.frozen_zones:
            raise Blocked("ZONE_FROZEN")
        return dev

    def _act_run_qc(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        dev = self._analyzer_for(agent, args)
        if dev.state == "FAULT":
            raise Blocked("DEVICE_FAULT")
        if dev.state == "MAINT":
            raise Blocked("DEVICE_MAINT")
        if dev.qc_drift:
            dev.qc_failed = True
            self._emit("QC_FAIL")
            held = 0
            for res in self.results.values():
                if res.device_id == dev.device_id and res.status == "READY":
                    res.status = "HELD_QC"
                    res.was_held = True
                    held += 1
            if held:
                self._emit("RESULT_HELD_QC")
        else:
            dev.qc_failed = False
            self._emit("QC_PASS")

    def _act_calibrate(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        dev = self._analyzer_for(agent, args)
        if dev.state == "FAULT":
            raise Blocked("DEVICE_FAULT")
        if dev.runs:
            raise Blocked("DEVICE_RUNNING")
        dev.qc_drift = False
        self._emit("DEVICE_CALIBRATED")

    def _on_qc_drift(self, item: dict[str, Any]) -> None:
        dev = self.devices.get(item.get("device_id", ""))
        if dev is not None:
            dev.qc_drift = True  # hidden: only a QC run reveals it

    # ------------------------------------------------------------------ faults ---------
    def _on_device_fault(self, item: dict[str, Any]) -> None:
        dev = self.devices.get(item.get("device_id", ""))
        if dev is None or dev.state == "FAULT":
            return
        for run in sorted(dev.runs.values(), key=lambda r: r.run_id):
            for it in run.work:
                dev.work[it.work_id] = it
                key = (self._queue_rank(dev, it.rank), it.enqueue_t, it.seq, it.work_id)
                heapq.heappush(dev.queue, key)
                self.specimens[it.specimen_id].status = "QUEUED"
            self._emit("RUN_ABORTED")
        dev.runs.clear()
        dev.state = "FAULT"
        dev.maint_pending = False
        self._emit("DEVICE_FAULT")

    def _act_repair_device(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        dev = self._device_for(agent, args)
        if dev.zone in self.frozen_zones:
            raise Blocked("ZONE_FROZEN")
        if dev.state != "FAULT":
            raise Blocked("DEVICE_NOT_FAULTED")
        if dev.repairing:
            raise Blocked("DEVICE_BUSY")
        dev.repairing = True
        repair_s = float(self.world.device_types[dev.device_type].get("repair_s", 600))
        self._schedule(self.now + repair_s, "REPAIR_DONE", (dev.device_id,))
        self._emit("DEVICE_REPAIR_STARTED")

    def _on_repair_done(self, device_id: str) -> None:
        dev = self.devices[device_id]
        dev.repairing = False
        dev.state = "IDLE"
        self._emit("DEVICE_REPAIRED")
        if self.timing_mode == "simulated":
            mtbf = float(self.world.device_types[dev.device_type].get("mtbf_s", 0))
            if mtbf > 0:
                t = self.now + float(self.rng["faults"].exponential(mtbf))
                self._schedule(t, "DEVICE_FAULT", ({"device_id": device_id, "random": True},))

    def _on_maint_start(self, item: dict[str, Any]) -> None:
        dev = self.devices.get(item.get("device_id", ""))
        if dev is None or dev.state == "FAULT":
            return
        if dev.runs:
            dev.maint_pending = True
        else:
            dev.state = "MAINT"
            self._emit("MAINTENANCE_STARTED")

    def _on_maint_end(self, item: dict[str, Any]) -> None:
        dev = self.devices.get(item.get("device_id", ""))
        if dev is None:
            return
        dev.maint_pending = False
        if dev.state == "MAINT":
            dev.state = "IDLE"
            self._emit("MAINTENANCE_ENDED")

    # ------------------------------------------------------------------ reagents -------
    def _act_restock_reagent(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        """RESTOCK_REAGENT {device_id, reagent_id}: a two-step logistics job.

        * At a zone of kind ``stores`` of the device's site: draw one pack of the reagent
          (``restock_units``, or what is left) from the site's stores into the agent's
          hands (REAGENT_PACK_FETCHED). Blocked when the stores hold none
          (REAGENT_INVENTORY_EMPTY) or the agent's hands are full (REAGENT_PACK_LIMIT).
        * At the device: load a carried pack of the reagent (REAGENT_RESTOCKED); blocked
          with REAGENT_NOT_CARRIED when the agent carries none.
        * Anywhere else: AGENT_NOT_COLOCATED.
        """
        dev, mode = self._restock_target(agent, args)
        rid = arg_str(args, "reagent_id")
        if agent.zone in self.frozen_zones:
            raise Blocked("ZONE_FROZEN")
        if rid not in dev.reagents:
            raise Blocked("REAGENT_UNKNOWN")
        if mode == "fetch":
            store = self.inventory.get(dev.site_id, {})  # a BLOCKED fetch adds nothing
            have = store.get(rid, 0)
            if have <= 0:
                raise Blocked("REAGENT_INVENTORY_EMPTY")
            if len(agent.packs) >= self.world.max_packs_carried:
                raise Blocked("REAGENT_PACK_LIMIT")
            units = min(int(self.world.reagents[rid]["restock_units"]), have)
            store[rid] = have - units
            agent.packs.append((rid, units))
            self._emit("REAGENT_PACK_FETCHED")
            return
        k = next((i for i, (r, _) in enumerate(agent.packs) if r == rid), None)
        if k is None:
            raise Blocked("REAGENT_NOT_CARRIED")
        _, units = agent.packs.pop(k)
        per_run = int(self.world.reagents[rid]["per_run"])
        was_out = dev.reagents[rid] < per_run
        dev.reagents[rid] += units
        if was_out and dev.reagents[rid] >= per_run:
            # No open interval: it has been out since the episode began (every later
            # stock-out opens one).
            since = dev.out_since.pop(rid, 0.0)
            dev.stockout_s[rid] = dev.stockout_s.get(rid, 0.0) + (self.now - since)
        self._emit("REAGENT_RESTOCKED")

    def _restock_target(self, agent: Any, args: dict[str, Any]) -> tuple[Any, str]:
        """The device of a restock and whether the agent fetches (at stores) or loads."""
        did = arg_str(args, "device_id")
        dev = self.devices.get(did)
        if dev is None:
            raise Blocked("DEVICE_UNKNOWN")
        if dev.device_type not in self.world.roles[agent.role].device_types:
            raise Blocked("RBAC_DEVICE_DENIED")
        if agent.zone == dev.zone:
            return dev, "load"
        if agent.zone in self.world.stores_zones.get(dev.site_id, ()):
            return dev, "fetch"
        raise Blocked("AGENT_NOT_COLOCATED")

    def restock_option(self, agent: Any, device_id: str) -> tuple[str | None, bool]:
        """Read-only: the reagent a RESTOCK_REAGENT of ``device_id`` by ``agent`` should
        name now, and whether the engine would accept it (signatures and tokens aside).

        At the device: the carried reagent the device is lowest on; at the site's stores:
        the device's reagent it is lowest on among those the stores hold, if the agent has
        a free hand. Used by the env's action masks and argument filling so that a
        mask-allowed restock is not blocked.
        """
        dev = self.devices.get(device_id)
        if dev is None or not dev.reagents:
            return None, False
        onboard = dev.reagents
        lowest = min(onboard, key=lambda r: (onboard[r], r))
        role = self.world.roles.get(agent.role) if agent.role is not None else None
        if (
            role is None
            or agent.zone is None
            or "RESTOCK_REAGENT" not in role.actions
            or dev.device_type not in role.device_types
            or agent.zone in self.frozen_zones
        ):
            return lowest, False
        if agent.zone == dev.zone:
            carried = sorted({r for r, _ in agent.packs if r in onboard})
            if not carried:
                return lowest, False
            return min(carried, key=lambda r: (onboard[r], r)), True
        if agent.zone in self.world.stores_zones.get(dev.site_id, ()):
            store = self.inventory.get(dev.site_id, {})
            stocked = [r for r in onboard if store.get(r, 0) > 0]
            if not stocked:
                return lowest, False
            rid = min(stocked, key=lambda r: (onboard[r], r))
            return rid, len(agent.packs) < self.world.max_packs_carried
        return lowest, False

    def _reagent_out(self, dev: Any, rid: str) -> None:
        """``rid`` just ran out on ``dev``: open a stock-out interval, note waiting work."""
        if rid in dev.out_since:
            return
        dev.out_since[rid] = self.now
        w = self.world
        for wid, it in dev.work.items():
            if rid in work_reagents(w, self.specimens[it.specimen_id]):
                dev.held_for_reagent[wid] = None

    def stockout_seconds(self, dev: Any) -> dict[str, float]:
        """Seconds each reagent of ``dev`` has been out so far this episode (closed
        intervals plus the open ones up to now)."""
        out = dict(dev.stockout_s)
        rg = self.world.reagents
        for rid, units in dev.reagents.items():
            if units < int(rg[rid]["per_run"]):
                since = dev.out_since.get(rid, 0.0)
                out[rid] = out.get(rid, 0.0) + (self.now - since)
        return {r: v for r, v in sorted(out.items()) if v > 0}

    def _on_reagent_drain(self, item: dict[str, Any]) -> None:
        dev = self.devices.get(item.get("device_id", ""))
        if dev is None:
            return
        rids = [item["reagent_id"]] if item.get("reagent_id") else sorted(dev.reagents)
        for rid in rids:
            if rid in dev.reagents and dev.reagents[rid] > 0:
                dev.reagents[rid] = max(0, dev.reagents[rid] - int(item.get("units", 10**9)))
                if dev.reagents[rid] == 0:
                    self._emit("REAGENT_STOCKOUT")
                if dev.reagents[rid] < int(self.world.reagents[rid]["per_run"]):
                    self._reagent_out(dev, rid)
