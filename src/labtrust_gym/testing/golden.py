"""The golden scenario suite: versioned YAML scenarios with exact expected engine outputs.

Scenarios live in ``policy/golden/*.v0.1.yaml`` and are validated against
``policy/schemas/golden_scenarios.v0.1.schema.json``. Each scenario resets a
:class:`~labtrust_gym.engine.LabEngine` from ``initial_state`` and ``seed``, then plays
``steps``. A step is an event with its expected outcome, ``{tamper_audit: {index}}``, which
overwrites one stored audit record (to drill the forensic freeze), or ``{replay: {step},
expect}``, which sends the event of an earlier step again exactly as it was sent (signature
included), to check that a signature cannot be replayed.

Per event step the runner checks, exactly: ``status``, ``blocked_reason_code``, ``emits``
(order as returned), the invariant ids of ``violations``, ``token_consumed``, and that the
audit chain grew by ``hashchain_delta`` (always 1) with a new head. It then evaluates the
step's ``state`` assertions (``{query, id?, field?, filters?, include_hidden?}`` with one of
``equals``, ``in``, ``length``, ``exists``) and, after the last step, ``final_state``.

Two checks of the engine contract run on every scenario without being written down:

* a BLOCKED step changes nothing: the engine after the step must equal the engine before it
  (with no emits and no violations: a block by a check that does not depend on the time
  leaves the clock alone), or a copy of the engine before it that was only advanced to the
  same ``t_s`` (by a NOOP), with the emits and violations of that clock advance alone;
* unless the scenario tampers with it, the audit chain verifies after the last step.

Conveniences for signed steps: ``initial_state.keys_from_seeds: {key_id: {agent_id,
seed_hex}}`` becomes real Ed25519 keys, and ``sign: {key_id[, tamper][, seed_hex]}`` signs the
event with the key's private half (``tamper`` flips a byte of the signature; ``seed_hex``
signs with another private key, a forgery). Event ids are filled in as ``<id>/e<step>`` when
absent, unless the step says ``raw: true`` (the event is then sent exactly as written).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from labtrust_gym.config import get_policy_dir
from labtrust_gym.engine.core_env import LabEngine
from labtrust_gym.engine.signatures import private_key_from_bytes, public_key_hex, sign_event
from labtrust_gym.errors import PolicyError, UnknownIdError
from labtrust_gym.policy.loader import PolicyBundle, load_yaml
from labtrust_gym.policy.validate import format_path
from labtrust_gym.policy.validate.schema import PolicyValidator

__all__ = [
    "GOLDEN_DIR",
    "GOLDEN_GLOB",
    "GOLDEN_SCHEMA",
    "GoldenRun",
    "StepRecord",
    "golden_dir",
    "golden_files",
    "load_golden_scenarios",
    "run_golden_scenario",
    "run_golden_scenario_detailed",
]

#: Directory of the golden scenario files, relative to the policy directory.
GOLDEN_DIR = "golden"
#: File name pattern of the golden scenario files inside :data:`GOLDEN_DIR`.
GOLDEN_GLOB = "*.v0.1.yaml"
#: Schema of every golden scenario file, relative to the policy directory.
GOLDEN_SCHEMA = "schemas/golden_scenarios.v0.1.schema.json"

_DEFAULT_TAMPER_RECORD = '{"tampered":true}'
_UNSET = object()


# ------------------------------------------------------------------------------ loading ---
def golden_dir(policy_root: Path | str | None = None) -> Path:
    """The golden scenario directory of ``policy_root`` (default: the configured policy)."""
    return get_policy_dir(policy_root) / GOLDEN_DIR


def golden_files(policy_root: Path | str | None = None) -> list[Path]:
    """Every golden scenario file, sorted by name: those of every artifact root (see
    :mod:`labtrust_gym.artifacts`; a file name present in two roots is an
    ArtifactCollisionError), or of ``policy_root`` alone when it is not one of them."""
    from labtrust_gym.artifacts import discover_paths

    return sorted(discover_paths("golden", policy_root), key=lambda p: p.name)


def _validator(policy_root: Path | str | None) -> Draft202012Validator:
    path = get_policy_dir(policy_root) / GOLDEN_SCHEMA
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"{path}: golden scenario schema not found") from None
    except ValueError as exc:
        raise PolicyError(f"{path}: not valid JSON ({exc})") from None
    Draft202012Validator.check_schema(schema)
    return PolicyValidator(schema)  # non-finite numbers only where the schema allows them


def _scenario_label(doc: Any, parts: list[Any]) -> str:
    if len(parts) >= 2 and parts[0] == "scenarios" and isinstance(parts[1], int):
        try:
            sid = doc["scenarios"][parts[1]].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            sid = None
        return f"scenario {sid or '#' + str(parts[1])}"
    return "file"


def _semantic_problems(sc: dict[str, Any]) -> list[str]:
    """Checks the schema cannot express: unique event ids, signing keys that exist."""
    out = []
    keys = set(sc["initial_state"].get("keys_from_seeds") or {})
    seen: set[str] = set()
    kinds: dict[int, str] = {}
    for i, step in enumerate(sc["steps"]):
        if "tamper_audit" in step:
            kinds[i] = "tamper"
            continue
        if "replay" in step:
            kinds[i] = "replay"
            j = step["replay"]["step"]
            if kinds.get(j) != "event":
                out.append(f"steps[{i}].replay.step: {j} is not an earlier event step")
            continue
        kinds[i] = "event"
        ev = step["event"]
        if isinstance(ev, dict) and isinstance(ev.get("event_id"), str):
            if ev["event_id"] in seen:
                out.append(f"steps[{i}].event.event_id: duplicate event id {ev['event_id']!r}")
            seen.add(ev["event_id"])
        sign = step.get("sign")
        if sign and "seed_hex" not in sign and sign["key_id"] not in keys:
            out.append(
                f"steps[{i}].sign.key_id: {sign['key_id']!r} is not in "
                "initial_state.keys_from_seeds; add it there or give sign.seed_hex"
            )
    return out


def load_golden_scenarios(policy_root: Path | str | None = None) -> list[dict[str, Any]]:
    """Load and validate every golden scenario file; return the scenarios in file order.

    Each returned scenario carries ``_source`` (the file it came from). Raises
    :class:`PolicyError` naming the file, the scenario id and the path of every problem.
    """
    files = golden_files(policy_root)
    if not files:
        raise PolicyError(f"no golden scenario files ({GOLDEN_GLOB}) in {golden_dir(policy_root)}")
    validator = _validator(policy_root)
    problems: list[str] = []
    scenarios: list[dict[str, Any]] = []
    where: dict[str, str] = {}
    for path in files:
        doc = load_yaml(path, allow_nonfinite=True)  # the schema decides where (x-allow-...)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
        for err in errors:
            parts = list(err.absolute_path)
            problems.append(
                f"{path}: {_scenario_label(doc, parts)}: {format_path(parts) or '<root>'}: "
                f"{err.message}"
            )
        if errors:
            continue
        for sc in doc["scenarios"]:
            sid = sc["id"]
            if sid in where:
                problems.append(f"{path}: scenario {sid}: duplicate id (also in {where[sid]})")
                continue
            where[sid] = str(path)
            for p in _semantic_problems(sc):
                problems.append(f"{path}: scenario {sid}: {p}")
            scenarios.append({**sc, "_source": str(path)})
    if problems:
        raise PolicyError(
            f"{len(problems)} golden scenario problem(s):\n  " + "\n  ".join(problems)
        )
    return scenarios


# ------------------------------------------------------------------------------ running ---
@dataclass
class StepRecord:
    """One played event step: its index, the event as sent and the engine's answer."""

    index: int
    event: Any
    result: dict[str, Any]
    expect: dict[str, Any]


@dataclass
class GoldenRun:
    """Everything a run produced: mismatches (empty = pass), step records, the engine."""

    scenario_id: str
    mismatches: list[str] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    engine: LabEngine | None = None


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _same(a: Any, b: Any) -> bool:
    """Equality that does not confuse booleans with numbers (``True != 1`` here)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _resolve(value: Any, dotted: str) -> Any:
    cur = value
    for part in dotted.split("."):
        if isinstance(cur, dict):
            if part not in cur:
                return _UNSET
            cur = cur[part]
        elif isinstance(cur, (list, tuple)):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                return _UNSET
        else:
            return _UNSET
    return cur


def _check_assertion(engine: LabEngine, a: dict[str, Any]) -> str | None:
    """``None`` if the assertion holds, else what differs."""
    kind, ident = a["query"], a.get("id")
    what = f"{kind}" + (f" {ident}" if ident is not None else "")
    dotted = a.get("field")
    if dotted:
        what += f" .{dotted}"
    try:
        value = engine.query(
            kind, ident, include_hidden=bool(a.get("include_hidden")), **(a.get("filters") or {})
        )
    except UnknownIdError as exc:
        if a.get("exists") is False and not dotted:
            return None
        return f"state {what}: query failed: {exc}"
    value = _plain(value)
    if dotted:
        value = _resolve(value, dotted)
        if value is _UNSET:
            if a.get("exists") is False:
                return None
            return f"state {what}: field not found"
    if "exists" in a:
        if a["exists"]:
            return None
        return f"state {what}: expected not to exist, got {value!r}"
    if "equals" in a:
        if not _same(value, a["equals"]):
            return f"state {what}: expected {a['equals']!r}, got {value!r}"
        return None
    if "in" in a:
        if not any(_same(value, x) for x in a["in"]):
            return f"state {what}: expected one of {a['in']!r}, got {value!r}"
        return None
    if "length" in a:
        try:
            n = len(value)
        except TypeError:
            return f"state {what}: expected a length of {a['length']}, got {value!r}"
        if n != a["length"]:
            return f"state {what}: expected length {a['length']}, got {n} ({value!r})"
        return None
    return f"state {what}: assertion has no equals/in/length/exists"


def _build_initial_state(init: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The engine's initial state and the private keys of ``keys_from_seeds``."""
    state = copy.deepcopy(init)
    seeds = state.pop("keys_from_seeds", None) or {}
    keys = dict(state.get("keys") or {})
    private = {}
    for key_id, spec in seeds.items():
        pk = private_key_from_bytes(bytes.fromhex(spec["seed_hex"]))
        private[key_id] = pk
        entry = {"agent_id": spec["agent_id"], "public_key": public_key_hex(pk)}
        if "status" in spec:
            entry["status"] = spec["status"]
        keys[key_id] = entry
    if keys:
        state["keys"] = keys
    return state, private


def _engine_state(engine: LabEngine) -> dict[str, Any]:
    st = engine.state_dict()
    for k in ("audit", "_seq", "_first_step_done"):
        st.pop(k, None)
    return st


def _diff_keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


class _Runner:
    def __init__(
        self, scenario: dict[str, Any], policy: PolicyBundle | None, partial: bool = False
    ) -> None:
        self.sc = scenario
        self.partial = partial
        self.sid = str(scenario.get("id", "<no id>"))
        self.policy = policy
        self.run = GoldenRun(self.sid)
        self._shadow: LabEngine | None = None
        self.sent: dict[int, Any] = {}  # event steps as sent, for replay steps

    def fail(self, where: str, msg: str) -> None:
        self.run.mismatches.append(f"{self.sid} {where}: {msg}")

    def shadow(self, engine: LabEngine) -> LabEngine:
        if self._shadow is None:
            self._shadow = LabEngine(engine.policy)
        self._shadow.load_state_dict(engine.state_dict())
        return self._shadow

    def execute(self) -> GoldenRun:
        sc = self.sc
        try:
            state, private = _build_initial_state(sc["initial_state"])
            engine = LabEngine(self.policy) if self.policy is not None else LabEngine()
            engine.reset(state, int(sc["seed"]))
        except Exception as exc:  # noqa: BLE001 - reported as a mismatch
            self.fail("reset", f"raised {type(exc).__name__}: {exc}")
            return self.run
        self.run.engine = engine
        tampered = False
        for i, step in enumerate(sc["steps"]):
            if "tamper_audit" in step:
                tampered = True
                idx = int(step["tamper_audit"]["index"])
                rec = step["tamper_audit"].get("record", _DEFAULT_TAMPER_RECORD)
                if not 0 <= idx < len(engine.audit):
                    self.fail(
                        f"step {i} [tamper_audit]",
                        f"index {idx} outside the audit log (length {len(engine.audit)})",
                    )
                    return self.run
                engine.audit.tamper(idx, rec.encode("utf-8"))
                continue
            if not self.play(engine, i, step, private):
                return self.run
        for a in sc.get("final_state") or ():
            msg = _check_assertion(engine, a)
            if msg:
                self.fail("final", msg)
        if not tampered:
            ok, bad = engine.audit.verify()
            if not ok:
                self.fail("final", f"audit chain does not verify (first bad record {bad})")
        return self.run

    def play(
        self, engine: LabEngine, i: int, step: dict[str, Any], private: dict[str, Any]
    ) -> bool:
        if "replay" in step:
            j = step["replay"]["step"]
            if j not in self.sent:
                self.fail(f"step {i} [replay]", f"step {j} is not an earlier event step")
                return False
            event = copy.deepcopy(self.sent[j])
            raw = True
        else:
            event = copy.deepcopy(step["event"])
            raw = bool(step.get("raw"))
        if isinstance(event, dict) and not raw and "event_id" not in event:
            event["event_id"] = f"{self.sid}/e{i}"
        action = event.get("action_type") if isinstance(event, dict) else None
        where = f"step {i} [{action or type(event).__name__}]"
        sign = step.get("sign")
        if sign and isinstance(event, dict):
            event["key_id"] = sign["key_id"]
            pk = (
                private_key_from_bytes(bytes.fromhex(sign["seed_hex"]))
                if "seed_hex" in sign
                else private.get(sign["key_id"])
            )
            if pk is None:
                self.fail(where, f"no private key for {sign['key_id']!r}")
                return False
            sig = sign_event(pk, event, engine.world.fingerprint, engine.audit.head_hash)
            if sign.get("tamper"):
                sig = f"{int(sig[:2], 16) ^ 0x01:02x}" + sig[2:]
            event["signature"] = sig
        self.sent[i] = copy.deepcopy(event)
        before = engine.audit.summary()
        snapshot = _engine_state(engine)
        exp = step["expect"]
        shadow_out = shadow_state = None
        if exp.get("status") == "BLOCKED":
            shadow_out, shadow_state = self.clock_only(engine, event)
        try:
            out = engine.step(event)
        except Exception as exc:  # noqa: BLE001 - an exception escaping step() is a bug
            self.fail(where, f"step() raised {type(exc).__name__}: {exc}")
            return False
        self.run.steps.append(StepRecord(i, event, out, exp))
        got = {
            "status": out.get("status"),
            "blocked_reason_code": out.get("blocked_reason_code"),
            "emits": list(out.get("emits", [])),
            "violations": [v.get("invariant_id") for v in out.get("violations", [])],
            "token_consumed": list(out.get("token_consumed", [])),
        }
        want = {
            "status": exp["status"],
            "blocked_reason_code": exp.get("blocked_reason_code"),
            "emits": exp.get("emits"),
            "violations": exp.get("violations", []),
            "token_consumed": exp.get("token_consumed", []),
        }
        for k, v in want.items():
            if self.partial and k not in exp:
                continue  # a partial expectation checks only the fields it names
            if got[k] != v:
                self.fail(where, f"{k}: expected {v!r}, got {got[k]!r}")
        hc = out.get("hashchain") or {}
        delta = hc.get("length", -1) - before["length"]
        if delta != exp.get("hashchain_delta", 1):
            self.fail(
                where, f"hashchain_delta: expected {exp.get('hashchain_delta', 1)}, got {delta}"
            )
        if hc.get("head_hash") == before["head_hash"] or hc.get("last_event_hash") != hc.get(
            "head_hash"
        ):
            self.fail(where, f"hashchain: head did not advance to the new record ({hc!r})")
        if got["status"] == "BLOCKED":
            self.check_blocked_unchanged(engine, where, got, snapshot, shadow_out, shadow_state)
        for a in exp.get("state") or ():
            msg = _check_assertion(engine, a)
            if msg:
                self.fail(where, msg)
        return True

    def clock_only(self, engine: LabEngine, event: Any) -> tuple[Any, Any]:
        """What the engine looks like if the step only advanced the clock to its t_s."""
        if not isinstance(event, dict):
            return None, None
        t: Any = event.get("t_s")
        if type(t) not in (int, float) or not math.isfinite(t):
            return None, None
        if not isinstance(event.get("event_id"), str):
            return None, None
        if t < engine.now or engine.forensic_frozen:
            return None, None
        shadow = self.shadow(engine)
        agent = next(iter(sorted(shadow.agents)), None)
        if agent is None:
            return None, None
        out = shadow.step(
            {"event_id": "clock", "t_s": t, "agent_id": agent, "action_type": "NOOP", "args": {}}
        )
        return out, _engine_state(shadow)

    def check_blocked_unchanged(
        self,
        engine: LabEngine,
        where: str,
        got: dict[str, Any],
        snapshot: dict[str, Any],
        shadow_out: Any,
        shadow_state: Any,
    ) -> None:
        after = _engine_state(engine)
        untouched = not _diff_keys(snapshot, after)
        if shadow_state is None or untouched:
            changed = _diff_keys(snapshot, after)
            if changed:
                self.fail(where, f"BLOCKED step changed engine state: {', '.join(changed)}")
            elif got["emits"] or got["violations"]:
                self.fail(
                    where,
                    f"BLOCKED step emitted {got['emits']!r} / violated {got['violations']!r}; "
                    "a step that left the engine untouched (the clock too) gives [] / []",
                )
            return
        changed = _diff_keys(shadow_state, after)
        if changed:
            self.fail(
                where,
                "BLOCKED step changed engine state beyond the clock advance: " + ", ".join(changed),
            )
        clock_emits = list(shadow_out["emits"])
        clock_viol = [v["invariant_id"] for v in shadow_out["violations"]]
        if got["emits"] != clock_emits or got["violations"] != clock_viol:
            self.fail(
                where,
                f"BLOCKED step emitted {got['emits']!r} / violated "
                f"{got['violations']!r}; the clock advance alone gives "
                f"{clock_emits!r} / {clock_viol!r}",
            )


def run_golden_scenario_detailed(
    scenario: dict[str, Any], policy: PolicyBundle | None = None, *, partial: bool = False
) -> GoldenRun:
    """Play ``scenario``; return the mismatches, the step records and the engine.

    With ``partial`` a step's ``expect`` checks only the output fields it names
    (``status`` always); the audit growth, BLOCKED-changes-nothing and state checks are
    unchanged. The security suite's scripted attacks use this.
    """
    return _Runner(scenario, policy, partial).execute()


def run_golden_scenario(scenario: dict[str, Any], policy: PolicyBundle | None = None) -> list[str]:
    """Play ``scenario`` and return its mismatches (empty list = the scenario passes).

    Each message names the scenario id, the step index and action type, the field, and the
    expected and actual values.
    """
    return run_golden_scenario_detailed(scenario, policy).mismatches
