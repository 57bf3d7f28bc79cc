"""Property test: ``step`` never raises, honours its contract, and a BLOCKED step is pure.

Thousands of random events (seeded ``numpy`` generators) are thrown at engines in several
states (fresh, mid-episode with runs and a consignment in flight, end of episode in strict
signature mode). The events mix plausible actions with garbage: unknown agents and action
types, arguments of every JSON type (None, lists, nested dicts, huge ints, NaN), real and
bogus ids, valid and broken signatures, and events that are not mappings at all.

For every step: no exception; the contract keys; status ACCEPTED or BLOCKED; a registered
reason code; emits from the vocabulary; violations are real failures. For every BLOCKED
step that could not move the clock (``t_s`` equal to ``engine.now`` with nothing due, or
an unusable ``t_s``), and every step blocked by a check that does not depend on the time
(``PRE_CLOCK_ONLY``: those run before the clock moves): the world state is unchanged, the
clock included. A BLOCKED step that did move the clock leaves the world exactly as a NOOP
at that time would.
"""

from __future__ import annotations

import copy
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _scenario import KEY_AGENTS, initial_state, key_id_of, run_scenario, signing_key, world_state

from labtrust_gym.config import get_policy_dir
from labtrust_gym.engine import LabEngine
from labtrust_gym.engine.action_types import ACTION_TYPES
from labtrust_gym.engine.actions_results import critical_readback
from labtrust_gym.engine.base import Blocked
from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.engine.core_env import _STATE_FIELDS
from labtrust_gym.engine.signatures import sign_event
from labtrust_gym.errors import ConfigError
from labtrust_gym.policy.loader import POLICY_FILES, load_yaml

CONTRACT_KEYS = {
    "status",
    "emits",
    "violations",
    "blocked_reason_code",
    "token_consumed",
    "hashchain",
}


def _policy_doc(name: str) -> Any:
    return load_yaml(Path(get_policy_dir()) / POLICY_FILES[name])


REASON_CODES = frozenset(r["code"] for r in _policy_doc("reason_code_registry")["reason_codes"])
EMITS = frozenset(_policy_doc("emits_vocab")["emits"])
INVARIANTS = {i["invariant_id"]: i for i in _policy_doc("invariant_registry")["invariants"]}
NOROLE = "A_VISITOR_NOROLE"
#: Codes only the checks before the clock give (shape, agent, RBAC, transit, signature,
#: token references): a step blocked with one of them leaves even the clock untouched.
PRE_CLOCK_ONLY = frozenset(
    {
        "EVENT_MALFORMED",
        "EVENT_TIME_REGRESSION",
        "AUDIT_FORENSIC_FREEZE",
        "ARGS_UNKNOWN_ACTION",
        "RBAC_NO_ROLE",
        "RBAC_ACTION_DENIED",
        "AGENT_IN_TRANSIT",
        "SIG_MISSING",
        "SIG_INVALID",
        "SIG_KEY_REVOKED",
        "SIG_KEY_AGENT_MISMATCH",
        "TRANSPORT_CUSTODY_UNSIGNED",
        "TOKEN_EXPIRED",
        "TOKEN_ALREADY_USED",
        "TOKEN_SUBJECT_MISMATCH",
    }
)

ARG_SCHEMA: dict[str, dict[str, str]] = {
    "NOOP": {},
    "TICK": {},
    "VERIFY_AUDIT": {},
    "MOVE": {"to_zone": "zone"},
    "OPEN_DOOR": {"door_id": "door"},
    "CLOSE_DOOR": {"door_id": "door"},
    "ACCESSION": {"specimen_id": "specimen"},
    "RESOLVE_HOLD": {"specimen_id": "specimen", "decision": "decision"},
    "PICK_UP": {"specimen_id": "specimen"},
    "DROP_OFF": {"specimen_id": "specimen"},
    "QUEUE_RUN": {
        "device_id": "device",
        "specimen_id": "specimen",
        "work_id?": "work",
        "priority?": "priority",
    },
    "START_RUN": {"device_id": "device", "work_id?": "work"},
    "REQUEST_RERUN": {"result_id": "result"},
    "RELEASE_RESULT": {"result_id": "result"},
    "RUN_QC": {"device_id": "device"},
    "CALIBRATE": {"device_id": "device"},
    "REPAIR_DEVICE": {"device_id": "device"},
    "RESTOCK_REAGENT": {"device_id": "device", "reagent_id": "reagent"},
    "NOTIFY_CRITICAL": {"result_id": "result", "channel": "channel", "tier?": "tier"},
    "ACK_CRITICAL": {
        "result_id": "result",
        "receiver_name": "name",
        "receiver_role": "recipient_role",
        "read_back": "readback",
    },
    "SET_DOWNTIME": {"active": "bool"},
    "DISPATCH_TRANSPORT": {
        "consignment_id": "new_consignment",
        "route_id": "route",
        "specimen_ids": "specimen_list",
    },
    "RECEIVE_TRANSPORT": {"consignment_id": "consignment"},
    "ISSUE_TOKEN": {
        "token_id": "new_token",
        "token_type": "token_type",
        "subject_agent_id": "agent",
        "approvers": "agent_list",
        "scope?": "scope",
    },
    "REVOKE_TOKEN": {"token_id": "token"},
    "REVOKE_KEY": {"key_id": "key"},
    "CLEAR_FREEZE": {"zone_id": "zone"},
}
assert set(ARG_SCHEMA) == set(ACTION_TYPES)

BOGUS_STRINGS = [
    "",
    " ",
    "X",
    "DEV_CHEM_9999",
    "Z_NOWHERE",
    "S1 ",
    "s1",
    "R-",
    "../etc",
    "\x00",
    "\U0001f9ea",
    "A" * 300,
    "NOOP",
    "None",
    "__class__",
    "ROLE_SUPERVISOR",
]
WEIRD_VALUES: list[Any] = [
    None,
    0,
    -1,
    1,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    10**18,
    3.5,
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    True,
    False,
    [],
    {},
    [1, "a", None],
    ["S1", "S1"],
    {"a": {"b": [1, {"c": None}]}},
    {"action_types": ["NOOP"], "ids": 5},
    "",
    " ",
]
NOT_EVENTS: list[Any] = [
    None,
    [],
    [{"event_id": "e"}],
    "MOVE",
    42,
    3.14,
    True,
    ("a", 1),
    b"bytes",
    {"a", "b"},
    object(),
    float("nan"),
]


class Fuzzer:
    def __init__(self, engine: LabEngine, seed: int, *, p_sign: float) -> None:
        self.e = engine
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.p_sign = p_sign
        self.n = 0

    def pick(self, seq: Any) -> Any:
        seq = list(seq)
        return seq[int(self.rng.integers(len(seq)))] if seq else None

    def coin(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    # -- values --------------------------------------------------------------------------
    def ids(self, kind: str) -> list[Any]:
        e, w = self.e, self.e.world
        if kind == "zone":
            return sorted(w.zones)
        if kind == "door":
            return sorted(e.doors)
        if kind == "specimen":
            return sorted(e.specimens)
        if kind == "device":
            return sorted(e.devices)
        if kind == "work":
            return sorted(e.work_ids) + sorted(k for d in e.devices.values() for k in d.work)
        if kind == "priority":
            return sorted(w.priorities)
        if kind == "result":
            return sorted(e.results)
        if kind == "reagent":
            return sorted(w.reagents)
        if kind == "channel":
            return list(w.ladder["channels"])
        if kind == "tier":
            return [1, 2, 3, 4, 0]
        if kind == "name":
            return ["Dr Example", "Nurse Jones"]
        if kind == "recipient_role":
            return [t["recipient_role"] for t in w.ladder["tiers"]]
        if kind == "readback":
            out = ["K 6.9", "HB 60"]
            for r in e.results.values():
                if r.critical:
                    out.append(critical_readback(r.values, r.critical_analytes))
            return out
        if kind == "bool":
            return [True, False]
        if kind == "decision":
            return ["ACCEPT", "REJECT"]
        if kind == "route":
            return sorted(w.routes)
        if kind in ("consignment", "new_consignment"):
            return sorted(e.consignments) + [f"CF{self.n}"]
        if kind == "specimen_list":
            specs = sorted(e.specimens)
            k = int(self.rng.integers(1, 4))
            return [[self.pick(specs) for _ in range(k)]]
        if kind == "token" or kind == "new_token":
            return sorted(e.tokens) + [f"TF{self.n}"]
        if kind == "token_type":
            return sorted(w.token_types)
        if kind == "agent":
            return sorted(e.agents)
        if kind == "agent_list":
            agents = sorted(e.agents)
            return [[self.pick(agents) for _ in range(int(self.rng.integers(0, 3)))]]
        if kind == "scope":
            return [
                {},
                {"ids": [self.pick(sorted(e.specimens) or ["S1"])]},
                {"zones": ["Z_BIOBANK"]},
                {"action_types": ["RELEASE_RESULT"]},
            ]
        if kind == "key":
            return [key_id_of(a) for a in KEY_AGENTS] + ["K_NOPE"]
        raise AssertionError(kind)

    def local_ids(self, kind: str, agent: Any) -> list[str]:
        """Ids near the acting agent (its zone, its hands): more events get accepted."""
        e = self.e
        a = e.agents.get(agent) if isinstance(agent, str) else None
        if a is None or a.zone is None:
            return []
        if kind == "zone":
            return sorted(e.world.adjacency[a.zone])
        if kind == "specimen":
            return sorted(
                sid
                for sid, s in e.specimens.items()
                if (s.loc_kind, s.loc_id) in (("zone", a.zone), ("agent", agent))
            )
        if kind == "device":
            return sorted(did for did, d in e.devices.items() if d.zone == a.zone)
        if kind == "door":
            return sorted(did for did, d in e.doors.items() if a.zone in d.zones)
        if kind == "specimen_list":
            return [sorted(a.carrying)] if a.carrying else []
        return []

    def weird(self) -> Any:
        if self.coin(0.5):
            return self.pick(BOGUS_STRINGS)
        v = copy.deepcopy(self.pick(WEIRD_VALUES))  # fresh: accepted events get scrambled
        return [v, copy.deepcopy(v)] if self.coin(0.1) else v

    def args_for(self, action: Any, agent: Any) -> Any:
        if self.coin(0.04):
            return self.pick([None, [], "args", 7, [{"to_zone": "Z_CORRIDOR"}], 2.5])
        schema = ARG_SCHEMA.get(action, {}) if isinstance(action, str) else {}
        if not schema or self.coin(0.05):
            schema = ARG_SCHEMA[self.pick(sorted(ARG_SCHEMA))]  # another action's args
        args: dict[Any, Any] = {}
        for name, kind in schema.items():
            optional = name.endswith("?")
            name = name.rstrip("?")
            if optional and self.coin(0.7):
                continue
            if self.coin(0.06):
                continue  # missing
            if self.coin(0.1):
                args[name] = self.weird()
            else:
                local = self.local_ids(kind, agent) if self.coin(0.7) else []
                args[name] = self.pick(local or self.ids(kind))
        if self.coin(0.08):
            args[self.pick(["junk", "signature", "t_s", "agent_id", "nested"])] = self.weird()
        if self.coin(0.01):
            args[7] = "int key"
        return args

    # -- events --------------------------------------------------------------------------
    def event(self) -> Any:
        self.n += 1
        e = self.e
        if self.coin(0.03):
            return copy.deepcopy(self.pick(NOT_EVENTS))
        agents = sorted(e.agents)
        agent: Any = self.pick(agents)
        if self.coin(0.08):
            agent = self.pick([NOROLE, "A_GHOST", None, 12, ["A_RUNNER_01"], "", "a_runner_01"])
        role = e.agents[agent].role if isinstance(agent, str) and agent in e.agents else None
        if role is not None and self.coin(0.8):
            action: Any = self.pick(sorted(e.world.roles[role].actions))
        else:
            action = self.pick(ACTION_TYPES)
        if self.coin(0.06):
            action = self.pick(
                [
                    "FLY",
                    "",
                    None,
                    7,
                    "move",
                    "_act_move",
                    "ARRIVAL",
                    "RUN_COMPLETE",
                    "MOVE ",
                    ["MOVE"],
                    "DEVICE_FAULT",
                ]
            )
        r = self.rng.random()
        t: Any
        if r < 0.86:
            t = e.now
        elif r < 0.95:
            t = e.now + float(self.pick([0.5, 5.0, 10.0, 15.0, 30.0, 60.0, 300.0]))
        elif r < 0.97:
            t = e.now - 1.0
        else:
            t = self.pick([float("nan"), float("inf"), "0", None, True, [0], int(e.now)])
        ev: dict[Any, Any] = {
            "event_id": f"f{self.n}",
            "t_s": t,
            "agent_id": agent,
            "action_type": action,
            "args": self.args_for(action, agent),
        }
        if self.coin(0.02):
            ev["event_id"] = self.pick([None, 5, ["x"]])
        if self.coin(0.02):
            del ev[self.pick(["event_id", "t_s", "agent_id", "action_type", "args"])]
        if self.coin(0.12):
            pool = sorted(e.tokens) + ["T_BOGUS"]
            ev["token_refs"] = self.pick(
                [[self.pick(pool)], [self.pick(pool), self.pick(pool)], "T1", [1], None, []]
            )
        if self.coin(0.03):
            ev["unknown_field"] = self.weird()
        if isinstance(agent, str) and agent in KEY_AGENTS and self.coin(self.p_sign):
            ev["key_id"] = key_id_of(agent)
            try:
                ev["signature"] = sign_event(
                    signing_key(agent), ev, e.world.fingerprint, e.audit.head_hash
                )
            except (TypeError, ValueError):  # unserialisable events cannot be signed
                ev["signature"] = "00" * 64
            if self.coin(0.1):
                ev["signature"] = self.pick(["", "zz", "00" * 64, 5, None])
        elif self.coin(0.03):
            ev["key_id"] = self.pick(["K_NOPE", key_id_of("A_RUNNER_01"), 3, None])
            ev["signature"] = self.pick(["ab" * 64, "", None, ["x"]])
        return ev


def _could_advance(engine: LabEngine, event: Any) -> bool:
    if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
        return False
    if engine.forensic_frozen:
        return False
    try:
        canonical_json(event)
    except (TypeError, ValueError):
        return False
    t = event.get("t_s")
    if type(t) not in (int, float) or not math.isfinite(t) or t < engine.now:
        return False
    return t > engine.now or bool(engine._heap and engine._heap[0][0] <= t)


def _scramble(obj: Any) -> None:
    """Mutate every list and dict inside ``obj`` in place."""
    if isinstance(obj, dict):
        for v in list(obj.values()):
            _scramble(v)
        for k in list(obj):
            obj[k] = "SCRAMBLED"
        obj["scrambled"] = True
    elif isinstance(obj, list):
        for v in obj:
            _scramble(v)
        obj[:] = ["SCRAMBLED"]


def _check_consistency(engine: LabEngine) -> None:
    """Global bookkeeping that every accepted step must preserve."""
    carried: dict[str, str] = {}
    for aid, a in engine.agents.items():
        assert len(a.carrying) <= a.capacity, aid
        assert len(set(a.carrying)) == len(a.carrying), aid
        for sid in a.carrying:
            assert sid not in carried, sid
            carried[sid] = aid
        assert (a.zone is None) == (a.transit_to is not None), aid
    for sid, s in engine.specimens.items():
        if s.loc_kind == "agent":
            assert carried.get(sid) == s.loc_id, sid
        else:
            assert sid not in carried, sid
        if s.loc_kind == "agent":
            pass
        elif s.loc_kind == "zone":
            assert s.loc_id in engine.world.zones, sid
        elif s.loc_kind == "device":
            dev = engine.devices[s.loc_id]
            holders = [w for w in dev.work.values() if w.specimen_id == sid] + [
                w for r in dev.runs.values() for w in r.work if w.specimen_id == sid
            ]
            assert len(holders) == 1, sid
        elif s.loc_kind == "consignment":
            assert sid in engine.consignments[s.loc_id].specimen_ids, sid
        else:
            raise AssertionError((sid, s.loc_kind))
    for did, d in engine.devices.items():
        assert sorted(w for *_, w in d.queue) == sorted(d.work), did
        assert d.state in ("IDLE", "RUNNING", "FAULT", "MAINT"), did
        assert (d.state == "RUNNING") <= bool(d.runs), did
        for w in d.work:
            assert w in engine.work_ids, (did, w)


def _state_view(engine: LabEngine) -> dict[str, Any]:
    """What ``engine.state_dict()`` holds minus the audit part, without its deep copy.

    ``state_dict`` deep-copies (milliseconds per call); pickling this live view is
    several times faster and is taken before and after every step.
    ``test_state_view_covers_state_dict`` keeps it in step with ``state_dict``.
    """
    view = {name: getattr(engine, name) for name in _STATE_FIELDS if name != "_seq"}
    view["rng"] = {n: g.bit_generator.state for n, g in engine.rng.items()}
    view["keys"] = engine.keys.state_dict()
    view["seed"] = engine.seed
    view["initial_state"] = engine.initial_state
    view["policy_fingerprint"] = engine.policy.fingerprint
    return view


def _snapshot(engine: LabEngine) -> bytes:
    return pickle.dumps(_state_view(engine), protocol=pickle.HIGHEST_PROTOCOL)


def _assert_unchanged(engine: LabEngine, before: bytes, what: str) -> None:
    if _snapshot(engine) == before:
        return
    # Bytes can differ for equal values (shared references); compare values.
    old, new = pickle.loads(before), pickle.loads(_snapshot(engine))
    changed = sorted(k for k in new if old.get(k) != new[k])
    assert not changed, f"{what} changed {changed}"


def test_state_view_covers_state_dict() -> None:
    engine, _ = run_scenario(seed=1, timing_mode="simulated")
    full = engine.state_dict()
    view = pickle.loads(_snapshot(engine))
    assert set(full) - {"audit", "_seq"} == set(view)
    assert view == {k: v for k, v in full.items() if k not in ("audit", "_seq")}


def _fuzz(engine: LabEngine, seed: int, n_events: int, *, p_sign: float) -> dict[str, int]:
    fz = Fuzzer(engine, seed, p_sign=p_sign)
    stats = {
        "ACCEPTED": 0,
        "BLOCKED": 0,
        "pure_checked": 0,
        "advance_checked": 0,
        "pre_clock_checked": 0,
    }
    clone = LabEngine(policy=engine.policy)
    for i in range(n_events):
        ev = fz.event()
        advance = _could_advance(engine, ev)
        before_full = engine.state_dict() if advance else None
        before = _snapshot(engine)
        length = len(engine.audit)
        ev_repr = repr(ev)
        try:
            out = engine.step(ev)
        except Exception as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"step raised {type(exc).__name__}: {exc} on event #{i}: {ev!r}")
        assert repr(ev) == ev_repr, "step mutated the caller's event"
        assert set(out) == CONTRACT_KEYS, ev
        assert out["status"] in ("ACCEPTED", "BLOCKED"), ev
        stats[out["status"]] += 1
        assert len(engine.audit) == length + 1
        assert engine._seq == len(engine.audit)
        assert out["hashchain"] == engine.audit.summary()
        assert set(out["emits"]) <= EMITS, (ev, out["emits"])
        for v in out["violations"]:
            assert {"invariant_id", "severity", "reason_code"} <= set(v), v
            inv = INVARIANTS[v["invariant_id"]]
            assert v["severity"] == inv["severity"]
            assert v["reason_code"] in REASON_CODES
            details = v.get("details") or {}
            if "tat_s" in details:  # a passing release is not a violation
                assert details["tat_s"] > details["target_tat_s"], v
        if out["status"] == "BLOCKED":
            assert out["blocked_reason_code"] in REASON_CODES, (ev, out)
            assert out["token_consumed"] == []
            assert "TOKEN_CONSUMED" not in out["emits"]
            code = out["blocked_reason_code"]
            untouched = before_full is not None and _snapshot(engine) == before
            if before_full is None or untouched or code in PRE_CLOCK_ONLY:
                # Could not move the clock, or blocked by a check that does not depend on
                # the time (those run before the clock moves): nothing changed at all.
                what = f"BLOCKED {code} (event #{i}: {ev!r})"
                _assert_unchanged(engine, before, what)
                assert out["emits"] == [] and out["violations"] == [], (ev, out)
                stats["pure_checked"] += 1
                if before_full is not None and code in PRE_CLOCK_ONLY:
                    stats["pre_clock_checked"] += 1
            else:
                # A blocked step that moved the clock equals a NOOP at that time.
                clone.load_state_dict(before_full)
                ref = clone.step(
                    {
                        "event_id": "ref",
                        "t_s": ev["t_s"],
                        "agent_id": "A_SUPERVISOR_01",
                        "action_type": "NOOP",
                    }
                )
                assert world_state(clone) == world_state(engine), ev
                assert ref["emits"] == out["emits"] and ref["violations"] == out["violations"]
                stats["advance_checked"] += 1
        else:
            assert out["blocked_reason_code"] is None
            assert isinstance(ev, dict) and ev.get("action_type") in ACTION_TYPES
            # The engine keeps no reference into the caller's event.
            state = _snapshot(engine)
            _scramble(ev)
            _assert_unchanged(engine, state, f"scrambling accepted event #{i} {ev_repr}")
        if i % 50 == 0:
            _check_consistency(engine)
    _check_consistency(engine)
    assert engine.audit.verify() == (True, None)
    assert stats["advance_checked"] > 5
    assert stats["pre_clock_checked"] > 5
    return stats


def _init(mode: str, *, strict: bool = False) -> dict[str, Any]:
    init = initial_state(mode, strict_signatures=strict)
    agents = [dict(a) for a in LabEngine().world.policy_agents]
    agents.append({"agent_id": NOROLE, "role": None, "zone": "Z_RECEPTION"})
    init["agents"] = agents
    return init


def _warm(engine: LabEngine) -> None:
    # The episode's first step sets a one-off flag: take it before fuzzing.
    engine.step(
        {
            "event_id": "warm",
            "t_s": engine.now,
            "agent_id": "A_SUPERVISOR_01",
            "action_type": "NOOP",
        }
    )


@pytest.mark.parametrize("seed", [101, 202])
def test_fuzz_fresh_episode(seed: int) -> None:
    engine = LabEngine()
    engine.reset(_init("explicit" if seed % 2 else "simulated"), seed=seed)
    _warm(engine)
    stats = _fuzz(engine, seed, 800, p_sign=0.2)
    assert stats["ACCEPTED"] > 30 and stats["BLOCKED"] > 300 and stats["pure_checked"] > 250


def test_fuzz_mid_episode() -> None:
    _, driver = run_scenario(seed=5, timing_mode="simulated")
    engine = LabEngine()
    engine.reset(_init("simulated"), seed=5)
    # Replay up to the point where runs and the consignment are in flight.
    n = next(i for i, ev in enumerate(driver.events) if ev["action_type"] == "RECEIVE_TRANSPORT")
    outs = engine.step_batch(driver.events[:n])
    assert outs == driver.outcomes[:n]
    assert any(d.runs for d in engine.devices.values()) or any(
        c.status != "RECEIVED" for c in engine.consignments.values()
    )
    stats = _fuzz(engine, 303, 1200, p_sign=0.2)
    assert stats["ACCEPTED"] > 50 and stats["pure_checked"] > 300


def test_fuzz_end_of_episode_strict_signatures() -> None:
    _, driver = run_scenario(seed=9, timing_mode="explicit", strict_signatures=True)
    engine = LabEngine()
    engine.reset(_init("explicit", strict=True), seed=9)
    assert engine.step_batch(driver.events) == driver.outcomes
    assert engine.results and engine.tokens
    stats = _fuzz(engine, 404, 1200, p_sign=0.7)
    assert stats["ACCEPTED"] > 25 and stats["pure_checked"] > 300


def test_huge_and_odd_times_never_raise() -> None:
    engine = LabEngine()
    engine.reset(_init("simulated"), seed=1)
    _warm(engine)
    for k, t in enumerate([2**53, 1e300, 2**63 - 1, 2**63, 2**64, 10**30, -1.0, float("nan")]):
        out = engine.step(
            {"event_id": f"h{k}", "t_s": t, "agent_id": "A_RUNNER_01", "action_type": "TICK"}
        )
        assert out["status"] in ("ACCEPTED", "BLOCKED")
        assert out["blocked_reason_code"] in REASON_CODES | {None}
    assert engine.audit.verify() == (True, None)
    assert math.isfinite(engine.now)


@pytest.mark.parametrize(
    "kind", ["MAINT_START", "MAINT_END", "DEVICE_FAULT", "QC_DRIFT", "REAGENT_DRAIN"]
)
def test_schedule_naming_an_unknown_device_never_raises_from_step(kind: str) -> None:
    # Regression: MAINT_START/MAINT_END looked the device up with [] and a KeyError
    # escaped step() when the scheduled time was reached.
    engine = LabEngine()
    engine.reset({"schedule": [{"t_s": 10, "kind": kind, "device_id": "DEV_TYPO_0001"}]}, seed=0)
    before = world_state(engine)
    out = engine.step(
        {"event_id": "e1", "t_s": 20.0, "agent_id": "A_RUNNER_01", "action_type": "TICK"}
    )
    assert out["status"] == "ACCEPTED" and out["emits"] == []
    after = world_state(engine)
    assert {k: v for k, v in after.items() if k not in ("now", "_heap", "_first_step_done")} == {
        k: v for k, v in before.items() if k not in ("now", "_heap", "_first_step_done")
    }


def _arrival(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "specimens": [{"specimen_id": "S1", "panels": ["FBC"]}],
        "arrival_schedule": [{"t_s": 10, "specimen": spec}],
    }


@pytest.mark.parametrize(
    "spec",
    [
        {"specimen_id": "S1", "panels": ["FBC"]},
        {"specimen_id": "S2", "panels": ["NOPE"]},
        {"specimen_id": "S2", "panels": ["FBC"], "site_id": "SITE_MOON"},
        {"specimen_id": "S2", "panels": ["FBC"], "priority": "WHENEVER"},
    ],
    ids=["duplicate-id", "unknown-panel", "unknown-site", "unknown-priority"],
)
def test_bad_arrival_schedule_is_refused_at_reset(spec: dict[str, Any]) -> None:
    engine = LabEngine()
    with pytest.raises(ConfigError, match=spec["specimen_id"]):
        engine.reset(_arrival(spec), seed=0)


def test_blocked_restock_at_a_site_without_stores_changes_nothing() -> None:
    # Regression: RESTOCK_REAGENT did inventory.setdefault(site, {}) before blocking with
    # REAGENT_INVENTORY_EMPTY, so a BLOCKED step added an inventory entry. (Restocking is
    # now fetch-at-stores then load: the acute site keeps no stores at all.)
    engine = LabEngine()
    no_fbc = {"stores_inventory": {"SITE_HUB": {"RG_HAEM_FBC": 0}}}
    engine.reset({"effective_policy": {"reagent_policy": no_fbc}}, seed=0)
    _warm(engine)
    assert "SITE_ACUTE" not in engine.inventory
    before = world_state(engine)
    out = engine.step(
        {
            "event_id": "r",
            "t_s": engine.now,
            "agent_id": "A_ANALYTICS_02",
            "action_type": "RESTOCK_REAGENT",
            "args": {"device_id": "DEV_HAEM_0002", "reagent_id": "RG_HAEM_FBC"},
        }
    )
    assert out["blocked_reason_code"] == "REAGENT_NOT_CARRIED"
    assert world_state(engine) == before
    runner = engine.agents["A_RUNNER_02"]
    runner.zone = "Z_STORES"  # stand it in the hub stores, which hold no FBC reagent here
    before = world_state(engine)
    out = engine.step(
        {
            "event_id": "r2",
            "t_s": engine.now,
            "agent_id": "A_RUNNER_02",
            "action_type": "RESTOCK_REAGENT",
            "args": {"device_id": "DEV_HAEM_0001", "reagent_id": "RG_HAEM_FBC"},
        }
    )
    assert out["blocked_reason_code"] == "REAGENT_INVENTORY_EMPTY"
    assert world_state(engine) == before


def test_the_purity_check_catches_a_blocked_step_that_mutates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The harness itself: a planted bug (every BLOCKED step flips ``downtime`` or adds a
    work id) must make the fuzz run fail."""
    original = LabEngine._check_and_apply

    def leaky(self: LabEngine, event: Any) -> str:
        try:
            return original(self, event)
        except Blocked:
            self.work_ids.add(f"LEAK{len(self.work_ids)}")
            raise

    monkeypatch.setattr(LabEngine, "_check_and_apply", leaky)
    engine = LabEngine()
    engine.reset(_init("explicit"), seed=1)
    _warm(engine)
    with pytest.raises(AssertionError, match="changed \\['work_ids'\\]"):
        _fuzz(engine, 1, 50, p_sign=0.2)
