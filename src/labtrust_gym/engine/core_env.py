"""The lab engine: the ``hospital_lab`` domain adapter.

``LabEngine`` holds the state of one episode and applies events to it. One call of
:meth:`LabEngine.step` takes one event ``{event_id, t_s, agent_id, action_type, args,
token_refs[, key_id, signature]}`` and returns the runner output contract::

    {"status": "ACCEPTED" | "BLOCKED", "emits": [...], "violations": [...],
     "blocked_reason_code": str | None, "token_consumed": [...],
     "hashchain": {"head_hash", "length", "last_event_hash"}}

Order of a step: first every check that does not need the state at ``t_s`` — the event's
shape (mapping, ``event_id``, finite ``t_s`` not before the clock), the action type,
``args`` and ``token_refs`` shapes, the agent, its role (RBAC), whether it is still in
transit at ``t_s``, its signature and its token references. These read only what no
internal process changes (roles, keys, tokens, the audit head) and stored times (an
agent's arrival time, a token's expiry, both judged at ``t_s``). An event BLOCKED by any
of them leaves the clock where it was: ``now``, the event heap and every internal process
are untouched, so an unknown, unauthorised or unsigned agent cannot move time. Then the
clock advances to ``t_s`` (runs complete, arrivals, escalations, alarms due by then happen
whatever the action) and the action's own rules are checked against the state at
``t_s``; only if they pass is the action applied.

What a BLOCKED step guarantees: it changes nothing the action would have changed. A block
by the action's own rules (a closed door, an empty queue, an unknown specimen...) needs
the state at ``t_s``, so the clock has advanced first, and the engine is then exactly as
after :meth:`tick` to ``t_s``. Leaving the clock literally untouched there would mean
copying the state before every step to undo the advance; and it would protect nothing:
the agent passed every check of who it is and what it may do, and any such agent may move
the clock to ``t_s`` with an accepted TICK (an open action). In the env, events carry the
step's start time, which the previous step's tick already reached, so no env event moves
the clock. Every step is appended to the hash-chained audit log.

Invariants registered for the action type run after an accepted action; CLOCK invariants
run after every step and every :meth:`tick` that advanced the clock. A handler's return
value is checked (:func:`~labtrust_gym.engine.invariants_runtime.check_outcome`).

:meth:`reject` records a BLOCKED step for an action that never became an event (the
env's codec rejected it: not an index, args that are not JSON...); it changes nothing.

Timing: ``explicit`` uses each device type's nominal service time and injects faults only
from the initial state's schedule; ``simulated`` draws service times, transport jitter,
random faults (MTBF) and runs maintenance windows, all from the episode seed.
"""

from __future__ import annotations

import copy
import heapq
import math
from collections.abc import Callable
from typing import Any

import orjson

from labtrust_gym.engine.actions_devices import DeviceActions
from labtrust_gym.engine.actions_results import ResultActions
from labtrust_gym.engine.actions_specimens import SpecimenActions
from labtrust_gym.engine.actions_transport import TransportActions
from labtrust_gym.engine.actions_trust import TrustActions
from labtrust_gym.engine.actions_zones import ZoneActions
from labtrust_gym.engine.audit_log import AuditLog
from labtrust_gym.engine.base import Blocked
from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.engine.invariants_runtime import check_outcome, compile_invariants
from labtrust_gym.engine.pickling import register_policy_pickling
from labtrust_gym.engine.signatures import KeyRegistry
from labtrust_gym.engine.state import (
    AgentState,
    Consignment,
    DeviceState,
    DoorState,
    ResultState,
    SpecimenState,
    Token,
)
from labtrust_gym.engine.world import CompiledWorld, compile_world, edge_key
from labtrust_gym.errors import ConfigError
from labtrust_gym.policy.loader import PolicyBundle, load_policy
from labtrust_gym.rng import stream

__all__ = ["LabEngine", "TIMING_MODES", "CUSTODY_ACTIONS"]

TIMING_MODES = ("explicit", "simulated")
#: Chain-of-custody actions are always signed, strict mode or not.
CUSTODY_ACTIONS = frozenset({"DISPATCH_TRANSPORT", "RECEIVE_TRANSPORT"})
_STATE_FIELDS = (
    "now",
    "_seq",
    "_heap",
    "agents",
    "specimens",
    "devices",
    "results",
    "doors",
    "consignments",
    "tokens",
    "frozen_zones",
    "edge_load",
    "downtime",
    "forensic_frozen",
    "work_ids",
    "inventory",
    "_first_step_done",
    "_counters",
    "timing_mode",
    "strict_signatures",
    "specimen_defaults",
)
#: State fields that are flat dicts of immutable keys and values: copied with ``dict()``.
_FLAT_FIELDS = frozenset({"edge_load"})
_RNG_NAMES = ("values", "service", "faults", "transport", "misc")
register_policy_pickling()  # engines hold frozen policy mappings; see engine/pickling.py


class LabEngine(
    ZoneActions, SpecimenActions, DeviceActions, ResultActions, TransportActions, TrustActions
):
    """A pathology lab under a trust skeleton; see the module docstring for the contract."""

    domain_id = "hospital_lab"

    def __init__(
        self,
        policy: PolicyBundle | None = None,
        *,
        policy_root: Any = None,
        partner_id: str | None = None,
    ) -> None:
        self.policy = (
            policy if policy is not None else load_policy(policy_root, partner_id=partner_id)
        )
        self._bind()
        self.initial_state: dict[str, Any] = {}
        self.reset({}, seed=0)

    def _bind(self) -> None:
        """The dispatch tables of action and internal-event handlers (bound methods)."""
        self._handlers: dict[str, Callable[..., None]] = {
            "NOOP": self._act_noop,
            "TICK": self._act_noop,
            "MOVE": self._act_move,
            "OPEN_DOOR": self._act_open_door,
            "CLOSE_DOOR": self._act_close_door,
            "ACCESSION": self._act_accession,
            "RESOLVE_HOLD": self._act_resolve_hold,
            "PICK_UP": self._act_pick_up,
            "DROP_OFF": self._act_drop_off,
            "QUEUE_RUN": self._act_queue_run,
            "START_RUN": self._act_start_run,
            "REQUEST_RERUN": self._act_request_rerun,
            "RELEASE_RESULT": self._act_release_result,
            "RUN_QC": self._act_run_qc,
            "CALIBRATE": self._act_calibrate,
            "REPAIR_DEVICE": self._act_repair_device,
            "RESTOCK_REAGENT": self._act_restock_reagent,
            "NOTIFY_CRITICAL": self._act_notify_critical,
            "ACK_CRITICAL": self._act_ack_critical,
            "SET_DOWNTIME": self._act_set_downtime,
            "DISPATCH_TRANSPORT": self._act_dispatch_transport,
            "RECEIVE_TRANSPORT": self._act_receive_transport,
            "ISSUE_TOKEN": self._act_issue_token,
            "REVOKE_TOKEN": self._act_revoke_token,
            "REVOKE_KEY": self._act_revoke_key,
            "CLEAR_FREEZE": self._act_clear_freeze,
            "VERIFY_AUDIT": self._act_verify_audit,
        }
        self._internal: dict[str, Callable[..., None]] = {
            "ARRIVAL": self._on_arrival,
            "AGENT_ARRIVE": self._on_agent_arrive,
            "RUN_COMPLETE": self._on_run_complete,
            "DOOR_CHECK": self._on_door_check,
            "ESCALATE": self._on_escalate,
            "TRANSPORT_ARRIVE": self._on_transport_arrive,
            "SPECIMEN_EXPIRY": self._on_specimen_expiry,
            "REPAIR_DONE": self._on_repair_done,
            "DEVICE_FAULT": self._on_device_fault,
            "QC_DRIFT": self._on_qc_drift,
            "MAINT_START": self._on_maint_start,
            "MAINT_END": self._on_maint_end,
            "DOWNTIME_START": self._on_downtime_start,
            "DOWNTIME_END": self._on_downtime_end,
            "REAGENT_DRAIN": self._on_reagent_drain,
            "TEMP_SHOCK": self._on_temp_shock,
        }

    def __getstate__(self) -> dict[str, Any]:
        # Bound-method tables and compiled invariants are rebuilt on unpickling (the
        # handlers by their registry key), so that pickle, cloudpickle and deepcopy work.
        state = self.__dict__.copy()
        for name in ("_handlers", "_internal", "_inv", "_inv_clock"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind()
        self._inv = compile_invariants(self.world.invariants)
        self._inv_clock = self._inv.get("CLOCK", ())

    # ------------------------------------------------------------------------- reset ---
    def reset(self, initial_state: dict[str, Any] | None = None, seed: int = 0) -> dict[str, Any]:
        """Start a new episode from ``initial_state`` (see docs/engine.md) and ``seed``."""
        # A private copy: the caller may reuse or change its dict after reset.
        init = _private_copy(initial_state or {})
        self.initial_state = init
        self.world: CompiledWorld = compile_world(self.policy, init.get("effective_policy"))
        w = self.world
        self._inv = compile_invariants(w.invariants)
        self._inv_clock = self._inv.get("CLOCK", ())
        self.seed = int(seed)
        self.rng = {n: stream(self.seed, n) for n in _RNG_NAMES}
        mode = init.get("timing_mode", "explicit")
        if mode not in TIMING_MODES:
            raise ConfigError(f"initial_state.timing_mode={mode!r}; use one of {TIMING_MODES}")
        self.timing_mode = mode
        self.strict_signatures = bool(init.get("strict_signatures", False))
        self.specimen_defaults = dict(init.get("specimen_defaults", {}))
        self.now = 0.0
        self._seq = 0
        self._heap: list[tuple[float, int, str, tuple[Any, ...]]] = []
        self._counters: dict[str, int] = {"run": 0, "work": 0}
        self.frozen_zones: set[str] = set()
        # sorted zone pair -> agents in transit on that edge (no entry when none).
        self.edge_load: dict[tuple[str, str], int] = {}
        self.downtime = bool(init.get("downtime", False))
        self.forensic_frozen = False
        self.work_ids: set[str] = set()
        self._first_step_done = False
        self.audit = AuditLog()
        self.keys = KeyRegistry(init.get("keys"))
        self.step_ctx: dict[str, Any] = {}
        self._emits: list[str] = []
        self._to_consume: list[str] = []
        self._clocked = False

        # Agents: from the initial state, else the policy's agents at their home zones.
        self.agents: dict[str, AgentState] = {}
        for a in init.get("agents") or w.policy_agents:
            aid = a["agent_id"]
            role = a.get("role")
            if role is not None and role not in w.roles:
                raise ConfigError(
                    f"agent {aid}: role {role!r} is not in rbac_policy.roles "
                    f"(known: {', '.join(sorted(w.roles))})"
                )
            zone = a.get("zone") or a.get("home_zone")
            if zone not in w.zones:
                raise ConfigError(f"agent {aid}: zone {zone!r} is not a zone of the layout")
            cap = w.roles[role].carry_capacity if role else 0
            self.agents[aid] = AgentState(aid, role, zone, capacity=cap)

        self.devices: dict[str, DeviceState] = {}
        dev_over = init.get("devices", {})
        for did, d in w.devices.items():
            dt = w.device_types[d["device_type"]]
            reagents = {
                rid: int(r["initial_onboard"])
                for rid, r in w.reagents.items()
                if r["analyzer_type"] == d["device_type"]
            }
            dev = DeviceState(
                did,
                d["device_type"],
                dt["kind"],
                d["zone"],
                d["site_id"],
                int(dt["capacity"]),
                bool(dt["batch"]),
                reagents=reagents,
            )
            over = dev_over.get(did, {})
            dev.reagents.update({k: int(v) for k, v in over.get("reagents", {}).items()})
            if over.get("state") in ("FAULT", "MAINT"):
                dev.state = over["state"]
            dev.qc_drift = bool(over.get("qc_drift", False))
            dev.qc_failed = bool(over.get("qc_failed", False))
            self.devices[did] = dev
        unknown = set(dev_over) - set(self.devices)
        if unknown:
            raise ConfigError(f"initial_state.devices names unknown device(s) {sorted(unknown)}")

        self.doors = {
            did: DoorState(
                did,
                (d["zones"][0], d["zones"][1]),
                d["kind"],
                float(d["max_open_s"]),
                d.get("token_type"),
            )
            for did, d in w.doors.items()
        }
        self.inventory = {s: dict(v) for s, v in w.stores_inventory.items()}
        self.specimens: dict[str, SpecimenState] = {}
        self.results: dict[str, ResultState] = {}
        self.consignments: dict[str, Consignment] = {}
        self.tokens: dict[str, Token] = {}

        for spec in init.get("specimens", []):
            self._add_specimen(spec, None, emit=False)
        seen = set(self.specimens)
        for item in init.get("arrival_schedule", []):
            if not isinstance(item, dict) or not isinstance(item.get("t_s"), (int, float)):
                raise ConfigError(f"arrival_schedule entry {item!r} needs t_s and specimen")
            sid = self._validate_spec(item.get("specimen"))[0]
            if sid in seen:
                raise ConfigError(
                    f"specimen {sid} appears twice in the initial state / arrival_schedule; "
                    "ids must be unique"
                )
            seen.add(sid)
            self._schedule(float(item["t_s"]), "ARRIVAL", (item["specimen"],))
        for item in init.get("schedule", []):
            kind = item.get("kind")
            if kind not in self._internal or kind in (
                "ARRIVAL",
                "AGENT_ARRIVE",
                "RUN_COMPLETE",
                "DOOR_CHECK",
                "ESCALATE",
                "TRANSPORT_ARRIVE",
                "SPECIMEN_EXPIRY",
                "REPAIR_DONE",
            ):
                raise ConfigError(
                    f"initial_state.schedule kind {kind!r} is not schedulable; use one of "
                    "DEVICE_FAULT, QC_DRIFT, MAINT_START, MAINT_END, DOWNTIME_START, "
                    "DOWNTIME_END, REAGENT_DRAIN, TEMP_SHOCK"
                )
            self._schedule(float(item["t_s"]), kind, (dict(item),))
        if self.timing_mode == "simulated":
            self._schedule_simulated_world()
        return self.query("summary")

    def _schedule_simulated_world(self) -> None:
        frng = self.rng["faults"]
        for did in sorted(self.devices):
            mtbf = float(self.world.device_types[self.devices[did].device_type].get("mtbf_s", 0))
            if mtbf > 0:
                self._schedule(
                    float(frng.exponential(mtbf)),
                    "DEVICE_FAULT",
                    ({"device_id": did, "random": True},),
                )
        for mw in self.world.maintenance_windows:
            if mw["device_id"] in self.devices:
                self._schedule(float(mw["start_s"]), "MAINT_START", (dict(mw),))
                self._schedule(float(mw["start_s"] + mw["duration_s"]), "MAINT_END", (dict(mw),))

    # -------------------------------------------------------------------------- step ---
    def step(self, event: Any) -> dict[str, Any]:
        """Apply one event; never raises for bad input (see the module docstring)."""
        emits: list[str] = []
        ctx: dict[str, Any] = {}
        self._emits = emits
        self.step_ctx = ctx
        self._to_consume = []
        reason: str | None = None
        violations: list[dict[str, Any]] = []
        try:
            ev_bytes = canonical_json(event)
        except (TypeError, ValueError):
            ev_bytes = canonical_json({"unserializable_event": type(event).__name__})
            reason = "EVENT_MALFORMED"
        action = None
        self._clocked = False
        if reason is None:
            try:
                action = self._check_and_apply(event)
            except Blocked as b:
                reason = b.code
        consumed: list[str] = []
        codes = self.world.reason_codes
        if reason is None and action is not None:
            for tid in self._to_consume:
                tok = self.tokens[tid]
                if tok.single_use:  # a multi-use token is relied on, not consumed
                    tok.used = True
                    consumed.append(tid)
                    emits.append("TOKEN_CONSUMED")
            self._run_invariants(self._inv.get(action, ()), event, codes, violations)
        if self._clocked and self._inv_clock:
            self._run_invariants(self._inv_clock, event, codes, violations)
        return self._record(ev_bytes, reason, emits, violations, consumed)

    def reject(self, event: dict[str, Any], code: str) -> dict[str, Any]:
        """Record a BLOCKED step for an action that never became a valid event.

        ``event`` is a JSON-safe stub naming the step (``event_id``, ``t_s``,
        ``agent_id``) and describing the rejected input; ``code`` a registered reason
        code (the env's codec uses the ``ACTION_*`` codes). Nothing else happens: no
        state changes, the clock does not move, no invariant runs. Returns the step
        result, like :meth:`step`. An unregistered ``code`` raises ``ValueError`` (a bug
        of the caller)."""
        if code not in self.world.reason_codes:
            raise ValueError(f"LabEngine.reject: reason code {code!r} is not registered")
        self._emits = []
        self.step_ctx = {}
        self._to_consume = []
        try:
            ev_bytes = canonical_json(event)
        except (TypeError, ValueError):
            ev_bytes = canonical_json({"unserializable_event": type(event).__name__})
        return self._record(ev_bytes, code, [], [], [])

    def _record(
        self,
        ev_bytes: bytes,
        reason: str | None,
        emits: list[str],
        violations: list[dict[str, Any]],
        consumed: list[str],
    ) -> dict[str, Any]:
        """Append the step's audit record and return its step result."""
        status = "ACCEPTED" if reason is None else "BLOCKED"
        if reason is not None and reason not in self.world.reason_codes:
            raise RuntimeError(f"engine bug: unregistered reason code {reason}")
        outcome = {
            "status": status,
            "blocked_reason_code": reason,
            "emits": emits,
            "violations": [v["invariant_id"] for v in violations],
            "token_consumed": consumed,
        }
        self._seq += 1
        blob = (
            b'{"event":'
            + ev_bytes
            + b',"outcome":'
            + canonical_json(outcome)
            + b',"seq":'
            + str(self._seq).encode()
            + b',"t_s":'
            + canonical_json(self.now)
            + b"}"
        )
        self.audit.append_bytes(blob)
        return {
            "status": status,
            "emits": emits,
            "violations": violations,
            "blocked_reason_code": reason,
            "token_consumed": list(consumed),
            "hashchain": self.audit.summary(),
        }

    def tick(self, t_s: float) -> dict[str, Any]:
        """Advance the clock to ``t_s`` with no agent action (the env's end of step).

        Internal processes due by ``t_s`` run and, if the clock advanced, CLOCK invariants
        are evaluated; one audit record ``{"clock": t_s, ...}`` is appended when an
        internal process ran or an invariant failed, so idle time costs nothing. Returns
        a step-result-shaped dict (status ACCEPTED).
        """
        emits: list[str] = []
        ctx: dict[str, Any] = {}
        self._emits = emits
        self.step_ctx = ctx
        t = float(t_s)
        if self.forensic_frozen or not math.isfinite(t) or t < self.now:
            return {
                "status": "ACCEPTED",
                "emits": [],
                "violations": [],
                "blocked_reason_code": None,
                "token_consumed": [],
                "hashchain": self.audit.summary(),
            }
        ran = bool(self._heap) and self._heap[0][0] <= t
        advanced = self._advance(t)
        if not self._first_step_done:
            self._first_step_done = True
            if self.initial_state.get("_scale_config_sanitized") is not None:
                emits.append("COORD_SCALE_CONFIG")
                ran = True
        violations: list[dict[str, Any]] = []
        if advanced and self._inv_clock:
            self._run_invariants(
                self._inv_clock,
                {"action_type": "CLOCK", "t_s": t},
                self.world.reason_codes,
                violations,
            )
        if ran or violations:
            outcome = {"emits": emits, "violations": [v["invariant_id"] for v in violations]}
            self._seq += 1
            blob = (
                b'{"clock":'
                + canonical_json(t)
                + b',"outcome":'
                + canonical_json(outcome)
                + b',"seq":'
                + str(self._seq).encode()
                + b"}"
            )
            self.audit.append_bytes(blob)
        return {
            "status": "ACCEPTED",
            "emits": emits,
            "violations": violations,
            "blocked_reason_code": None,
            "token_consumed": [],
            "hashchain": self.audit.summary(),
        }

    def step_batch(self, events: list[Any]) -> list[dict[str, Any]]:
        """Exactly ``[self.step(e) for e in events]``."""
        return [self.step(e) for e in events]

    def _run_invariants(
        self,
        invs: tuple[Any, ...],
        event: Any,
        codes: frozenset[str],
        violations: list[dict[str, Any]],
    ) -> None:
        """Evaluate ``invs`` on this step; append their violations (return values checked:
        :func:`~labtrust_gym.engine.invariants_runtime.check_outcome`)."""
        for inv in invs:
            out = inv.handler(self, event, inv.params)
            if out is not None:
                bad = check_outcome(inv, out, codes)
                if bad is not None:
                    violations.append(self._violation(inv, bad))

    def _violation(self, inv: Any, out: tuple[Any, ...]) -> dict[str, Any]:
        return {
            "invariant_id": inv.invariant_id,
            "severity": inv.severity,
            "reason_code": out[1] or inv.reason_code,
            "details": out[2] or {},
        }

    def _check_and_apply(self, event: Any) -> str:
        if not isinstance(event, dict):
            raise Blocked("EVENT_MALFORMED")
        if self.forensic_frozen:
            raise Blocked("AUDIT_FORENSIC_FREEZE")
        t: Any = event.get("t_s")
        if (
            type(t) not in (int, float)
            or not math.isfinite(t)
            or not isinstance(event.get("event_id"), str)
        ):
            raise Blocked("EVENT_MALFORMED")
        if t < self.now:
            raise Blocked("EVENT_TIME_REGRESSION")
        # Every check that does not depend on the state at t comes before the clock moves:
        # an event blocked here leaves now, the heap and every process untouched.
        action = event.get("action_type")
        if not isinstance(action, str):
            raise Blocked("EVENT_MALFORMED")
        handler = self._handlers.get(action)
        if handler is None:
            raise Blocked("ARGS_UNKNOWN_ACTION")
        args = event.get("args")
        if args is None:
            args = {}
        elif not isinstance(args, dict):
            raise Blocked("ARGS_INVALID")
        refs = event.get("token_refs")
        if refs is None:
            refs = ()
        elif not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise Blocked("ARGS_INVALID")
        aid = event.get("agent_id")
        agent = self.agents.get(aid) if isinstance(aid, str) else None
        if agent is None:
            raise Blocked("AGENT_UNKNOWN")
        if action in self.world.open_actions:
            self._clock(t)
            return action
        role = agent.role
        if role is None:
            raise Blocked("RBAC_NO_ROLE")
        if action not in self.world.roles[role].actions:
            raise Blocked("RBAC_ACTION_DENIED")
        # In transit at t: its arrival (the only way out of transit) is due after t.
        if agent.zone is None and agent.arrive_t > t:
            raise Blocked("AGENT_IN_TRANSIT")
        # Keys and the audit head change only through actions, never through the clock.
        if (
            event.get("signature") is not None
            or event.get("key_id") is not None
            or (self.strict_signatures and action != "VERIFY_AUDIT")
        ):
            code = self.keys.verify(event, self.world.fingerprint, self.audit.head_hash)
            if code is not None:
                if code == "SIG_MISSING" and action in CUSTODY_ACTIONS:
                    code = "TRANSPORT_CUSTODY_UNSIGNED"
                raise Blocked(code)
            ctx_signed = True
        else:
            if action in CUSTODY_ACTIONS:
                raise Blocked("TRANSPORT_CUSTODY_UNSIGNED")
            ctx_signed = False
        self.step_ctx["signed"] = ctx_signed
        if refs:
            # Tokens change only through actions; their expiry is judged at t.
            self._check_token_refs(refs, agent, action, float(t))
        self._clock(t)
        if agent.zone is None:  # cannot happen (arrivals due by t ran); kept as a guard
            raise Blocked("AGENT_IN_TRANSIT")
        handler(agent, args, event)
        return action

    # ------------------------------------------------------------------------- clock ---
    def _clock(self, t: float) -> None:
        """Advance the clock to ``t`` for the current step (records whether it moved)."""
        if t > self.now or (self._heap and self._heap[0][0] <= t):
            self._clocked = self._advance(float(t))
        if not self._first_step_done:
            self._first_step_done = True
            if self.initial_state.get("_scale_config_sanitized") is not None:
                self._emits.append("COORD_SCALE_CONFIG")

    def _schedule(self, t: float, kind: str, data: tuple[Any, ...]) -> None:
        self._counters["sched"] = n = self._counters.get("sched", 0) + 1
        heapq.heappush(self._heap, (t, n, kind, data))

    def _advance(self, t: float) -> bool:
        heap = self._heap
        ran = False
        while heap and heap[0][0] <= t:
            et, _, kind, data = heapq.heappop(heap)
            if et > self.now:
                self.now = et
            self._internal[kind](*data)
            ran = True
        advanced = t > self.now or ran
        self.now = t
        return advanced

    # ----------------------------------------------------------------------- helpers ---
    def _emit(self, emit: str) -> None:
        if emit not in self.world.emits:
            raise RuntimeError(f"engine bug: emit {emit} is not in the emits vocabulary")
        self._emits.append(emit)

    def _touch(self, key: str, value: Any) -> None:
        lst = self.step_ctx.get(key)
        if lst is None:
            self.step_ctx[key] = [value]
        else:
            lst.append(value)

    def _act_noop(self, agent: AgentState, args: dict[str, Any], event: dict[str, Any]) -> None:
        return None

    # ------------------------------------------------------------------------- query ---
    def query(self, kind: str, ident: str | None = None, **filters: Any) -> Any:
        """Read state without changing it. Returns plain, JSON-ready copies.

        ``kind``: summary, now, agent, agents, specimen, specimens, device, devices, queue,
        result, results, token, tokens, door, doors, consignment, zone, edges (``ident``: a
        zone, to keep only its edges), frozen_zones, inventory, key, audit.
        """
        from labtrust_gym.engine.query import run_query

        return run_query(self, kind, ident, **filters)

    def verify_audit(self) -> tuple[bool, int | None]:
        """Recompute the whole hash chain; a break engages the forensic freeze."""
        ok, bad = self.audit.verify()
        if not ok:
            self.forensic_frozen = True
        return ok, bad

    # ------------------------------------------------------------------- checkpoints ---
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume this episode exactly (deep copy)."""
        state: dict[str, Any] = {}
        for name in _STATE_FIELDS:
            value = getattr(self, name)
            state[name] = dict(value) if name in _FLAT_FIELDS else copy.deepcopy(value)
        state["rng"] = {n: g.bit_generator.state for n, g in self.rng.items()}
        state["audit"] = self.audit.state_dict()
        state["keys"] = self.keys.state_dict()
        state["seed"] = self.seed
        state["initial_state"] = copy.deepcopy(self.initial_state)
        state["policy_fingerprint"] = self.policy.fingerprint
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("policy_fingerprint") != self.policy.fingerprint:
            raise ConfigError(
                "checkpoint was taken under another policy (fingerprint differs); "
                "load it into an engine built from the same policy"
            )
        init = copy.deepcopy(state["initial_state"])
        self.reset(init, state["seed"])
        for name in _STATE_FIELDS:
            if name in _FLAT_FIELDS:
                if name in state:  # immutable keys and values: a dict copy is a deep copy
                    setattr(self, name, dict(state[name]))
                continue
            setattr(self, name, copy.deepcopy(state[name]))
        if "edge_load" not in state:
            # A checkpoint from before corridor capacities: count the agents in transit.
            self.edge_load = {}
            for a in self.agents.values():
                if a.transit_to is not None and a.from_zone is not None:
                    key = edge_key(a.from_zone, a.transit_to)
                    self.edge_load[key] = self.edge_load.get(key, 0) + 1
        for n, st in state["rng"].items():
            self.rng[n].bit_generator.state = st
        self.audit.load_state_dict(state["audit"])
        self.keys.load_state_dict(state["keys"])

    # ---------------------------------------------------------------------- internal ---
    def _on_downtime_start(self, item: dict[str, Any]) -> None:
        if not self.downtime:
            self.downtime = True
            self._emit("DOWNTIME_STARTED")

    def _on_downtime_end(self, item: dict[str, Any]) -> None:
        if self.downtime:
            self.downtime = False
            self._emit("DOWNTIME_ENDED")


def _private_copy(state: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of an initial state (JSON round trip when possible: much faster)."""
    try:
        out: dict[str, Any] = orjson.loads(canonical_json(state))
        return out
    except (TypeError, ValueError):
        return copy.deepcopy(state)
