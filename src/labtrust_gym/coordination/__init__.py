"""The coordination layer: the network model between agents, the signed message bus on
top of it (bound to its episode, with site channels), the identities that talk on it, the
receivers' watchdog, and the risk-injection registry of ``coord_risk``."""

from labtrust_gym.coordination.bus import (
    BUS_REASON_CODES,
    COORDINATOR_ROLE,
    BusPolicy,
    Envelope,
    Message,
    SignedMessageBus,
    episode_binding,
    load_bus_policy,
    payload_problem,
)
from labtrust_gym.coordination.identities import (
    build_episode_bus,
    coordinator_id,
    coordinator_keys,
    site_channel,
)
from labtrust_gym.coordination.injections import (
    InjectionContext,
    RiskInjection,
    list_injections,
    make_injection,
    register_injection,
)
from labtrust_gym.coordination.network import (
    NetworkModel,
    NetworkPolicy,
    load_network_document,
    load_network_policy,
)
from labtrust_gym.coordination.watchdog import (
    ALERT_KINDS,
    DetectionPolicy,
    Watchdog,
    load_detection_policy,
)

__all__ = [
    "ALERT_KINDS",
    "BUS_REASON_CODES",
    "COORDINATOR_ROLE",
    "BusPolicy",
    "DetectionPolicy",
    "Envelope",
    "InjectionContext",
    "Message",
    "NetworkModel",
    "NetworkPolicy",
    "RiskInjection",
    "SignedMessageBus",
    "Watchdog",
    "build_episode_bus",
    "coordinator_id",
    "coordinator_keys",
    "episode_binding",
    "list_injections",
    "load_bus_policy",
    "load_detection_policy",
    "load_network_document",
    "load_network_policy",
    "make_injection",
    "payload_problem",
    "register_injection",
    "site_channel",
]
