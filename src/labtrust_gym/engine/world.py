"""The static world of an episode, compiled once at reset from the policy.

Policy documents become dicts and frozensets indexed the way the hot path asks for them:
adjacency with travel times, doors per edge, corridor capacities per edge (keyed by the
sorted zone pair), RBAC as sets, reason codes and emits as sets.
``effective_policy`` from the initial state (generated scenarios) is merged over the
bundle first, so a scaled scenario needs no file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.policy.loader import PolicyBundle, merge_overlay, thaw

__all__ = ["CompiledWorld", "RoleSpec", "compile_world", "edge_key"]


def edge_key(a: str, b: str) -> tuple[str, str]:
    """The key of the undirected edge ``a - b``: the zone pair in sorted order."""
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True, slots=True)
class RoleSpec:
    """A role's permissions: its actions, the zone kinds and device types it works in,
    how much it carries, and whether it approves tokens."""

    role_id: str
    actions: frozenset[str]
    zone_kinds: frozenset[str]
    device_types: frozenset[str]
    carry_capacity: int
    approves_tokens: bool


@dataclass(frozen=True)
class CompiledWorld:
    """The static world of an episode, indexed for the hot path (see the module docstring)."""

    fingerprint: str
    zones: dict[str, dict[str, Any]]  # zone_id -> {site_id, kind, name}
    adjacency: dict[str, dict[str, float]]  # zone -> {neighbour: travel_s}
    edge_door: dict[tuple[str, str], str]  # (a, b) both orders -> door_id
    # sorted (a, b) -> most agents in transit on the edge at once (both directions); an
    # edge without an entry is unlimited.
    edge_capacity: dict[tuple[str, str], int]
    doors: dict[str, dict[str, Any]]
    zone_doors: dict[str, list[str]]
    sites: dict[str, dict[str, Any]]
    routes: dict[str, dict[str, Any]]
    device_types: dict[str, dict[str, Any]]
    # device types whose queue is first come, first served (queue_discipline: fifo)
    fifo_types: frozenset[str]
    devices: dict[str, dict[str, Any]]  # device_id -> {device_type, zone, site_id}
    maintenance_windows: list[dict[str, Any]]
    tube_types: dict[str, dict[str, Any]]
    panels: dict[str, dict[str, Any]]
    stability: dict[str, dict[str, Any]]  # tube_type -> {max_age_s, temp_band}
    temp_bands: dict[str, dict[str, float]]
    acceptance: dict[str, Any]
    reagents: dict[str, dict[str, Any]]
    stores_inventory: dict[str, dict[str, int]]
    stores_zones: dict[str, tuple[str, ...]]  # site -> its zones of kind "stores"
    # stores zone -> the devices of its site that use reagents (restock packs fetched there)
    stores_devices: dict[str, tuple[str, ...]]
    max_packs_carried: int  # reagent packs one agent carries at once
    open_actions: frozenset[str]
    roles: dict[str, RoleSpec]
    policy_agents: list[dict[str, Any]]
    token_types: dict[str, dict[str, Any]]
    thresholds: dict[str, dict[str, float]]
    ladder: dict[str, Any]
    invariants: list[dict[str, Any]]
    reason_codes: frozenset[str]
    emits: frozenset[str]
    priorities: dict[str, dict[str, Any]]  # STAT/URGENT/ROUTINE -> {rank, target_tat_s}


#: Worlds compiled without an overlay, by policy fingerprint (the documents' digest).
_PLAIN_WORLDS: dict[str, CompiledWorld] = {}


def compile_world(bundle: PolicyBundle, effective_policy: dict[str, Any] | None) -> CompiledWorld:
    """The world of ``bundle`` with ``effective_policy`` merged over it.

    Without an overlay the world depends on the documents alone, so it is compiled once
    per policy fingerprint and shared: an engine and its env compile it at every reset.
    The world is read-only (a frozen dataclass whose tables nobody writes)."""
    if effective_policy:
        return _compile_world(bundle, effective_policy)
    hit = _PLAIN_WORLDS.get(bundle.fingerprint)
    if hit is None:
        if len(_PLAIN_WORLDS) >= 16:  # policies edited in a long session: keep a few
            _PLAIN_WORLDS.clear()
        hit = _PLAIN_WORLDS[bundle.fingerprint] = _compile_world(bundle, None)
    return hit


def _compile_world(bundle: PolicyBundle, effective_policy: dict[str, Any] | None) -> CompiledWorld:
    docs: dict[str, Any] = {name: thaw(bundle[name]) for name in bundle.docs}
    fingerprint = bundle.fingerprint
    if effective_policy:
        for name, overlay in effective_policy.items():
            if name not in docs:
                raise ConfigError(
                    f"effective_policy key {name!r} is not a policy document; known: "
                    f"{', '.join(sorted(docs))}"
                )
            docs[name] = merge_overlay(docs[name], overlay)
        from labtrust_gym.policy.loader import fingerprint_docs

        fingerprint = fingerprint_docs(docs)

    zl = docs["zone_layout"]
    zones = {z["zone_id"]: {k: v for k, v in z.items() if k != "zone_id"} for z in zl["zones"]}
    adjacency: dict[str, dict[str, float]] = {z: {} for z in zones}
    edge_door: dict[tuple[str, str], str] = {}
    edge_capacity: dict[tuple[str, str], int] = {}
    for e in zl.get("edges", []):
        a, b, t = e["a"], e["b"], float(e["travel_s"])
        for x in (a, b):
            if x not in zones:
                raise ConfigError(f"zone_layout edge {a}-{b}: zone {x!r} is not declared")
        adjacency[a][b] = t
        adjacency[b][a] = t
        if e.get("door_id"):
            edge_door[(a, b)] = e["door_id"]
            edge_door[(b, a)] = e["door_id"]
        cap = e.get("capacity")
        if cap is not None:
            # Generated layouts (effective_policy) bypass the schema: check here too.
            if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
                raise ConfigError(
                    f"zone_layout edge {a}-{b}: capacity must be an integer >= 1 "
                    f"(omit it for an unlimited edge), got {cap!r}"
                )
            edge_capacity[edge_key(a, b)] = cap
    doors = {d["door_id"]: d for d in zl.get("doors", [])}
    zone_doors: dict[str, list[str]] = {z: [] for z in zones}
    for d in doors.values():
        for z in d["zones"]:
            zone_doors.setdefault(z, []).append(d["door_id"])
    placement = {p["device_id"]: p["zone_id"] for p in zl.get("device_placement", [])}

    sp = docs["sites_policy"]
    sites = {s["site_id"]: s for s in sp["sites"]}
    routes = {r["route_id"]: r for r in sp.get("routes", [])}

    eq = docs["equipment_registry"]
    device_types = eq["device_types"]
    fifo: set[str] = set()
    for dt_id, spec in sorted(device_types.items()):
        disc = spec.get("queue_discipline", "priority")
        if disc not in ("priority", "fifo"):
            raise ConfigError(
                f"equipment_registry.device_types.{dt_id}.queue_discipline is {disc!r}; use "
                "'priority' (STAT first, the default) or 'fifo' (first come, first served)"
            )
        if disc == "fifo":
            fifo.add(dt_id)
    devices: dict[str, dict[str, Any]] = {}
    for d in eq["devices"]:
        did = d["device_id"]
        if did not in placement:
            raise ConfigError(f"device {did} has no device_placement entry in zone_layout")
        zone = placement[did]
        devices[did] = {
            "device_type": d["device_type"],
            "zone": zone,
            "site_id": zones[zone]["site_id"],
        }

    cat = docs["test_catalogue"]
    stab = docs["stability_policy"]
    rg = docs["reagent_policy"]
    rbac = docs["rbac_policy"]
    stores_zones: dict[str, tuple[str, ...]] = {}
    for z in sorted(zones):
        if zones[z]["kind"] == "stores":
            site = zones[z]["site_id"]
            stores_zones[site] = (*stores_zones.get(site, ()), z)
    inventory = rg.get("stores_inventory", {})
    for site in sorted(inventory):
        # (A generated layout's overlay keeps the base policy's sites' entries: only the
        # sites of this world must have stores; the policy validator checks the files.)
        if site in sites and site not in stores_zones:
            raise ConfigError(
                f"reagent_policy.stores_inventory: site {site!r} has no zone of kind 'stores' "
                "to keep it in (restocking fetches packs there); add a stores zone to "
                "zone_layout or drop the entry"
            )
    reagent_types = {r["analyzer_type"] for r in rg["reagents"].values()}
    stores_devices = {
        z: tuple(
            did
            for did in sorted(devices)
            if devices[did]["site_id"] == site and devices[did]["device_type"] in reagent_types
        )
        for site, zs in stores_zones.items()
        for z in zs
    }
    packs = rg.get("max_packs_carried", 1)
    if isinstance(packs, bool) or not isinstance(packs, int) or packs < 1:
        raise ConfigError(
            f"reagent_policy.max_packs_carried must be an integer >= 1, got {packs!r}"
        )
    roles = {
        rid: RoleSpec(
            role_id=rid,
            actions=frozenset(r.get("actions", [])),
            zone_kinds=frozenset(r.get("zone_kinds", [])),
            device_types=frozenset(r.get("device_types", [])),
            carry_capacity=int(r.get("carry_capacity", 0)),
            approves_tokens=bool(r.get("approves_tokens", False)),
        )
        for rid, r in rbac["roles"].items()
    }
    return CompiledWorld(
        fingerprint=fingerprint,
        zones=zones,
        adjacency=adjacency,
        edge_door=edge_door,
        edge_capacity=edge_capacity,
        doors=doors,
        zone_doors=zone_doors,
        sites=sites,
        routes=routes,
        device_types=device_types,
        fifo_types=frozenset(fifo),
        devices=devices,
        maintenance_windows=list(eq.get("maintenance_windows", [])),
        tube_types=cat["tube_types"],
        panels=cat["panels"],
        stability={s["tube_type"]: s for s in stab["stability"]},
        temp_bands=stab["temperature_bands"],
        acceptance=docs["acceptance_rules"],
        reagents=rg["reagents"],
        stores_inventory=inventory,
        stores_zones=stores_zones,
        stores_devices=stores_devices,
        max_packs_carried=packs,
        open_actions=frozenset(rbac.get("open_actions", ["NOOP", "TICK"])),
        roles=roles,
        policy_agents=list(rbac.get("agents", [])),
        token_types=docs["token_registry"]["token_types"],
        thresholds=docs["critical_thresholds"]["thresholds"],
        ladder=docs["escalation_ladder"],
        invariants=list(docs["invariant_registry"]["invariants"]),
        reason_codes=frozenset(r["code"] for r in docs["reason_code_registry"]["reason_codes"]),
        emits=frozenset(docs["emits_vocab"]["emits"]),
        priorities=docs["sla_targets"]["priorities"],
    )
