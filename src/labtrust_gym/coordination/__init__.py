"""The coordination layer: the network model between agents, the signed message bus on
top of it, and the risk-injection registry of ``coord_risk``."""

from labtrust_gym.coordination.bus import (
    BusPolicy,
    Envelope,
    Message,
    SignedMessageBus,
    load_bus_policy,
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

__all__ = [
    "BusPolicy",
    "Envelope",
    "InjectionContext",
    "Message",
    "NetworkModel",
    "NetworkPolicy",
    "RiskInjection",
    "SignedMessageBus",
    "list_injections",
    "load_bus_policy",
    "load_network_document",
    "load_network_policy",
    "make_injection",
    "register_injection",
]
