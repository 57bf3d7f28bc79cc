"""Built-in invariant handlers (registered through the public registry like any plugin)."""

from __future__ import annotations

from typing import Any

__all__ = ["BUILTIN_HANDLERS"]

Outcome = tuple[bool, str | None, dict[str, Any] | None] | None


def specimen_single_location(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Outcome:
    # Cross-check every touched specimen against the holder it claims and every holder
    # that could list it: exactly one place must hold it.
    bad = []
    for sid in env.step_ctx.get("specimens", ()):
        spec = env.specimens.get(sid)
        if spec is None:
            continue
        # The only carriers that can hold it after this step are the actor and the
        # carrier the specimen names; checking both keeps the check O(1) at 10k agents.
        cands = {event.get("agent_id")}
        if spec.loc_kind == "agent":
            cands.add(spec.loc_id)
        holders = sum(1 for a in cands if a in env.agents and sid in env.agents[a].carrying)
        kind, loc = spec.loc_kind, spec.loc_id
        if kind == "agent":
            ok = holders == 1 and sid in env.agents[loc].carrying
        elif kind == "zone":
            ok = holders == 0 and loc in env.world.zones
        elif kind == "device":
            dev = env.devices.get(loc)
            ok = (
                holders == 0
                and dev is not None
                and (
                    any(w.specimen_id == sid for w in dev.work.values())
                    or any(w.specimen_id == sid for r in dev.runs.values() for w in r.work)
                )
            )
        elif kind == "consignment":
            c = env.consignments.get(loc)
            ok = holders == 0 and c is not None and sid in c.specimen_ids
        else:
            ok = False
        if not ok:
            bad.append(sid)
    if not env.step_ctx.get("specimens"):
        return None
    return (not bad, None, {"specimens": bad} if bad else None)


def stability_at_run(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Outcome:
    started = env.step_ctx.get("run_specimens")
    if not started:
        return None
    now = env.now
    late = [sid for sid in started if env.specimens[sid].expires_t < now]
    return (not late, None, {"specimens": late} if late else None)


def specimen_expiry(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Outcome:
    expired = env.step_ctx.get("expired")
    if not expired:
        return None
    return (False, None, {"specimens": list(expired)})


def release_within_sla(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Outcome:
    rid = env.step_ctx.get("released")
    if rid is None:
        return None
    res = env.results[rid]
    target = env.world.priorities[res.priority]["target_tat_s"]
    tat = res.released_t - res.arrival_t
    if tat <= target:
        return (True, None, None)
    return (False, None, {"result_id": rid, "tat_s": tat, "target_tat_s": target})


def critical_ack_timely(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Outcome:
    ids = env.step_ctx.get("crit_exhausted")
    if not ids:
        return None
    return (False, None, {"results": list(ids)})


def door_open_time(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Outcome:
    doors = env.step_ctx.get("door_alarms")
    if not doors:
        return None
    return (False, None, {"doors": list(doors)})


def no_run_on_qc_failed(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Outcome:
    dev_id = env.step_ctx.get("run_device")
    if dev_id is None:
        return None
    dev = env.devices[dev_id]
    if dev.kind != "analyzer":
        return None
    return (not dev.qc_failed, None, {"device_id": dev_id} if dev.qc_failed else None)


def consignment_temperature(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Outcome:
    cid = env.step_ctx.get("received")
    if cid is None:
        return None
    c = env.consignments[cid]
    band = env.world.temp_bands[env.world.routes[c.route_id]["temp_band"]]
    ok = band["min_c"] <= c.temp_min and c.temp_max <= band["max_c"]
    details = (
        None if ok else {"consignment_id": cid, "temp_min": c.temp_min, "temp_max": c.temp_max}
    )
    return (ok, None, details)


def consignment_transit_time(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Outcome:
    cid = env.step_ctx.get("received")
    if cid is None:
        return None
    c = env.consignments[cid]
    limit = env.world.routes[c.route_id]["max_transit_s"]
    took = c.received_t - c.dispatched_t
    return (
        took <= limit,
        None,
        None if took <= limit else {"consignment_id": cid, "transit_s": took},
    )


def reagent_above_reorder(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Outcome:
    low = env.step_ctx.get("reagent_low")
    if low is None:
        return None
    return (not low, None, {"reagents": low} if low else None)


def audit_chain_intact(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Outcome:
    ok = env.step_ctx.get("audit_ok")
    if ok is None:
        return None
    return (bool(ok), None, None if ok else {"first_bad_index": env.step_ctx.get("audit_bad")})


_BUILTINS = {
    ("state", "specimen_single_location"): specimen_single_location,
    ("temporal", "stability_at_run"): stability_at_run,
    ("temporal", "specimen_expiry"): specimen_expiry,
    ("temporal", "release_within_sla"): release_within_sla,
    ("temporal", "critical_ack_timely"): critical_ack_timely,
    ("state", "door_open_time"): door_open_time,
    ("state", "no_run_on_qc_failed"): no_run_on_qc_failed,
    ("state", "consignment_temperature"): consignment_temperature,
    ("temporal", "consignment_transit_time"): consignment_transit_time,
    ("state", "reagent_above_reorder"): reagent_above_reorder,
    ("state", "audit_chain_intact"): audit_chain_intact,
}

#: ``(type, check) -> handler`` of the built-in checks (the registry registers them).
BUILTIN_HANDLERS = _BUILTINS
