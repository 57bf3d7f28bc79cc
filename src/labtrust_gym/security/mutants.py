"""Engine mutants: deliberately broken engines, applied by monkeypatching, to prove that the
security suite, the safety case, the evidence verifier and the tests notice a broken
trust skeleton.

``with apply_mutant("skip_rbac"): ...`` breaks the engine for the block and restores it
afterwards (mutants can be stacked). Most mutants remove the guard that raises one reason
code: the engine method's source is parsed, the ``if ...: raise Blocked("CODE")``
statements are taken out of the syntax tree, and the recompiled method replaces the
original on its class, so the mutant is exactly "the check is skipped", whatever else the
method does. The others wrap one function. A mutant that finds nothing to patch (the
engine changed shape) raises :class:`MutantError` rather than silently doing nothing.

The mutants (:data:`MUTANTS`):

========================== ===========================================================
``accept_invalid_signatures`` a signature that does not verify is accepted (SIG_INVALID
                              never returned)
``no_qc_hold_gate``           results held by a QC failure are released, notified and
                              acknowledged like any other
``noop_invariants``           two invariant handlers (door left open, run on a QC-failed
                              analyzer) never report a violation
``skip_rbac``                 the role's action list is not checked (RBAC_ACTION_DENIED)
``skip_sod``                  a token's subject may approve it (TOKEN_SOD_VIOLATION)
``no_zone_freeze``            frozen zones are not enforced (ZONE_FROZEN)
``accept_time_regression``    an event earlier than the clock is applied
``blocked_not_chained``       a BLOCKED event adds no audit record
========================== ===========================================================

Each mutant also names a small run (``probe``) that exercises the broken control, used to
check that an evidence bundle of a run made by the mutant engine fails ``verify-bundle
--replay`` on the clean engine (:mod:`.mutant_matrix`). Most probes are benchmark runs. Two
controls are out of reach of every benchmark episode by construction: the env stamps
every event with the step time (no event goes back in time), and no mask offers the
release, notification or acknowledgment of a result held by a QC failure. Their probes are
golden scenarios (``{"scenarios": [...]}``) sent straight to the engine and written as
episode logs (:mod:`.scenario_run`).
"""

from __future__ import annotations
import __future__

import ast
import contextlib
import inspect
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import FunctionType
from typing import Any

from labtrust_gym.errors import LabTrustError

__all__ = [
    "Mutant",
    "MutantError",
    "MUTANTS",
    "MUTANT_ENV",
    "NOOP_HANDLERS",
    "apply_mutant",
    "list_mutants",
]

#: The environment variable the pytest plugin reads (``labtrust_gym.security.mutant_plugin``).
MUTANT_ENV = "LABTRUST_MUTANT"
#: The handlers the ``noop_invariants`` mutant silences.
NOOP_HANDLERS = ("state.door_open_time", "state.no_run_on_qc_failed")


class MutantError(LabTrustError):
    """A mutant cannot be applied (unknown id, or nothing to patch in this engine)."""


@dataclass(frozen=True)
class Mutant:
    """One broken engine: ``patch(stack)`` applies it (undone when ``stack`` closes) and
    returns what it changed; ``probe`` is the run that exercises it: benchmark arguments
    (``task``, ``episodes``, ``seed``, ...) or ``{"scenarios": [golden scenario ids]}``."""

    mutant_id: str
    title: str
    patch: Callable[[contextlib.ExitStack[Any]], list[str]]
    probe: Mapping[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------ patching ---
def _swap(stack: contextlib.ExitStack[Any], owner: Any, name: str, value: Any) -> None:
    """Set ``owner.name`` for the life of ``stack`` (``owner`` must define it itself)."""
    if name not in vars(owner):
        raise MutantError(f"{owner!r} does not define {name!r} itself; cannot patch it")
    original = vars(owner)[name]
    setattr(owner, name, value)
    stack.callback(setattr, owner, name, original)


def _is_blocked_raise(node: ast.AST, code: str) -> bool:
    if not isinstance(node, ast.Raise) or not isinstance(node.exc, ast.Call):
        return False
    call = node.exc
    return (
        isinstance(call.func, ast.Name)
        and call.func.id == "Blocked"
        and len(call.args) == 1
        and isinstance(call.args[0], ast.Constant)
        and call.args[0].value == code
    )


def _mentions(node: ast.AST, constant: str) -> bool:
    return any(isinstance(n, ast.Constant) and n.value == constant for n in ast.walk(node))


class _Mutator(ast.NodeTransformer):
    """Without ``test_marker``: drop every ``if C: raise Blocked(code)`` (its ``else``, if
    any, stays). With it: empty the body of every ``if`` whose test mentions the string
    ``test_marker`` and whose body raises ``Blocked(code)`` somewhere."""

    def __init__(self, code: str, test_marker: str | None = None) -> None:
        self.code = code
        self.marker = test_marker
        self.count = 0

    def visit_If(self, node: ast.If) -> Any:  # noqa: N802 - the ast visitor protocol
        self.generic_visit(node)
        if self.marker is None:
            if len(node.body) == 1 and _is_blocked_raise(node.body[0], self.code):
                self.count += 1
                return node.orelse or [ast.Pass()]
            return node
        if _mentions(node.test, self.marker) and any(
            _is_blocked_raise(n, self.code) for n in ast.walk(ast.Module(node.body, []))
        ):
            self.count += 1
            node.body = [ast.Pass()]
        return node


def _recompile(fn: FunctionType, mutator: _Mutator) -> FunctionType | None:
    """``fn`` with ``mutator`` applied to its syntax tree, or None if nothing changed."""
    if fn.__code__.co_freevars:
        raise MutantError(f"{fn.__qualname__} is a closure; the mutant cannot recompile it")
    try:
        src = textwrap.dedent(inspect.getsource(fn))
        filename = inspect.getsourcefile(fn) or "<mutant>"
    except (OSError, TypeError) as exc:
        raise MutantError(f"no source for {fn.__qualname__} ({exc})") from None
    tree = ast.parse(src)
    fdef = tree.body[0]
    if not isinstance(fdef, ast.FunctionDef) or fdef.decorator_list:
        raise MutantError(f"{fn.__qualname__} is not a plain function; cannot mutate it")
    tree = mutator.visit(tree)
    if not mutator.count:
        return None
    ast.fix_missing_locations(tree)
    ast.increment_lineno(tree, fn.__code__.co_firstlineno - 1)
    code = compile(
        tree,
        filename,
        "exec",
        flags=__future__.annotations.compiler_flag,
        dont_inherit=True,
    )
    ns: dict[str, Any] = {}
    exec(code, fn.__globals__, ns)  # noqa: S102 - recompiling the engine's own source
    new = ns[fdef.name]
    new.__qualname__ = fn.__qualname__
    new.__module__ = fn.__module__
    new.__defaults__ = fn.__defaults__
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__doc__ = fn.__doc__
    new.__labtrust_mutant__ = True
    assert isinstance(new, FunctionType)
    return new


def _engine_classes() -> list[type]:
    from labtrust_gym.engine.core_env import LabEngine

    return [c for c in LabEngine.__mro__ if c.__module__.startswith("labtrust_gym.engine")]


def _mutate_engine(
    stack: contextlib.ExitStack[Any], code: str, test_marker: str | None = None
) -> list[str]:
    """Apply a :class:`_Mutator` to every engine method that mentions ``code``."""
    changed = []
    for cls in _engine_classes():
        for name, fn in list(vars(cls).items()):
            if not isinstance(fn, FunctionType):
                continue
            try:
                if f'"{code}"' not in inspect.getsource(fn):
                    continue
            except (OSError, TypeError):
                continue
            mutator = _Mutator(code, test_marker)
            new = _recompile(fn, mutator)
            if new is not None:
                _swap(stack, cls, name, new)
                changed.append(f"{cls.__name__}.{name}: {mutator.count} x {code}")
    if not changed:
        raise MutantError(
            f"no engine method has a guard raising Blocked({code!r})"
            + (f" under a test on {test_marker!r}" if test_marker else "")
            + "; the engine changed shape, update the mutant"
        )
    return changed


# ------------------------------------------------------------------------ mutants ----
def _accept_invalid_signatures(stack: contextlib.ExitStack[Any]) -> list[str]:
    from labtrust_gym.engine.signatures import KeyRegistry

    original = vars(KeyRegistry)["verify"]

    def verify(self: Any, event: Any, policy_fingerprint: str, prev_hash: str) -> str | None:
        code: str | None = original(self, event, policy_fingerprint, prev_hash)
        return None if code == "SIG_INVALID" else code

    _swap(stack, KeyRegistry, "verify", verify)
    return ["KeyRegistry.verify: SIG_INVALID -> accepted"]


def _no_qc_hold_gate(stack: contextlib.ExitStack[Any]) -> list[str]:
    return _mutate_engine(stack, "QC_HOLD_ACTIVE", test_marker="HELD_QC")


def _noop_invariants(stack: contextlib.ExitStack[Any]) -> list[str]:
    from labtrust_gym import registry
    from labtrust_gym.engine.invariants_runtime import HANDLERS

    snap = HANDLERS.snapshot()
    n_over = len(registry.OVERRIDES)

    def restore() -> None:
        HANDLERS.restore(snap)
        del registry.OVERRIDES[n_over:]

    stack.callback(restore)

    def noop(env: Any, event: Any, params: Any) -> None:
        return None

    for key in NOOP_HANDLERS:
        HANDLERS.get(key)  # raises UnknownIdError if the handler is gone
        HANDLERS.register(key, noop, override=True, origin="mutant noop_invariants")
    return [f"invariant handler {k}: no-op" for k in NOOP_HANDLERS]


def _blocked_not_chained(stack: contextlib.ExitStack[Any]) -> list[str]:
    from labtrust_gym.engine.audit_log import AuditLog

    original = vars(AuditLog)["append_bytes"]

    def append_bytes(self: Any, blob: bytes) -> str:
        if b'"status":"BLOCKED"' in blob:
            return str(self.head_hash)  # the refused event leaves no trace
        result: str = original(self, blob)
        return result

    _swap(stack, AuditLog, "append_bytes", append_bytes)
    return ["AuditLog.append_bytes: records of BLOCKED outcomes dropped"]


MUTANTS: dict[str, Mutant] = {
    m.mutant_id: m
    for m in (
        Mutant(
            "accept_invalid_signatures",
            "accepts invalid signatures",
            _accept_invalid_signatures,
            {"task": "insider_key_misuse", "episodes": 1, "seed": 0},
        ),
        Mutant(
            "no_qc_hold_gate",
            "no QC hold gate",
            _no_qc_hold_gate,
            {"scenarios": ["GS-021"]},
        ),
        Mutant(
            "noop_invariants",
            "no-op invariant handlers (door open time, run on QC failure)",
            _noop_invariants,
            {"task": "adversarial_disruption", "controller": "random", "episodes": 1, "seed": 0},
        ),
        Mutant(
            "skip_rbac",
            "skips the RBAC check",
            lambda stack: _mutate_engine(stack, "RBAC_ACTION_DENIED"),
            {"task": "adversarial_disruption", "episodes": 1, "seed": 0},
        ),
        Mutant(
            "skip_sod",
            "skips separation of duties",
            lambda stack: _mutate_engine(stack, "TOKEN_SOD_VIOLATION"),
            {
                "task": "coord_risk",
                "scale": "small_8",
                "injection": "INJ-COLLUSION-001",
                "episodes": 1,
                "seed": 0,
            },
        ),
        Mutant(
            "no_zone_freeze",
            "no zone freeze",
            lambda stack: _mutate_engine(stack, "ZONE_FROZEN"),
            {"task": "adversarial_disruption", "controller": "random", "episodes": 1, "seed": 0},
        ),
        Mutant(
            "accept_time_regression",
            "accepts time regression",
            lambda stack: _mutate_engine(stack, "EVENT_TIME_REGRESSION"),
            {"scenarios": ["GS-037"]},
        ),
        Mutant(
            "blocked_not_chained",
            "a BLOCKED event does not extend the chain",
            _blocked_not_chained,
            {"task": "adversarial_disruption", "episodes": 1, "seed": 0},
        ),
    )
}


def list_mutants() -> list[str]:
    """The mutant ids, in the order of the kill matrix."""
    return list(MUTANTS)


@contextlib.contextmanager
def apply_mutant(*mutant_ids: str) -> Iterator[list[str]]:
    """Break the engine as the mutants say for the block; yields what was patched."""
    unknown = [m for m in mutant_ids if m not in MUTANTS]
    if unknown:
        raise MutantError(f"unknown mutant(s) {', '.join(unknown)}; known: {', '.join(MUTANTS)}")
    with contextlib.ExitStack() as stack:
        changed: list[str] = []
        for m in mutant_ids:
            changed += MUTANTS[m].patch(stack)
        yield changed
