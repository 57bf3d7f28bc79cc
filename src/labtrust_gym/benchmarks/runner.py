"""The episode runner behind ``labtrust run-benchmark`` and ``quick-eval``.

``run_benchmark(task, episodes, seed)`` runs ``episodes`` episodes of a task with a
controller (the scripted team by default, or ``"random"``), computes the metrics of each,
and returns a results document (schema ``labtrust.results.v0.1``). Episode seeds are
derived stably from ``seed`` and the episode index, so episode ``i`` is the same whether
one or ten episodes are run.

Coordination runs (``coord_scale``, ``coord_risk``, any run with a coordination method or
a risk injection) get one network model and signed message bus per episode
(:func:`build_bus`, from the episode seed); the coordination method finds it as
``method.bus`` before its ``reset``. Each step the runner delivers the messages due by the
step's start, collects the actions (method, controllers), lets the risk injection alter
them (``before_step``), steps the env, then calls ``after_step`` and the method's
``on_step_results``. The episode metrics then carry the bus telemetry (``comm.*``,
``bus.*``), ``coordination.stale_action_rate`` and the injection's ``injection.*``.

LLM runs (``controller="llm"``, or a coordination method that calls a model) take
``llm`` (a spec string, :class:`~labtrust_gym.llm.LLMConfig` or open session). Extra
episode-log records: a controller or coordination method with ``drain_log_records()``
has its records (LLM I/O hashes, type ``llm``) appended to the episode log after each
step, and one with ``episode_extras()`` adds those metrics (``llm.*``) at the end.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from labtrust_gym._version import __version__
from labtrust_gym.benchmarks.metrics import (
    StaleActionTally,
    coordination_metrics,
    summarize_episodes,
)
from labtrust_gym.benchmarks.tasks import BenchmarkTask, get_task
from labtrust_gym.errors import ConfigError, UnknownIdError
from labtrust_gym.outputs import atomic_write_bytes, check_output_dir, check_output_file
from labtrust_gym.rng import derive_seed, stream

__all__ = [
    "run_benchmark",
    "run_episode",
    "episode_seed",
    "build_bus",
    "RESULTS_SCHEMA_VERSION",
    "CI_STABLE_METRICS",
    "RandomPolicy",
    "CONTROLLERS",
]

RESULTS_SCHEMA_VERSION = "labtrust.results.v0.1"
#: Metrics that must be identical for the same task, seed and code on any machine.
CI_STABLE_METRICS = (
    "throughput",
    "orders_due",
    "on_time_rate",
    "turnaround_p50_s",
    "turnaround_p95_s",
    "violations_total",
    "critical_violations",
    "blocked",
    "actions",
    "specimens_arrived",
    "steps",
    "episode_log_sha256",
    "audit_length",
)
CONTROLLERS = ("scripted", "random", "llm")


def episode_seed(seed: int, index: int) -> int:
    return derive_seed(seed, "episode", index)


class RandomPolicy:
    """Uniform random actions from each agent's action space (the floor baseline).

    ``agents``: the engine ids it drives (None: every agent of the env). The runner gives
    it the task's team (``task.scripted_agents``), so a task's attackers keep their own
    controllers."""

    def __init__(self, env: Any, seed: int, agents: Any = None) -> None:
        self.env = env
        self.rng = stream(seed, "policy")
        self.agents = None if agents is None else frozenset(agents)

    def reset(self, engine: Any, seed: int) -> None:
        self.rng = stream(seed, "policy")

    def propose(self, engine: Any, t_s: float) -> dict[str, Any]:
        n = self.env.codec.n
        live = self.env.agents
        if self.agents is not None:
            to_engine = self.env.engine_id
            live = [a for a in live if to_engine[a] in self.agents]
        return {a: int(self.rng.integers(n)) for a in live}


def _resolve_task(task: str | BenchmarkTask, **task_kw: Any) -> BenchmarkTask:
    if isinstance(task, BenchmarkTask):
        return task
    cls = get_task(task)
    kw = {k: v for k, v in task_kw.items() if v is not None}
    return cls(**kw)


def _agent_sites(env: Any) -> dict[str, str]:
    eng = env.engine
    zones = eng.world.zones
    out: dict[str, str] = {}
    for aid, a in eng.agents.items():
        site = zones.get(a.zone, {}).get("site_id") if a.zone is not None else None
        if site is not None:
            out[aid] = site
    return out


def build_bus(
    task: BenchmarkTask,
    env: Any,
    seed: int,
    *,
    overrides: dict[str, Any] | None = None,
    keys: dict[str, Any] | None = None,
) -> Any:
    """The episode's :class:`~labtrust_gym.coordination.bus.SignedMessageBus` (see
    :func:`labtrust_gym.coordination.identities.build_episode_bus`: network policy of the
    task's policy tree with ``overrides``, draws from ``stream(seed, "network")``, keys
    ``task.agent_keys(seed)`` plus the coordination identities', bound to the episode)."""
    from labtrust_gym.coordination.identities import build_episode_bus

    return build_episode_bus(
        task,
        env,
        seed,
        keys=keys if keys is not None else task.agent_keys(seed),
        overrides=overrides,
    )


def _resolve_injection(task: BenchmarkTask, injection: Any) -> Any:
    """The episode's fresh injection: ``injection`` (an id or a RiskInjection) or the
    task's own (``params.injection``)."""
    if injection is None:
        make = getattr(task, "make_injection", None)
        return make() if make is not None else None
    if not getattr(task, "supports_injections", False):
        raise ConfigError(
            f"task {task.name} does not take risk injections; use coord_risk or coord_scale"
        )
    if isinstance(injection, str):
        from labtrust_gym.coordination.injections import make_injection

        return make_injection(
            injection, task.params.get("injection_params"), repo_root=task.policy.policy_dir
        )
    return injection


def run_episode(
    task: BenchmarkTask,
    seed: int,
    *,
    controller: str = "scripted",
    coord_method: str | None = None,
    method_params: dict[str, Any] | None = None,
    env: Any = None,
    record_log: bool = False,
    injection: Any = None,
    llm: Any = None,
    domain: str | None = None,
) -> tuple[dict[str, Any], Any]:
    """Run one episode; returns ``(metrics, env)``.

    With ``coord_method`` the registered coordination method drives the team (the
    task's other controllers, such as adversaries, keep theirs). ``injection`` (a risk
    injection id or instance) replaces the task's own (``params.injection``). ``domain``
    (default: the lab profile's ``domain_id``, else ``hospital_lab``) is the registered
    domain whose adapter the env steps (see :mod:`labtrust_gym.domain.dispatch`); it is
    recorded as the ``domain_id`` metric.
    """
    from labtrust_gym.domain import resolve_domain_id

    domain_id = resolve_domain_id(domain)
    if controller not in CONTROLLERS:
        raise UnknownIdError(f"unknown controller {controller!r}; known: {', '.join(CONTROLLERS)}")
    llm_session, llm_owned = None, False
    if llm is not None:
        from labtrust_gym.llm import as_session

        llm_session, llm_owned = as_session(llm)
        if coord_method is not None:
            method_params = {**(method_params or {}), "llm": llm_session}
    elif controller == "llm":
        raise ConfigError("controller 'llm' needs an LLM backend (--llm SPEC or --llm-replay)")
    method = None
    coord_method = _coord_method_id(task, controller, coord_method)
    if coord_method is not None:
        from labtrust_gym.baselines.coordination import make_coordination_method

        method = make_coordination_method(
            coord_method, task.policy, task.policy.policy_dir, task.scale_config, method_params
        )
    inj = _resolve_injection(task, injection)
    if env is None:
        # Observations, masks and views are for methods that read them; the controllers
        # read the engine, so without a method they would be built for nobody (most of
        # an episode's time in a small lab).
        env = make_domain_env(task, domain_id, record_log=record_log, rich=method is not None)
    env.record_log = record_log
    if hasattr(task, "injection"):
        task.injection = inj  # on_initial_state runs inside env.reset
    obs, infos = env.reset(seed=seed)
    bus = None
    ctx = None
    stale_codes: frozenset[str] = frozenset()
    if method is not None or inj is not None or getattr(task, "uses_bus", False):
        from labtrust_gym.coordination.injections import InjectionContext
        from labtrust_gym.coordination.network import load_network_document

        netdoc = load_network_document(task.policy.policy_dir)
        stale_codes = frozenset(netdoc["stale_view_reason_codes"])
        keys = task.agent_keys(seed)
        ctx = InjectionContext(
            task=task,
            seed=seed,
            rng=stream(seed, "injection"),
            dt_s=task.dt_s,
            max_steps=task.max_steps,
            agent_ids=list(env.engine_ids),
            roles={aid: a.role for aid, a in env.engine.agents.items()},
            env=env,
            engine=env.engine,
            keys=keys,
            network=netdoc["network"],
            agent_sites=_agent_sites(env),
        )
        overrides = inj.network_overrides(ctx) if inj is not None else None
        bus = build_bus(task, env, seed, overrides=overrides, keys=keys)
        ctx.bus = bus
        if inj is not None:
            inj.on_reset(ctx)
    policies: list[Any] = task.make_policies(seed)
    if controller == "random":  # the team plays at random; attackers keep their scripts
        from labtrust_gym.baselines.scripted import ScriptedTeam as _Team

        policies = [RandomPolicy(env, seed, task.scripted_agents)] + [
            p for p in policies if not isinstance(p, _Team)
        ]
    if controller == "llm" and llm_session is not None:
        from labtrust_gym.llm import attach_llm_controller

        policies, _ = attach_llm_controller(task, env, policies, llm_session)
    if method is not None:
        from labtrust_gym.baselines.scripted import ScriptedTeam

        policies = [p for p in policies if not isinstance(p, ScriptedTeam)]
        method.bus = bus
        method.attach(env)
        method.reset(seed, task.policy, task.scale_config)
    for p in policies:
        p.reset(env.engine, seed)
    hooks = [p for p in policies if hasattr(p, "on_step")]
    # The coordinated team: the method, else the scripted (or random) team controller.
    from labtrust_gym.baselines.scripted import ScriptedTeam

    team_ps = {id(p) for p in policies if isinstance(p, (ScriptedTeam, RandomPolicy))}
    sidecars = [p for p in (*policies, method) if hasattr(p, "drain_log_records")]
    tally = StaleActionTally(stale_codes)
    to_engine = env.engine_id
    dt = task.dt_s
    t0 = time.perf_counter()
    while env.agents:
        t = env.step_count * dt
        if bus is not None:
            bus.deliver_until(t * 1000.0)
        actions: dict[str, Any] = {}
        coordinated: dict[str, Any] = {}
        if method is not None:
            coordinated = dict(method.propose_actions(obs, infos, t))
            actions.update(coordinated)
        for p in policies:
            prop = p.propose(env.engine, t)
            if id(p) in team_ps:
                coordinated.update(prop)
            actions.update(prop)
        if inj is not None:
            actions = inj.before_step(t, actions)
        obs, _, _, _, infos = env.step(actions)
        results = env.last_results
        if inj is not None:
            inj.after_step(t, results)
        if method is not None:
            method.on_step_results(results)
        if bus is not None:
            # Actions an injection replaced are the attacker's, not the team's.
            tally.add(
                results,
                (to_engine.get(k, k) for k, a in coordinated.items() if actions.get(k) is a),
            )
        for p in hooks:
            p.on_step(env)
        for p in sidecars:
            env.episode_log.extra(p.drain_log_records())  # in the log's digest, written or not
    wall = time.perf_counter() - t0
    if bus is not None:
        bus.deliver_until(env.step_count * dt * 1000.0)
    metrics = _metrics_aggregator()(env, task, wall)
    metrics.update(task.episode_metrics(env))
    twin = task.paired_twin(env)
    if twin is not None:
        # A task measured against a variant of itself on the same seed (e.g. the prompt
        # injection task against its clean twin): played the same way, then compared.
        twin_metrics, twin_env = run_episode(
            twin, seed, controller=controller, coord_method=coord_method, llm=llm_session
        )
        metrics.update(task.paired_metrics(env, twin_metrics, twin_env))
    if bus is not None:
        metrics.update(coordination_metrics(bus, method, tally))
    if inj is not None:
        metrics.update(inj.metrics())
        metrics["injection_id"] = inj.injection_id or None
    metrics["domain_id"] = domain_id
    if method is not None:
        metrics["coord_method"] = coord_method
        method.on_episode_end(metrics)
    for p in sidecars:
        if hasattr(p, "episode_extras"):
            metrics.update(p.episode_extras())
    if llm_session is not None:
        llm_session.end_episode()
        if llm_owned:
            llm_session.close()
    return metrics, env


def platform_id() -> str:
    """``platform.platform()``'s string, without its cost on glibc Linux: there it runs
    ``uname -p`` in a child process and scans the interpreter's binary for the C
    library's version (a twentieth of a one-episode run); the kernel and the C library
    answer both directly. Elsewhere, ``platform.platform()`` itself."""
    import os

    libc = None
    if "CS_GNU_LIBC_VERSION" in getattr(os, "confstr_names", {}):
        libc = os.confstr("CS_GNU_LIBC_VERSION")
    u = os.uname() if hasattr(os, "uname") else None
    if u is None or u.sysname != "Linux" or not libc or not libc.startswith("glibc "):
        import platform

        return platform.platform()
    parts = (u.sysname, u.release, u.machine, "with", libc.replace(" ", ""))
    return "-".join(p.strip().replace(" ", "_").replace("/", "-") for p in parts if p)


def _coord_method_id(task: Any, controller: str, coord_method: str | None) -> str | None:
    """The coordination method an episode runs: the one asked for, else (scripted) the
    task's own (coordination tasks' teams talk over the bus), else none."""
    if coord_method is None and controller == "scripted":
        return getattr(task, "default_coord_method", None)
    return coord_method


def make_domain_env(
    task: BenchmarkTask, domain_id: str, *, record_log: bool = False, rich: bool | None = None
) -> Any:
    """The task's env over the adapter of domain ``domain_id`` (its factory is called);
    ``rich``: observations, and action masks and views in the infos, for a coordination
    method that reads them (None: the env's defaults)."""
    from labtrust_gym.domain import make_domain_adapter

    kw: dict[str, Any] = {}
    if rich is not None:
        # Without a method the env is stepped by the runner alone: the PettingZoo base
        # class (and its import) would serve nobody either.
        kw = {"rich_infos": rich, "action_masks": rich, "observations": rich, "pettingzoo": rich}
    return task.make_env(record_log=record_log, engine=make_domain_adapter(domain_id, task), **kw)


def run_benchmark(
    task: str | BenchmarkTask,
    episodes: int = 1,
    seed: int = 0,
    *,
    controller: str = "scripted",
    coord_method: str | None = None,
    timing: str | None = None,
    scale: Any = None,
    params: dict[str, Any] | None = None,
    injection: str | None = None,
    log_dir: Path | str | None = None,
    out: Path | str | None = None,
    progress: Callable[[int, int], None] | None = None,
    llm: Any = None,
    domain: str | None = None,
) -> dict[str, Any]:
    """Run a benchmark and return (and optionally write) its results document.

    ``injection``: a risk-injection id (``coord_risk``, ``coord_scale``), the same as
    ``params={"injection": ID}``. ``out`` and ``log_dir`` are checked before the first
    episode (:class:`~labtrust_gym.errors.OutputPathError` naming the path). ``llm``: the
    LLM backend of ``controller="llm"`` or of an LLM coordination method (a spec string or
    :class:`~labtrust_gym.llm.LLMConfig`; one session, hence one cassette, for all
    episodes). ``domain``: the registered domain to drive (see
    :func:`run_episode`). The installed plugins are loaded first (strictly), unless
    ``LABTRUST_DISABLE_PLUGIN_AUTOLOAD`` is set.
    """
    from labtrust_gym.domain import resolve_domain_id
    from labtrust_gym.plugins import ensure_plugins_loaded

    ensure_plugins_loaded()
    domain_id = resolve_domain_id(domain)
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if coord_method is not None and controller != "scripted":
        raise ConfigError(
            f"controller {controller!r} and coord_method {coord_method!r} both drive the team; "
            "give one of them (--controller random, or --coord-method ID)"
        )
    if out is not None:
        check_output_file(out, "results file")
    if log_dir is not None:
        check_output_dir(log_dir, "episode log directory")
    if injection is not None:
        cls: type[BenchmarkTask] = type(task) if isinstance(task, BenchmarkTask) else get_task(task)
        if not getattr(cls, "supports_injections", False):
            raise ConfigError(
                f"task {cls.name} does not take risk injections (--injection); use coord_risk "
                "or coord_scale"
            )
        params = {**(params or {}), "injection": injection}
    task_kw: dict[str, Any] = {"timing_mode": timing, "params": params}
    if scale is not None:
        task_kw["scale_config"] = scale
    t = _resolve_task(task, **task_kw)
    if injection is not None and isinstance(task, BenchmarkTask):
        t.params["injection"] = injection
        t.injection = t.make_injection()  # type: ignore[attr-defined]
    if log_dir is not None:
        for i in range(episodes):
            log_path = Path(log_dir) / f"{t.name}_ep{i:03d}.jsonl"
            check_output_file(log_path, "episode log")
            check_output_file(log_path.with_name(log_path.name + ".sig.json"), "log signature")
        from labtrust_gym.evidence.keys import audit_key

        audit_key()  # a key problem is reported before the first episode, not after
    env = make_domain_env(
        t,
        domain_id,
        record_log=log_dir is not None,
        rich=_coord_method_id(t, controller, coord_method) is not None,
    )
    llm_session = None
    if llm is not None:
        from labtrust_gym.llm import as_session

        llm_session, _ = as_session(llm)
    eps: list[dict[str, Any]] = []
    logs: list[str] = []
    for i in range(episodes):
        s = episode_seed(seed, i)
        metrics, env = run_episode(
            t,
            s,
            controller=controller,
            coord_method=coord_method,
            env=env,
            record_log=log_dir is not None,
            llm=llm_session,
            domain=domain_id,
        )
        if getattr(t, "paired_baseline", False) and coord_method is None:
            metrics.update(_paired_impact(t, s, metrics, controller, llm_session))
        if log_dir is not None:
            path = Path(log_dir) / f"{t.name}_ep{i:03d}.jsonl"
            if write_episode_log(env, path) != metrics["episode_log_sha256"]:
                raise RuntimeError(f"bug: {path} differs from the log the metrics describe")
            logs.append(str(path))
        eps.append({"episode": i, "seed": s, "metrics": metrics})
        if progress is not None:
            progress(i + 1, episodes)
    results = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "package_version": __version__,
        "task": t.name,
        "domain_id": domain_id,
        "controller": controller,
        "coord_method": coord_method,
        "injection": t.injection_id() if hasattr(t, "injection_id") else None,
        "seed": seed,
        "episodes_requested": episodes,
        "timing_mode": t.timing_mode,
        "max_steps": t.max_steps,
        "dt_s": t.dt_s,
        "num_agents": len(t.agent_ids()),
        "policy_fingerprint": t.policy.fingerprint,
        "scale_config": (
            t.scale_config.sanitized() if hasattr(t.scale_config, "sanitized") else None
        ),
        "episodes": eps,
        "summary": summarize_episodes(eps),
        "ci_stable": {
            "metrics": list(CI_STABLE_METRICS),
            "episodes": [
                {"seed": e["seed"], **{k: e["metrics"].get(k) for k in CI_STABLE_METRICS}}
                for e in eps
            ],
        },
        "logs": logs,
        "plugins": _plugins_record(),
        "plugin_overrides": _overrides_record(),
        "lab_profile": _profile_record(),
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform_id(),
            "numpy": np.__version__,
        },
    }
    if llm_session is not None:
        results["llm"] = llm_session.record_doc()
        llm_session.close()
    if out is not None:
        write_results(results, out)
    return results


def _paired_impact(
    task: BenchmarkTask,
    seed: int,
    attacked: dict[str, Any],
    controller: str = "scripted",
    llm: Any = None,
) -> dict[str, Any]:
    """Throughput of the same seed and controller (and LLM session) with the adversary
    idle, and the relative impact."""
    base_task = type(task)(
        params={**task.params, "adversary": {**task.params["adversary"], "enabled": False}},
        policy=task.policy,
        timing_mode=task.timing_mode,
    )
    base, _ = run_episode(base_task, seed, controller=controller, llm=llm)
    b = base["throughput"]
    return {
        "baseline_throughput": b,
        "throughput_impact": (b - attacked["throughput"]) / b if b else None,
    }


def _plugins_record() -> list[dict[str, Any]]:
    """The plugins loaded in this process: ``{group, kind, name, value, distribution,
    version, override}`` (entry points and lab-profile extension packages)."""
    from labtrust_gym.plugins import loaded_plugins

    return loaded_plugins()


def _overrides_record() -> list[dict[str, str]]:
    """Every registry override of this process: ``{kind, id, by, replaced}``."""
    from labtrust_gym.plugins import plugin_overrides

    return plugin_overrides()


def _profile_record() -> dict[str, Any] | None:
    from labtrust_gym.profiles import active_lab_profile

    prof = active_lab_profile()
    return prof.record() if prof is not None else None


def _metrics_aggregator() -> Callable[..., dict[str, Any]]:
    """The registered metrics aggregator of the active lab profile
    (``metrics_aggregator_id``), else ``default`` (:func:`compute_episode_metrics`
    unless overridden)."""
    from labtrust_gym.benchmarks.metrics import get_metrics_aggregator
    from labtrust_gym.profiles import profile_provider_id

    return get_metrics_aggregator(profile_provider_id("metrics_aggregator_id"))


RESULTS_SCHEMA_PATH = Path(__file__).parent / "schemas" / "results.v0.1.schema.json"


def validate_results(results: dict[str, Any]) -> None:
    """Raise ConfigError naming the path of the first problems against the results schema."""
    import jsonschema

    from labtrust_gym.errors import ConfigError

    schema = json.loads(RESULTS_SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(results),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        msgs = ["/".join(str(p) for p in e.absolute_path) + f": {e.message}" for e in errors[:5]]
        raise ConfigError("results do not match labtrust.results.v0.1: " + "; ".join(msgs))


def write_results(results: dict[str, Any], out: Path | str) -> str:
    """Write a results document to ``out`` atomically (:mod:`labtrust_gym.outputs`: a
    temporary file unique to this writer, fsync, ``os.replace``); return the SHA-256 of
    the bytes written, so a caller can say exactly what it wrote."""
    data = (json.dumps(results, indent=2, sort_keys=False) + "\n").encode("utf-8")
    atomic_write_bytes(out, data)
    return hashlib.sha256(data).hexdigest()


def write_episode_log(env: Any, path: Path | str) -> str:
    """Write the env's episode log (format ``labtrust.episode_log.v1``) atomically, with
    its signature sidecar ``<log>.sig.json``; returns the log's SHA-256 (see
    :mod:`labtrust_gym.evidence.episode_log`)."""
    from labtrust_gym.evidence.episode_log import write_episode_log as _write

    return _write(env, path)
