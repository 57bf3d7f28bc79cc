"""Read-only queries on engine state (``LabEngine.query``). Never on the hot path."""

from __future__ import annotations

import dataclasses
from typing import Any

from labtrust_gym.errors import UnknownIdError

__all__ = ["run_query", "QUERY_KINDS"]


def _plain(obj: Any, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    d = dataclasses.asdict(obj)
    for k in drop:
        d.pop(k, None)
    return d


def _one(table: dict[str, Any], ident: str | None, what: str) -> Any:
    if ident is None or ident not in table:
        raise UnknownIdError(
            f"unknown {what} {ident!r}; {len(table)} known"
            + (f" (e.g. {', '.join(sorted(table)[:5])})" if table else "")
        )
    return table[ident]


def _device(engine: Any, dev: Any) -> dict[str, Any]:
    d = _plain(dev, ("queue", "work", "runs", "qc_drift"))
    d["queue"] = [w for (_, _, _, w) in sorted(dev.queue)]
    d["queue_items"] = [_plain(dev.work[w]) for w in d["queue"]]
    d["runs"] = [
        {
            "run_id": r.run_id,
            "start_t": r.start_t,
            "end_t": r.end_t,
            "specimen_ids": [w.specimen_id for w in r.work],
        }
        for r in sorted(dev.runs.values(), key=lambda r: r.run_id)
    ]
    return d


def _edges(engine: Any, zone: str | None) -> dict[str, dict[str, Any]]:
    """Edges keyed ``"A-B"`` (sorted zone pair): travel, capacity, load and free places.

    ``zone`` keeps only the edges touching that zone.
    """
    w = engine.world
    if zone is not None:
        _one(w.zones, zone, "zone")
    out: dict[str, dict[str, Any]] = {}
    for a in sorted(w.adjacency):
        for b, travel in sorted(w.adjacency[a].items()):
            if b < a or (zone is not None and zone not in (a, b)):
                continue
            cap = w.edge_capacity.get((a, b))
            load = engine.edge_load.get((a, b), 0)
            out[f"{a}-{b}"] = {
                "a": a,
                "b": b,
                "travel_s": travel,
                "capacity": cap,
                "load": load,
                "free": None if cap is None else max(0, cap - load),
            }
    return out


def run_query(engine: Any, kind: str, ident: str | None = None, **filters: Any) -> Any:
    hidden = bool(filters.pop("include_hidden", False))
    drop_spec: tuple[str, ...] = () if hidden else ("hidden",)
    drop_res: tuple[str, ...] = () if hidden else ("qc_drift",)
    if kind == "summary":
        return {
            "now": engine.now,
            "agents": len(engine.agents),
            "specimens": len(engine.specimens),
            "devices": len(engine.devices),
            "results": len(engine.results),
            "released": sum(1 for r in engine.results.values() if r.status == "RELEASED"),
            "timing_mode": engine.timing_mode,
            "policy_fingerprint": engine.world.fingerprint,
            "hashchain": engine.audit.summary(),
        }
    if kind == "now":
        return engine.now
    if kind == "agent":
        return _plain(_one(engine.agents, ident, "agent"))
    if kind == "agents":
        return {k: _plain(v) for k, v in engine.agents.items()}
    if kind == "specimen":
        return _plain(_one(engine.specimens, ident, "specimen"), drop_spec)
    if kind == "specimens":
        out = {}
        for k, s in engine.specimens.items():
            if all(getattr(s, f) == v for f, v in filters.items()):
                out[k] = _plain(s, drop_spec)
        return out
    if kind == "device":
        d = _device(engine, _one(engine.devices, ident, "device"))
        if hidden:
            d["qc_drift"] = engine.devices[ident].qc_drift
        return d
    if kind == "devices":
        return {k: _device(engine, v) for k, v in engine.devices.items()}
    if kind == "queue":
        return _device(engine, _one(engine.devices, ident, "device"))["queue"]
    if kind == "result":
        return _plain(_one(engine.results, ident, "result"), drop_res)
    if kind == "results":
        return {
            k: _plain(r, drop_res)
            for k, r in engine.results.items()
            if all(getattr(r, f) == v for f, v in filters.items())
        }
    if kind == "token":
        return _plain(_one(engine.tokens, ident, "token"))
    if kind == "tokens":
        return {k: _plain(v) for k, v in engine.tokens.items()}
    if kind == "door":
        return _plain(_one(engine.doors, ident, "door"))
    if kind == "doors":
        return {k: _plain(v) for k, v in engine.doors.items()}
    if kind == "consignment":
        return _plain(_one(engine.consignments, ident, "consignment"))
    if kind == "zone":
        z = _one(engine.world.zones, ident, "zone")
        return {
            "zone_id": ident,
            **dict(z),
            "frozen": ident in engine.frozen_zones,
            "agents": sorted(a.agent_id for a in engine.agents.values() if a.zone == ident),
            "specimens": sorted(
                s.specimen_id
                for s in engine.specimens.values()
                if s.loc_kind == "zone" and s.loc_id == ident
            ),
            "devices": sorted(d for d, v in engine.devices.items() if v.zone == ident),
        }
    if kind == "edges":
        return _edges(engine, ident)
    if kind == "frozen_zones":
        return sorted(engine.frozen_zones)
    if kind == "inventory":
        return {s: dict(v) for s, v in engine.inventory.items()}
    if kind == "key":
        e = engine.keys.get(ident)
        if e is None:
            raise UnknownIdError(f"unknown key {ident!r}")
        return {"key_id": e.key_id, "agent_id": e.agent_id, "status": e.status}
    if kind == "audit":
        return engine.audit.summary()
    raise UnknownIdError(f"unknown query kind {kind!r}; known: {', '.join(QUERY_KINDS)}")


QUERY_KINDS = (
    "summary",
    "now",
    "agent",
    "agents",
    "specimen",
    "specimens",
    "device",
    "devices",
    "queue",
    "result",
    "results",
    "token",
    "tokens",
    "door",
    "doors",
    "consignment",
    "zone",
    "edges",
    "frozen_zones",
    "inventory",
    "key",
    "audit",
)
