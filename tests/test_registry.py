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


def test_lazy_entries_load_on_first_lookup_and_behave_like_the_others() -> None:
    from labtrust_gym.errors import RegistryError
    from labtrust_gym.registry import Registry

    calls: list[str] = []

    def check(ident: str, obj: object) -> None:
        if not isinstance(obj, int):
            raise RegistryError(f"{ident}: not an int")

    r: Registry[object] = Registry("probe", check=check)
    r.register_lazy("a", lambda: calls.append("a") or 1)
    r.register_lazy("bad", lambda: "x")
    assert r.ids() == ["a", "bad"] and "a" in r and calls == []
    snap = r.snapshot()
    assert r.get("a") == 1 and r.get("a") == 1 and calls == ["a"]  # loaded once
    with pytest.raises(RegistryError, match="bad: not an int"):
        r.get("bad")  # checked when loaded
    with pytest.raises(RegistryError, match="already registered"):
        r.register("bad", 2)
    r.register("bad", 2, override=True, origin="test")
    assert r.get("bad") == 2 and r.overrides[-1]["replaced"] == "labtrust_gym (built-in)"
    r.restore(snap)
    assert r.get("a") == 1 and calls == ["a", "a"] and "bad" in r


def test_a_run_imports_only_its_own_task_module() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from labtrust_gym.benchmarks.tasks import get_task, list_tasks; "
        "get_task('throughput_sla'); assert len(list_tasks()) > 5; "
        "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules "
        "if m.startswith('labtrust_gym.benchmarks.tasks.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["['base',", "'builtin',", "'registry',", "'throughput_sla']"]
