"""Coordination at scale: the scale config, presets, and deterministic scenario generation.

``generate_scaled_initial_state(scale, base_policy_root, seed)`` builds a whole hospital
network in memory — sites ``SITE_001...`` each with a zone graph, devices
``DEV_{type}_{k:04d}`` placed by type, agents ``A_WORKER_0001...`` with roles drawn from
``role_mix``, transport routes between sites, and a seeded arrival schedule — and returns
an initial state whose ``effective_policy`` carries the layout, so the engine reads no
file. The layout depends only on the config; the specimens depend on the seed.

``corridor_capacity`` makes the corridors narrow: every edge touching a site's CORRIDOR
zone gets that ``capacity`` (agents in transit at once, both directions; see
``engine/actions_zones.py``). ``layout: long_passages`` builds another site plan: the
front (corridor) reaches the benches through two long narrow passages (60 s, six steps
in transit; ``corridor_capacity`` agents at once, 1 if unset) and through a wide service
corridor (a second zone of kind corridor) that takes 10 s longer; the other edges are
wide. Reservations matter
there: a runner that waits for a full passage loses what a runner that plans the detour
saves. ``backlog_min`` warm-starts the lab: the specimens a site's
stream would have brought in the ``backlog_min`` minutes before t=0 are already in the
lab at t=0, accessioned (ACCEPTED) and, where their panel needs it, centrifuged, waiting
in the site's PREANALYTICS zone for aliquoting and analysis. Each site holds
``max(1, round(rate_per_min * backlog_min))`` of them (the expected count of its stream
over the window; at least one, so a backlog is never empty by chance) with arrival times
uniform over the window (a Poisson stream conditioned on its count) and priorities,
panels and collection lags drawn from the arrivals' mixes, from the ``backlog`` RNG
stream. Their ``arrival_t`` is negative, so turnaround counts from the true arrival.
Backlog tubes carry no acceptance defect: they already passed accessioning.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labtrust_gym.benchmarks.arrivals import generate_arrivals
from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.errors import ConfigError, UnknownIdError
from labtrust_gym.policy.loader import PolicyBundle, load_policy
from labtrust_gym.rng import stream

__all__ = [
    "CoordinationScaleConfig",
    "load_scale_config_by_id",
    "list_scale_presets",
    "generate_scaled_initial_state",
    "scale_state_digest",
    "SCALE_CONFIGS_FILE",
]

SCALE_CONFIGS_FILE = ("coordination", "scale_configs.v0.1.yaml")
_ZONES = (  # suffix, kind
    ("RECEPTION", "reception"),
    ("CORRIDOR", "corridor"),
    ("PREANALYTICS", "preanalytics"),
    ("ANALYTICS", "analytics"),
    ("STORES", "stores"),
    ("OFFICE", "office"),
    ("DISPATCH", "dispatch"),
)
_EDGES = (
    ("RECEPTION", "CORRIDOR", 10),
    ("CORRIDOR", "PREANALYTICS", 10),
    ("CORRIDOR", "ANALYTICS", 20),
    ("PREANALYTICS", "ANALYTICS", 10),
    ("CORRIDOR", "STORES", 10),
    ("CORRIDOR", "OFFICE", 10),
    ("CORRIDOR", "DISPATCH", 10),
)
#: ``layout: long_passages``: (a, b, travel_s, narrow); narrow edges get the capacity.
_PASSAGE_EDGES = (
    ("RECEPTION", "CORRIDOR", 10, False),
    ("CORRIDOR", "PREANALYTICS", 60, True),
    ("CORRIDOR", "ANALYTICS", 60, True),
    ("PREANALYTICS", "ANALYTICS", 10, False),
    ("CORRIDOR", "SERVICE", 30, False),
    ("SERVICE", "PREANALYTICS", 40, False),
    ("CORRIDOR", "STORES", 10, False),
    ("CORRIDOR", "OFFICE", 10, False),
    ("CORRIDOR", "DISPATCH", 10, False),
)
LAYOUTS = ("standard", "long_passages")
_HOME = {
    "ROLE_RECEPTION": "RECEPTION",
    "ROLE_RUNNER": "CORRIDOR",
    "ROLE_PREANALYTICS": "PREANALYTICS",
    "ROLE_ANALYTICS": "ANALYTICS",
    "ROLE_QC": "ANALYTICS",
    "ROLE_SUPERVISOR": "OFFICE",
    "ROLE_CLINICAL_SCIENTIST": "OFFICE",
}
_COLLECTION_LAG_S = (300.0, 1800.0)  # seconds from collection to arrival at reception
_DEVICE_ZONE = {"centrifuge": "PREANALYTICS", "aliquoter": "PREANALYTICS", "analyzer": "ANALYTICS"}


@dataclass(frozen=True)
class CoordinationScaleConfig:
    """A compact description of a generated scenario (see the module docstring)."""

    num_agents_total: int
    role_mix: dict[str, float]
    num_devices_per_type: dict[str, int]
    num_sites: int = 1
    specimens_per_min: float = 1.0
    horizon_steps: int = 150
    timing_mode: str = "explicit"
    partner_id: str | None = None
    config_id: str | None = None
    description: str = ""
    corridor_capacity: int | None = None
    backlog_min: float = 0.0
    layout: str = "standard"
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(
        self, known_roles: set[str] | None = None, known_device_types: set[str] | None = None
    ) -> None:
        """Raise ConfigError naming the field if the config is invalid."""
        if not isinstance(self.num_agents_total, int) or self.num_agents_total < 1:
            raise ConfigError(
                f"num_agents_total must be a positive int, got {self.num_agents_total!r}"
            )
        if not self.role_mix:
            raise ConfigError("role_mix must name at least one role")
        total = sum(float(v) for v in self.role_mix.values())
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(f"role_mix must sum to 1.0, sums to {total:.6f}")
        if any(float(v) < 0 for v in self.role_mix.values()):
            raise ConfigError("role_mix fractions must be >= 0")
        if known_roles is not None:
            bad = sorted(set(self.role_mix) - known_roles)
            if bad:
                raise ConfigError(
                    f"role_mix names unknown role(s) {bad}; known: {', '.join(sorted(known_roles))}"
                )
        if known_device_types is not None:
            bad = sorted(set(self.num_devices_per_type) - known_device_types)
            if bad:
                raise ConfigError(
                    f"num_devices_per_type names unknown type(s) {bad}; known: "
                    f"{', '.join(sorted(known_device_types))}"
                )
        if any(int(v) < 0 for v in self.num_devices_per_type.values()):
            raise ConfigError("num_devices_per_type counts must be >= 0")
        if not isinstance(self.num_sites, int) or self.num_sites < 1:
            raise ConfigError(f"num_sites must be a positive int, got {self.num_sites!r}")
        if float(self.specimens_per_min) < 0:
            raise ConfigError("specimens_per_min must be >= 0")
        if not isinstance(self.horizon_steps, int) or self.horizon_steps < 1:
            raise ConfigError(f"horizon_steps must be a positive int, got {self.horizon_steps!r}")
        if self.timing_mode not in ("explicit", "simulated"):
            raise ConfigError(
                f"timing_mode must be 'explicit' or 'simulated', got {self.timing_mode!r}"
            )
        cap = self.corridor_capacity
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ConfigError(
                f"corridor_capacity must be an int >= 1 (or null: unlimited), got {cap!r}"
            )
        if self.layout not in LAYOUTS:
            raise ConfigError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        bl = self.backlog_min
        if (
            isinstance(bl, bool)
            or not isinstance(bl, (int, float))
            or not math.isfinite(bl)
            or bl < 0
        ):
            raise ConfigError(f"backlog_min must be a number of minutes >= 0, got {bl!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any], config_id: str | None = None) -> CoordinationScaleConfig:
        known = {f for f in cls.__dataclass_fields__ if f not in ("extra", "config_id")}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(
                f"scale config {config_id or ''}: unknown field(s) {unknown}; "
                f"known: {', '.join(sorted(known))}"
            )
        for req in ("num_agents_total", "role_mix", "num_devices_per_type"):
            if req not in d:
                raise ConfigError(f"scale config {config_id or ''}: missing field {req!r}")
        return cls(**{k: v for k, v in d.items()}, config_id=config_id)

    def sanitized(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra", None)
        return d


def _presets(repo_root: Path | str | None) -> dict[str, Any]:
    """The scale presets of every artifact root (``coordination/scale_configs.v0.1.yaml``
    of each, merged; a preset id defined in two roots is an ArtifactCollisionError)."""
    from labtrust_gym.artifacts import load_entries

    return load_entries("scale_presets", repo_root)


def list_scale_presets(repo_root: Path | str | None = None) -> list[str]:
    return sorted(_presets(repo_root))


def load_scale_config_by_id(
    repo_root: Path | str | None, config_id: str
) -> CoordinationScaleConfig:
    presets = _presets(repo_root)
    if config_id not in presets:
        raise UnknownIdError(
            f"unknown scale preset {config_id!r}; known presets: {', '.join(sorted(presets))}"
        )
    cfg = CoordinationScaleConfig.from_dict(dict(presets[config_id]), config_id)
    cfg.validate()
    return cfg


def _apportion(n: int, mix: dict[str, float]) -> list[str]:
    """Largest-remainder rounding of ``n`` agents over ``mix`` (roles sorted for ties)."""
    roles = sorted(mix)
    quotas = [n * float(mix[r]) for r in roles]
    counts = [int(q) for q in quotas]
    rest = n - sum(counts)
    order = sorted(range(len(roles)), key=lambda i: (-(quotas[i] - counts[i]), roles[i]))
    for i in order[:rest]:
        counts[i] += 1
    out: list[str] = []
    for r, c in zip(roles, counts, strict=True):
        out += [r] * c
    return out


def generate_scaled_initial_state(
    scale: CoordinationScaleConfig,
    base_policy_root: Path | str | None = None,
    seed: int = 0,
    *,
    policy: PolicyBundle | None = None,
) -> dict[str, Any]:
    """Deterministic initial state for ``scale`` and ``seed`` (see the module docstring)."""
    pol = (
        policy if policy is not None else load_policy(base_policy_root, partner_id=scale.partner_id)
    )
    roles = set(pol["rbac_policy"]["roles"])
    dtypes = pol["equipment_registry"]["device_types"]
    scale.validate(roles, set(dtypes))
    sites = [f"SITE_{i + 1:03d}" for i in range(scale.num_sites)]
    zones, edges, placement = [], [], []
    for si, site in enumerate(sites):
        tag = f"S{si + 1:03d}"
        passages = scale.layout == "long_passages"
        site_zones = _ZONES + ((("SERVICE", "corridor"),) if passages else ())
        for suffix, kind in site_zones:
            zones.append(
                {
                    "zone_id": f"Z_{tag}_{suffix}",
                    "site_id": site,
                    "kind": kind,
                    "name": f"{site} {suffix.lower()}",
                }
            )
        if passages:
            for a, b, t, narrow in _PASSAGE_EDGES:
                edge: dict[str, Any] = {"a": f"Z_{tag}_{a}", "b": f"Z_{tag}_{b}", "travel_s": t}
                if narrow:
                    edge["capacity"] = scale.corridor_capacity or 1
                edges.append(edge)
            continue
        for a, b, t in _EDGES:
            edge = {"a": f"Z_{tag}_{a}", "b": f"Z_{tag}_{b}", "travel_s": t}
            if scale.corridor_capacity is not None and "CORRIDOR" in (a, b):
                edge["capacity"] = scale.corridor_capacity
            edges.append(edge)
    devices = []
    site_types: list[set[str]] = [set() for _ in sites]
    for dtype in sorted(scale.num_devices_per_type):
        for k in range(int(scale.num_devices_per_type[dtype])):
            did = f"DEV_{dtype}_{k + 1:04d}"
            si = k % len(sites)
            site_types[si].add(dtype)
            zone = f"Z_S{si + 1:03d}_{_DEVICE_ZONE[dtypes[dtype]['kind']]}"
            devices.append({"device_id": did, "device_type": dtype})
            placement.append({"device_id": did, "zone_id": zone})
    site_docs = [
        {
            "site_id": site,
            "name": f"Site {i + 1}",
            "reception_zone": f"Z_S{i + 1:03d}_RECEPTION",
            "dispatch_zone": f"Z_S{i + 1:03d}_DISPATCH",
        }
        for i, site in enumerate(sites)
    ]
    routes = []
    for i in range(1, len(sites)):
        for ia, ib in ((i, 0), (0, i)):
            routes.append(
                {
                    "route_id": f"R_{sites[ia]}_TO_{sites[ib]}",
                    "from_site": sites[ia],
                    "to_site": sites[ib],
                    "transit_s": 600,
                    "transit_jitter_s": 120,
                    "max_transit_s": 1200,
                    "temp_band": "AMBIENT",
                    "start_temp_c": 20.0,
                    "drift_sd_c": 0.35,
                }
            )
    role_list = _apportion(scale.num_agents_total, scale.role_mix)
    agents = []
    for i, role in enumerate(role_list):
        si = i % len(sites)
        agents.append(
            {
                "agent_id": f"A_WORKER_{i + 1:04d}",
                "role": role,
                "zone": f"Z_S{si + 1:03d}_{_HOME[role]}",
                "home_zone": f"Z_S{si + 1:03d}_{_HOME[role]}",
            }
        )
    reagents = pol["reagent_policy"]["reagents"]
    inventory = {
        site: {rid: 10**6 for rid, r in reagents.items() if r["analyzer_type"] in site_types[i]}
        for i, site in enumerate(sites)
    }
    # Panels a site can finish on its own: analyzer type and preparation devices present.
    panels = pol["test_catalogue"]["panels"]
    streams = []
    for i, site in enumerate(sites):
        have = site_types[i]
        ok = [
            p
            for p, v in panels.items()
            if v["analyzer_type"] in have
            and (not v["needs_centrifuge"] or "CENTRIFUGE" in have)
            and (not v["needs_aliquot"] or "ALIQUOTER" in have)
        ]
        if not ok or scale.specimens_per_min <= 0:
            continue
        streams.append(
            {
                "site_id": site,
                "rate_per_min": scale.specimens_per_min / len(sites),
                "start_s": 0,
                "end_s": scale.horizon_steps * 10.0,
                "priority_mix": {"STAT": 0.1, "URGENT": 0.3, "ROUTINE": 0.6},
                "panel_mix": {p: 1.0 for p in sorted(ok)},
            }
        )
    site_map = {d["site_id"]: d for d in site_docs}
    arrivals = generate_arrivals(
        streams,
        stream(seed, "scenario"),
        panels=panels,
        tube_types=pol["test_catalogue"]["tube_types"],
        sites=site_map,
        defect_rate=0.02,
        collection_lag_s=_COLLECTION_LAG_S,
    )
    backlog = _backlog(
        streams,
        stream(seed, "backlog"),
        panels=panels,
        zones={site: f"Z_S{i + 1:03d}_PREANALYTICS" for i, site in enumerate(sites)},
        minutes=float(scale.backlog_min),
    )
    effective_policy = {
        "zone_layout": {
            "version": "0.1",
            "zones": zones,
            "edges": edges,
            "doors": [],
            "device_placement": placement,
        },
        "sites_policy": {"version": "0.1", "sites": site_docs, "routes": routes},
        "equipment_registry": {"devices": devices, "maintenance_windows": []},
        "rbac_policy": {
            "agents": [
                {"agent_id": a["agent_id"], "role": a["role"], "home_zone": a["home_zone"]}
                for a in agents
            ]
        },
        "reagent_policy": {"stores_inventory": inventory},
    }
    return {
        "agents": [
            {"agent_id": a["agent_id"], "role": a["role"], "zone": a["zone"]} for a in agents
        ],
        "specimens": backlog,
        "arrival_schedule": arrivals,
        "schedule": [],
        "timing_mode": scale.timing_mode,
        "effective_policy": effective_policy,
        "_scale_config_sanitized": scale.sanitized(),
    }


def _backlog(
    streams: list[dict[str, Any]],
    rng: np.random.Generator,
    *,
    panels: dict[str, Any],
    zones: dict[str, str],
    minutes: float,
) -> list[dict[str, Any]]:
    """Initial specimens of the warm-start backlog (see the module docstring)."""
    window = minutes * 60.0
    if window <= 0:
        return []
    out: list[tuple[float, int, dict[str, Any]]] = []
    n = 0
    for si, st in enumerate(streams):
        site = st["site_id"]
        count = max(1, round(float(st["rate_per_min"]) * minutes))
        times = np.sort(rng.uniform(-window, 0.0, size=count))
        tag = "".join(ch for ch in site.split("_", 1)[-1] if ch.isalnum())[:6]
        zone = zones[site]
        for t in times:
            plist = _pick(rng, st["panel_mix"]).split("+")
            prio = _pick(rng, st["priority_mix"])
            lag = float(rng.uniform(*_COLLECTION_LAG_S))
            n += 1
            ts = round(float(t), 1) + 0.0  # + 0.0: never -0.0
            spec: dict[str, Any] = {
                "specimen_id": f"B{tag}{n:05d}",
                "site_id": site,
                "zone": zone,
                "panels": plist,
                "priority": prio,
                "status": "ACCEPTED",
                "arrival_t": ts,
                "collected_t": round(ts - lag, 1),
            }
            if any(panels[p]["needs_centrifuge"] for p in plist):
                spec["centrifuged"] = True
            out.append((ts, si * 10**7 + n, spec))
    out.sort(key=lambda x: (x[0], x[1]))
    return [x[2] for x in out]


def _pick(rng: np.random.Generator, mix: dict[str, float]) -> str:
    keys = list(mix)
    p = np.asarray([float(mix[k]) for k in keys])
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def scale_state_digest(initial_state: dict[str, Any]) -> str:
    """Stable SHA-256 of a generated initial state (recorded in results)."""
    return hashlib.sha256(canonical_json(initial_state)).hexdigest()
