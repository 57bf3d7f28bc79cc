"""The shared registry mechanism behind every extension kind."""

from __future__ import annotations

import pytest

from labtrust_gym import registry as reg
from labtrust_gym.benchmarks.tasks import register_task
from labtrust_gym.benchmarks.tasks.registry import TASKS
from labtrust_gym.benchmarks.tasks.throughput_sla import ThroughputSLA
from labtrust_gym.engine.invariants_runtime import HANDLERS, register_invariant_handler
from labtrust_gym.errors import RegistryError, UnknownIdError


def test_duplicate_needs_override_and_override_is_recorded() -> None:
    r: reg.Registry[int] = reg.Registry("widget")
    r.register("a", 1)
    with pytest.raises(RegistryError, match="widget 'a' is already registered"):
        r.register("a", 2)
    before = len(reg.OVERRIDES)
    r.register("a", 3, override=True, origin="pkg:ep")
    assert r.get("a") == 3
    assert r.overrides == [{"kind": "widget", "id": "a", "by": "pkg:ep", "replaced": "runtime"}]
    assert reg.OVERRIDES[before:] == r.overrides
    with pytest.raises(UnknownIdError, match="known: a"):
        r.get("b")


def test_builtins_load_once_through_register() -> None:
    calls = []

    def load() -> None:
        calls.append(1)
        r.register("builtin", 0, origin=reg.BUILTIN_ORIGIN)

    r: reg.Registry[int] = reg.Registry("thing", load_builtins=load)
    with pytest.raises(RegistryError, match="already registered"):
        r.register("builtin", 5)  # built-ins are loaded before a user registration
    assert r.ids() == ["builtin"] and calls == [1]
    assert r.origins["builtin"] == reg.BUILTIN_ORIGIN


def test_shape_checks_of_real_registries() -> None:
    with pytest.raises(RegistryError, match="not a subclass"):
        register_task("bad_task", ThroughputSLA())  # an instance, not the class
    with pytest.raises(RegistryError, match="type.check_name"):
        register_invariant_handler("state", "", lambda e, ev, p: None)
    with pytest.raises(RegistryError, match="type.check_name"):
        register_invariant_handler("a.b", "c", lambda e, ev, p: None)
    with pytest.raises(RegistryError, match="already registered"):
        register_task("throughput_sla", ThroughputSLA)
    assert TASKS.origins["throughput_sla"] == reg.BUILTIN_ORIGIN
    assert "state.specimen_single_location" in HANDLERS  # loads the built-ins
    assert HANDLERS.origins["state.specimen_single_location"] == reg.BUILTIN_ORIGIN
