"""Mutable world state of one episode.

Plain slotted dataclasses: cheap attribute access on the hot path, deep-copyable for
checkpoints. Every specimen is in exactly one place, named by ``loc_kind`` (zone, device,
agent or consignment) and ``loc_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AgentState",
    "SpecimenState",
    "WorkItem",
    "Run",
    "DeviceState",
    "ResultState",
    "DoorState",
    "Consignment",
    "Token",
]


@dataclass(slots=True)
class AgentState:
    """An agent: its role, where it is (or the edge it is crossing), what it carries."""

    agent_id: str
    role: str | None
    zone: str | None  # None while in transit
    from_zone: str | None = None
    transit_to: str | None = None
    arrive_t: float = 0.0
    carrying: list[str] = field(default_factory=list)
    capacity: int = 0
    # Reagent packs in hand, ``(reagent_id, units)``, fetched from the stores and not yet
    # loaded into an analyzer (at most ``reagent_policy.max_packs_carried``).
    packs: list[tuple[str, int]] = field(default_factory=list)


@dataclass(slots=True)
class SpecimenState:
    """A tube: its order, where it is, what it still needs, and the hidden truth about it."""

    specimen_id: str
    site_id: str
    priority: str
    panels: list[str]
    tube_type: str
    arrival_t: float
    collected_t: float
    status: str  # ARRIVED ACCEPTED HELD REJECTED QUEUED IN_RUN IN_TRANSPORT ANALYZED ALIQUOTED
    loc_kind: str  # zone | device | agent | consignment
    loc_id: str
    needs_centrifuge: bool
    needs_aliquot: bool
    analyzer_type: str
    centrifuged: bool = False
    aliquoted: bool = False
    pending_panels: list[str] = field(default_factory=list)
    parent_id: str | None = None
    hold_reason: str | None = None
    reject_reason: str | None = None
    expires_t: float = float("inf")
    expired: bool = False
    # Hidden truth: what the tube really is. Agents never see it; accessioning checks it.
    hidden: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class WorkItem:
    """One specimen queued on one device, with its priority rank and queue order."""

    work_id: str
    device_id: str
    specimen_id: str
    priority: str
    rank: int
    enqueue_t: float
    seq: int


@dataclass(slots=True)
class Run:
    """A device run: the work items it processes and when it starts and ends."""

    run_id: str
    device_id: str
    work: list[WorkItem]
    start_t: float
    end_t: float


@dataclass(slots=True)
class DeviceState:
    """A device: its state, queue, runs, on-board reagents and stock-out accounting."""

    device_id: str
    device_type: str
    kind: str  # centrifuge | aliquoter | analyzer
    zone: str
    site_id: str
    capacity: int
    batch: bool
    state: str = "IDLE"  # IDLE RUNNING FAULT MAINT
    queue: list[tuple[int, float, int, str]] = field(default_factory=list)  # heap
    work: dict[str, WorkItem] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    reagents: dict[str, int] = field(default_factory=dict)
    qc_failed: bool = False
    qc_drift: bool = False  # hidden until a QC run detects it
    repairing: bool = False
    maint_pending: bool = False
    # Stock-out accounting (a reagent is out when less than one run's worth is on board):
    # reagent -> time it ran out (open interval), reagent -> seconds out (closed intervals),
    # work ids that sat in this device's queue while a reagent they need was out.
    out_since: dict[str, float] = field(default_factory=dict)
    stockout_s: dict[str, float] = field(default_factory=dict)
    held_for_reagent: dict[str, None] = field(default_factory=dict)


@dataclass(slots=True)
class ResultState:
    """A result: its values, QC status, critical-value state and release."""

    result_id: str
    specimen_id: str
    panel: str
    device_id: str
    values: dict[str, float]
    generated_t: float
    arrival_t: float
    priority: str
    status: str  # READY HELD_QC RELEASED SUPERSEDED
    critical: bool
    critical_analytes: list[str]
    crit_state: str = "NONE"  # NONE PENDING NOTIFIED ACKED
    crit_tier: int = 0
    crit_deadline: float = float("inf")
    notified_t: float | None = None
    acked_t: float | None = None
    released_t: float | None = None
    disclaimer: str | None = None
    qc_drift: bool = False  # hidden: generated while the analyzer was drifting
    was_held: bool = False
    ack: dict[str, Any] | None = None


@dataclass(slots=True)
class DoorState:
    """A restricted door between two zones: open or not, since when, alarmed or not."""

    door_id: str
    zones: tuple[str, str]
    kind: str
    max_open_s: float
    token_type: str | None
    open: bool = False
    opened_t: float = 0.0
    alarmed: bool = False


@dataclass(slots=True)
class Consignment:
    """Specimens sent between sites on a route, with their chain of custody."""

    consignment_id: str
    route_id: str
    specimen_ids: list[str]
    dispatched_t: float
    eta: float
    status: str  # IN_TRANSIT ARRIVED RECEIVED
    temp_min: float
    temp_max: float
    custody: list[dict[str, Any]] = field(default_factory=list)
    prior_status: dict[str, str] = field(default_factory=dict)
    received_t: float | None = None


@dataclass(slots=True)
class Token:
    """An approval token: what it permits, for whom, until when, and whether it is spent."""

    token_id: str
    token_type: str
    subject: str
    action_types: list[str]
    ids: list[str]
    zones: list[str]
    approvers: list[str]
    issued_by: str
    issued_t: float
    expires_t: float
    single_use: bool
    used: bool = False
    revoked: bool = False
