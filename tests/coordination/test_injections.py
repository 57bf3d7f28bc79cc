"""Risk injections: the registry, one canned scenario per injection compared with the
same seed without it, the hook protocol as the runner calls it, stale-action rates and
determinism of coordination runs."""

from __future__ import annotations

from typing import Any

import pytest
from _coord_chatter import METHOD_ID, ensure_registered

from labtrust_gym.benchmarks.runner import run_benchmark, run_episode, validate_results
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.coordination.injections import (
    INJECTIONS,
    InjectionContext,
    RiskInjection,
    injection_catalogue,
    list_injections,
    make_injection,
    register_injection,
)
from labtrust_gym.errors import RegistryError, UnknownIdError

SCALE = "small_8"
SEED = 11
BUILTIN = {
    "INJ-NET-PARTITION-001",
    "INJ-NET-REORDER-001",
    "INJ-NET-DROP-SPIKE-001",
    "INJ-NET-DELAY-001",
    "INJ-DEVICE-FAULT-001",
    "INJ-MSG-POISON-001",
    "INJ-ID-SPOOF-001",
    "INJ-COLLUSION-001",
}


@pytest.fixture(autouse=True)
def _chatter() -> None:
    ensure_registered()


@pytest.fixture
def isolated_injections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test vanish with it."""
    list_injections()  # load the built-ins first
    monkeypatch.setattr(INJECTIONS, "_items", dict(INJECTIONS._items))
    monkeypatch.setattr(INJECTIONS, "origins", dict(INJECTIONS.origins))


def _run(injection: str, seed: int = SEED, method: str = METHOD_ID) -> dict[str, Any]:
    task = get_task("coord_risk")(params={"injection": injection}, scale_config=SCALE)
    metrics, _ = run_episode(task, seed, coord_method=method)
    return metrics


_BASELINE: dict[int, dict[str, Any]] = {}


def _baseline(seed: int = SEED) -> dict[str, Any]:
    if seed not in _BASELINE:
        _BASELINE[seed] = _run("none", seed)
    return _BASELINE[seed]


def _observables(m: dict[str, Any]) -> dict[str, Any]:
    """What an injection may change: network telemetry, bus rejections, engine blocks,
    device faults, throughput (not configuration echoes such as the policy digest)."""
    out = {
        k: v
        for k, v in m.items()
        if k.startswith(("comm.", "bus.")) and k != "comm.network_policy_sha256"
    }
    out["blocked_by_reason_code"] = m["blocked_by_reason_code"]
    out["device_faults"] = m["device_faults"]
    out["runs_aborted"] = m["runs_aborted"]
    out["throughput"] = m["throughput"]
    out["violations_total"] = m["violations_total"]
    return out


# --------------------------------------------------------------------- registry ----
def test_registry_lists_the_builtins_with_catalogue_defaults() -> None:
    assert set(list_injections()) >= BUILTIN
    cat = injection_catalogue()
    assert set(cat) >= BUILTIN
    for iid in BUILTIN:
        inj = make_injection(iid)
        assert isinstance(inj, RiskInjection) and inj.injection_id == iid
        assert inj.params == cat[iid]["params"]
    over = make_injection("INJ-NET-DROP-SPIKE-001", {"drop_rate": 0.9})
    assert over.params["drop_rate"] == 0.9 and over.params["start_frac"] == 0.3
    with pytest.raises(UnknownIdError) as info:
        make_injection("INJ-NOPE-001")
    assert "INJ-NET-PARTITION-001" in str(info.value)


def test_registering_needs_override_for_an_existing_id(isolated_injections: None) -> None:
    with pytest.raises(RegistryError, match="already registered"):
        register_injection("INJ-NET-DELAY-001", RiskInjection)
    register_injection("INJ-NET-DELAY-001", RiskInjection, override=True, origin="test")
    assert type(make_injection("INJ-NET-DELAY-001")) is RiskInjection
    with pytest.raises(RegistryError, match="not callable"):
        register_injection("INJ-X-001", 3)  # type: ignore[arg-type]


def test_coord_risk_keeps_the_device_fault_by_default() -> None:
    task = get_task("coord_risk")(scale_config=SCALE)
    assert task.injection_id() == "INJ-DEVICE-FAULT-001"
    init = task.get_initial_state(3)
    faults = [s for s in init["schedule"] if s["kind"] == "DEVICE_FAULT"]
    assert [f["device_id"] for f in faults] == ["DEV_CHEM_0001"]
    assert get_task("coord_scale")(scale_config=SCALE).injection_id() is None
    with pytest.raises(UnknownIdError, match="INJ-COLLUSION-001"):
        get_task("coord_risk")(params={"injection": "INJ-BOGUS-001"})


# --------------------------------------------------------------------- every injection --
_EXPECT = {
    "INJ-NET-PARTITION-001": lambda m, b: (
        m["comm.partition_events"] > 0 and m["comm.delivered"] < b["comm.delivered"]
    ),
    "INJ-NET-REORDER-001": lambda m, b: m["comm.reordered"] > 0 == b["comm.reordered"],
    "INJ-NET-DROP-SPIKE-001": lambda m, b: m["comm.dropped"] > 10 * max(1, b["comm.dropped"]),
    "INJ-NET-DELAY-001": lambda m, b: (
        m["comm.p95_latency_ms"] > 100 * b["comm.p95_latency_ms"] and m["comm.late"] > 0
    ),
    "INJ-DEVICE-FAULT-001": lambda m, b: m["device_faults"] == 1 > b["device_faults"],
    "INJ-MSG-POISON-001": lambda m, b: (
        set(m["bus.rejected_by_reason"])
        == {
            "BUS_SIG_INVALID",
            "BUS_REPLAY",
            "BUS_UNKNOWN_SENDER",
            "BUS_TYPE_FORBIDDEN",
            "BUS_BINDING_MISMATCH",
            "BUS_PAYLOAD_INVALID",
        }
        and m["injection.blocked"] == m["injection.attempts"] - m["injection.lost_in_network"] > 0
        and m["bus.rejected"] == m["injection.blocked"]
    ),
    "INJ-ID-SPOOF-001": lambda m, b: (
        set(m["injection.blocked_by_reason"]) == {"SIG_KEY_AGENT_MISMATCH", "SIG_INVALID"}
        and m["injection.blocked"] == m["injection.attempts"] > 0
    ),
    "INJ-COLLUSION-001": lambda m, b: (
        set(m["injection.blocked_by_reason"])
        == {"TOKEN_SOD_VIOLATION", "TOKEN_APPROVALS_INSUFFICIENT"}
        and m["injection.blocked"] == m["injection.attempts"] > 0
    ),
}


@pytest.mark.parametrize("injection_id", list_injections())
def test_every_injection_changes_something_observable(injection_id: str) -> None:
    base = _baseline()
    assert base["comm.msg_count"] > 1000 and base["bus.rejected"] == 0
    m = _run(injection_id)
    assert m["injection_id"] == injection_id
    assert m["injection.attempts"] >= 1
    assert m["injection.accepted"] == 0  # no attack got through
    diff = {k for k, v in _observables(m).items() if v != _observables(base).get(k)}
    assert diff, f"{injection_id} changed nothing observable"
    check = _EXPECT.get(injection_id)
    if check is not None:
        assert check(m, base), {k: _observables(m)[k] for k in sorted(diff)}


def test_network_injections_leave_the_lab_alone_and_runs_are_deterministic() -> None:
    a = _run("INJ-NET-PARTITION-001")
    b = _run("INJ-NET-PARTITION-001")
    c = _run("INJ-NET-PARTITION-001", seed=SEED + 1)
    comm = [{k: v for k, v in x.items() if k.startswith("comm.")} for x in (a, b, c)]
    assert comm[0] == comm[1]
    assert comm[0] != comm[2]
    # The chatter ignores what it hears: the engine's episode is the nominal one.
    assert a["episode_log_sha256"] == _baseline()["episode_log_sha256"]


# --------------------------------------------------------------------- hook protocol --
class Recorder(RiskInjection):
    """Logs every hook call and leaves a mark the episode's metrics must show."""

    instances: list[Recorder] = []

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.calls: list[tuple[str, Any]] = []
        Recorder.instances.append(self)

    def on_initial_state(self, init: dict[str, Any], ctx: InjectionContext) -> None:
        self.calls.append(("on_initial_state", ctx.seed))
        chem = sorted(
            d["device_id"]
            for d in init["effective_policy"]["equipment_registry"]["devices"]
            if d["device_type"] == "CHEM"
        )
        init["schedule"] = [
            *init["schedule"],
            {"t_s": 50.0, "kind": "DEVICE_FAULT", "device_id": chem[0]},
        ]

    def network_overrides(self, ctx: InjectionContext) -> dict[str, Any]:
        self.calls.append(("network_overrides", ctx.bus))
        return {"drop_rate": 1.0}

    def on_reset(self, ctx: InjectionContext) -> None:
        super().on_reset(ctx)
        self.calls.append(("on_reset", ctx))

    def before_step(self, t: float, actions: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("before_step", t))
        if self.ctx is not None and self.ctx.step_of(t) == 3:
            actions = dict(actions)
            actions["A_WORKER_0001"] = {"action_type": "MOVE", "args": {"to_zone": "Z_NOWHERE"}}
        return actions

    def after_step(self, t: float, results: Any) -> None:
        res = results.get("A_WORKER_0001") if self.ctx and self.ctx.step_of(t) == 3 else None
        self.calls.append(("after_step", (t, res["status"] if res else None)))

    def metrics(self) -> dict[str, Any]:
        self.calls.append(("metrics", None))
        return {"injection.recorded_calls": len(self.calls), "injection.attempts": 1}


def test_the_runner_calls_every_hook_in_order(isolated_injections: None) -> None:
    Recorder.instances = []
    register_injection("INJ-TEST-RECORDER-001", Recorder, origin="tests")
    res = run_benchmark(
        "coord_risk", 2, 5, scale=SCALE, injection="INJ-TEST-RECORDER-001", coord_method=METHOD_ID
    )
    validate_results(res)
    assert res["injection"] == "INJ-TEST-RECORDER-001"
    episodes = [r for r in Recorder.instances if any(c[0] == "on_reset" for c in r.calls)]
    assert len(episodes) == 2  # a fresh injection per episode
    task_steps = res["max_steps"]
    dt = res["dt_s"]
    for ep, rec in zip(res["episodes"], episodes, strict=True):
        names = [c[0] for c in rec.calls]
        assert names == (
            ["on_initial_state", "network_overrides", "on_reset"]
            + ["before_step", "after_step"] * task_steps
            + ["metrics"]
        )
        assert rec.calls[0][1] == ep["seed"]
        assert rec.calls[1][1] is None  # overrides come before the bus exists
        ctx = rec.calls[2][1]
        assert ctx.seed == ep["seed"] and ctx.env is not None and ctx.bus is not None
        befores = [c[1] for c in rec.calls if c[0] == "before_step"]
        assert befores == [k * dt for k in range(task_steps)]
        afters = [c[1] for c in rec.calls if c[0] == "after_step"]
        assert afters[3] == (3 * dt, "BLOCKED")  # the action it added reached the engine
        m = ep["metrics"]
        assert m["injection_id"] == "INJ-TEST-RECORDER-001"
        assert m["injection.recorded_calls"] == len(rec.calls)
        assert m["device_faults"] == 1  # the initial-state edit reached the engine
        assert m["comm.msg_count"] > 0 and m["comm.dropped"] == m["comm.msg_count"]
        assert m["blocked"] >= 1


def test_the_method_gets_the_episode_bus_before_reset(isolated_injections: None) -> None:
    Recorder.instances = []
    register_injection("INJ-TEST-RECORDER-001", Recorder, origin="tests")
    task = get_task("coord_scale")(scale_config=SCALE)
    from labtrust_gym.baselines.coordination import registry

    made: list[Any] = []
    factory = registry.METHODS.get(METHOD_ID)

    def spy(*args: Any) -> Any:
        made.append(factory(*args))
        return made[-1]

    registry.METHODS._items[METHOD_ID] = spy
    try:
        run_episode(task, 2, coord_method=METHOD_ID, injection="INJ-TEST-RECORDER-001")
    finally:
        registry.METHODS._items[METHOD_ID] = factory
    method = made[0]
    ctx = next(c[1] for c in Recorder.instances[-1].calls if c[0] == "on_reset")
    assert method.bus_at_reset is not None and method.bus_at_reset is ctx.bus
    assert method.received == 0  # every message was dropped (drop_rate 1.0 override)


# --------------------------------------------------------------------- stale actions --
def test_stale_action_rate_from_the_methods_own_count() -> None:
    task = get_task("coord_scale")(scale_config=SCALE)
    m, _ = run_episode(task, 1, coord_method=METHOD_ID + "_telemetry")
    assert m["coordination.stale_source"] == "method"
    assert m["coordination.actions"] > 0
    assert m["coordination.stale_action_rate"] == pytest.approx(7 / m["coordination.actions"])


def test_stale_action_rate_falls_back_to_stale_view_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a count of its own, the rate is the share of the method's actions blocked
    with a stale-view code (policy data); actions an injection replaced are not the
    method's."""
    import labtrust_gym.coordination.network as network
    from labtrust_gym.baselines.coordination import registry

    real = network.load_network_document

    def doc(root: Any = None) -> dict[str, Any]:
        d = real(root)
        d["stale_view_reason_codes"] = ["ZONE_UNKNOWN"]
        return d

    monkeypatch.setattr(network, "load_network_document", doc)
    made: list[Any] = []
    factory = registry.METHODS.get(METHOD_ID)
    monkeypatch.setitem(
        registry.METHODS._items, METHOD_ID, lambda *a: made.append(factory(*a)) or made[-1]
    )

    class Wanderer(RiskInjection):
        """Replaces another agent's action by a move to nowhere every step."""

        def before_step(self, t: float, actions: dict[str, Any]) -> dict[str, Any]:
            actions["A_WORKER_0002"] = {"action_type": "MOVE", "args": {"to_zone": "Z_NOWHERE"}}
            return actions

        def after_step(self, t: float, results: Any) -> None:
            self._record("wander", results["A_WORKER_0002"]["blocked_reason_code"])

    task = get_task("coord_scale")(scale_config=SCALE)
    wander = Wanderer()
    m, _ = run_episode(
        task,
        1,
        coord_method=METHOD_ID,
        method_params={"wander": "A_WORKER_0003"},
        injection=wander,
    )
    assert wander.blocked_by_reason == {"ZONE_UNKNOWN": task.max_steps}
    steps = made[0].results
    own = [r for step in steps for a, r in step.items() if a != "A_WORKER_0002"]
    stale = [r for r in own if r["blocked_reason_code"] == "ZONE_UNKNOWN"]
    assert len(stale) == task.max_steps  # the method's own wanderer, every step
    assert m["coordination.stale_source"] == "blocked_stale_view"
    assert m["coordination.actions"] == len(own)
    assert m["coordination.stale_actions"] == len(stale)
    assert m["coordination.stale_action_rate"] == pytest.approx(len(stale) / len(own))
