"""Who talks on an episode's bus: the team's agents and the coordination identities.

Coordination methods decide through identities that are no engine agents: a site's
dispatch desk, central planner, auctioneer or hub (``C_<SITE>``) and the local
controllers of its two zone groups (``C_<SITE>_FRONT``, ``C_<SITE>_BENCH``). They hold
signing keys like every agent (drawn from the episode seed through the ``keys`` stream of
a seed derived for them, so the agents' own keys are unchanged) and the bus-only role
``bus.coordinator_role`` (``ROLE_COORDINATOR``), which may send orders but no CLAIM.

:func:`build_episode_bus` builds the episode's network and bus: every agent's and
coordinator's key, their roles and sites (so a partition may name sites), the binding
(:func:`~labtrust_gym.coordination.bus.episode_binding` of task, seed and scale).
Messages of one site's team go to its channel (:func:`site_channel`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from labtrust_gym.coordination.bus import SignedMessageBus, episode_binding, load_bus_policy
from labtrust_gym.coordination.network import NetworkModel, load_network_policy
from labtrust_gym.engine.signatures import private_key_from_bytes
from labtrust_gym.rng import derive_seed, stream

__all__ = [
    "GROUP_SUFFIXES",
    "build_episode_bus",
    "coordinator_id",
    "coordinator_keys",
    "coordinator_sites",
    "site_channel",
]

#: The zone-group controllers of a site (hierarchical methods).
GROUP_SUFFIXES = ("FRONT", "BENCH")


def coordinator_id(site: str, group: str | None = None) -> str:
    """``C_<SITE>`` (the site's coordinator) or ``C_<SITE>_<GROUP>`` (a local controller)."""
    return f"C_{site}" if group is None else f"C_{site}_{group.upper()}"


def site_channel(site: str) -> str:
    return f"site:{site}"


def coordinator_sites(sites: Iterable[str]) -> dict[str, str]:
    """Every coordination identity of ``sites`` and its site."""
    out: dict[str, str] = {}
    for s in sorted(set(sites)):
        out[coordinator_id(s)] = s
        for g in GROUP_SUFFIXES:
            out[coordinator_id(s, g)] = s
    return out


def coordinator_keys(seed: int, ids: Iterable[str]) -> dict[str, tuple[str, Any]]:
    """``{id: (key_id, Ed25519PrivateKey)}`` for the coordination identities (sorted ids,
    one 32-byte draw each from ``stream(derive_seed(seed, "coordinators"), "keys")``)."""
    rng = stream(derive_seed(seed, "coordinators"), "keys")
    return {cid: (f"K_{cid}", private_key_from_bytes(rng.bytes(32))) for cid in sorted(ids)}


def _agent_sites(engine: Any) -> dict[str, str]:
    zones = engine.world.zones
    out: dict[str, str] = {}
    for aid, a in engine.agents.items():
        zone = a.zone or a.transit_to or a.from_zone
        site = zones.get(zone, {}).get("site_id") if zone is not None else None
        if site is not None:
            out[aid] = site
    return out


def build_episode_bus(
    task: Any,
    env: Any,
    seed: int,
    *,
    keys: Mapping[str, tuple[str, Any]],
    overrides: Mapping[str, Any] | None = None,
    bus_id: str | None = None,
) -> SignedMessageBus:
    """The episode's :class:`SignedMessageBus` over a :class:`NetworkModel` (policy of the
    task's policy tree with ``overrides`` merged over its ``network`` section, step =
    ``task.dt_s``, draws from ``stream(seed, "network")``), holding the agents' ``keys``
    and the coordinators' (:func:`coordinator_keys`), bound to the episode."""
    root = task.policy.policy_dir
    over = dict(overrides or {})
    over["step_ms"] = float(task.dt_s) * 1000.0
    engine = env.engine
    sites = _agent_sites(engine)
    coords = coordinator_sites(engine.world.sites)
    net = NetworkModel(
        load_network_policy(root, over),
        stream(seed, "network"),
        agent_sites={**sites, **coords},
    )
    policy = load_bus_policy(root)
    roles: dict[str, str | None] = {aid: a.role for aid, a in engine.agents.items()}
    roles.update({cid: policy.coordinator_role for cid in coords})
    scale = getattr(getattr(task, "scale_config", None), "config_id", None)
    return SignedMessageBus(
        net,
        {**keys, **coordinator_keys(seed, coords)},
        roles,
        policy,
        episode_id=episode_binding(getattr(task, "name", type(task).__name__), seed, scale),
        bus_id=bus_id,
    )
