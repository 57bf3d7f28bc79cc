"""The episode runner behind ``labtrust run-benchmark`` and ``quick-eval``.

``run_benchmark(task, episodes, seed)`` runs ``episodes`` episodes of a task with a
controller (the scripted team by default, or ``"random"``), computes the metrics of each,
and returns a results document (schema ``labtrust.results.v0.1``). Episode seeds are
derived stably from ``seed`` and the episode index, so episode ``i`` is the same whether
one or ten episodes are run.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from labtrust_gym._version import __version__
from labtrust_gym.benchmarks.metrics import compute_episode_metrics, summarize_episodes
from labtrust_gym.benchmarks.tasks import BenchmarkTask, get_task
from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.errors import UnknownIdError
from labtrust_gym.rng import derive_seed, stream

__all__ = [
    "run_benchmark",
    "run_episode",
    "episode_seed",
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
CONTROLLERS = ("scripted", "random")


def episode_seed(seed: int, index: int) -> int:
    return derive_seed(seed, "episode", index)


class RandomPolicy:
    """Uniform random actions from each agent's action space (the floor baseline)."""

    def __init__(self, env: Any, seed: int) -> None:
        self.env = env
        self.rng = stream(seed, "policy")

    def reset(self, engine: Any, seed: int) -> None:
        self.rng = stream(seed, "policy")

    def propose(self, engine: Any, t_s: float) -> dict[str, Any]:
        n = self.env.codec.n
        return {a: int(self.rng.integers(n)) for a in self.env.agents}


def _resolve_task(task: str | BenchmarkTask, **task_kw: Any) -> BenchmarkTask:
    if isinstance(task, BenchmarkTask):
        return task
    cls = get_task(task)
    kw = {k: v for k, v in task_kw.items() if v is not None}
    return cls(**kw)


def run_episode(
    task: BenchmarkTask,
    seed: int,
    *,
    controller: str = "scripted",
    coord_method: str | None = None,
    method_params: dict[str, Any] | None = None,
    env: Any = None,
    record_log: bool = False,
) -> tuple[dict[str, Any], Any]:
    """Run one episode; returns ``(metrics, env)``.

    With ``coord_method`` the registered coordination method drives the team (the
    task's other controllers, such as adversaries, keep theirs).
    """
    if controller not in CONTROLLERS:
        raise UnknownIdError(f"unknown controller {controller!r}; known: {', '.join(CONTROLLERS)}")
    method = None
    if coord_method is not None:
        from labtrust_gym.baselines.coordination import make_coordination_method

        method = make_coordination_method(
            coord_method, task.policy, task.policy.policy_dir, task.scale_config, method_params
        )
    if env is None:
        env = task.make_env(record_log=record_log)
    env.record_log = record_log
    obs, infos = env.reset(seed=seed)
    policies: list[Any]
    if controller == "random":
        policies = [RandomPolicy(env, seed)]
    else:
        policies = task.make_policies(seed)
    if method is not None:
        from labtrust_gym.baselines.scripted import ScriptedTeam

        policies = [p for p in policies if not isinstance(p, ScriptedTeam)]
        method.attach(env)
        method.reset(seed, task.policy, task.scale_config)
    for p in policies:
        p.reset(env.engine, seed)
    hooks = [p for p in policies if hasattr(p, "on_step")]
    dt = task.dt_s
    t0 = time.perf_counter()
    while env.agents:
        t = env.step_count * dt
        actions: dict[str, Any] = {}
        if method is not None:
            actions.update(method.propose_actions(obs, infos, t))
        for p in policies:
            actions.update(p.propose(env.engine, t))
        obs, _, _, _, infos = env.step(actions)
        if method is not None:
            method.on_step_results(env.last_results)
        for p in hooks:
            p.on_step(env)
    wall = time.perf_counter() - t0
    metrics = compute_episode_metrics(env, task, wall)
    metrics.update(task.episode_metrics(env))
    if method is not None:
        metrics["coord_method"] = coord_method
        method.on_episode_end(metrics)
    return metrics, env


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
    log_dir: Path | str | None = None,
    out: Path | str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run a benchmark and return (and optionally write) its results document."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    task_kw: dict[str, Any] = {"timing_mode": timing, "params": params}
    if scale is not None:
        task_kw["scale_config"] = scale
    t = _resolve_task(task, **task_kw)
    env = t.make_env(record_log=log_dir is not None)
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
        )
        if getattr(t, "paired_baseline", False) and controller == "scripted":
            metrics.update(_paired_impact(t, s, metrics))
        if log_dir is not None:
            path = Path(log_dir) / f"{t.name}_ep{i:03d}.jsonl"
            write_episode_log(env, path)
            logs.append(str(path))
        eps.append({"episode": i, "seed": s, "metrics": metrics})
        if progress is not None:
            progress(i + 1, episodes)
    results = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "package_version": __version__,
        "task": t.name,
        "controller": controller,
        "coord_method": coord_method,
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
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "numpy": np.__version__,
        },
    }
    if out is not None:
        write_results(results, out)
    return results


def _paired_impact(task: BenchmarkTask, seed: int, attacked: dict[str, Any]) -> dict[str, Any]:
    """Throughput of the same seed with the adversary idle, and the relative impact."""
    base_task = type(task)(
        params={"adversary": {"enabled": False}}, policy=task.policy, timing_mode=task.timing_mode
    )
    base, _ = run_episode(base_task, seed)
    b = base["throughput"]
    return {
        "baseline_throughput": b,
        "throughput_impact": (b - attacked["throughput"]) / b if b else None,
    }


def _plugins_record() -> list[dict[str, Any]]:
    try:
        from labtrust_gym.plugins import loaded_plugins
    except ImportError:
        return []
    return loaded_plugins()


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


def write_results(results: dict[str, Any], out: Path | str) -> None:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_episode_log(env: Any, path: Path | str) -> None:
    """Write the env's episode log as JSONL (header, events, clock ticks)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("wb") as f:
        for rec in env.log:
            f.write(canonical_json(rec) + b"\n")
        f.write(
            canonical_json(
                {
                    "type": "footer",
                    "head_hash": env.engine.audit.head_hash,
                    "length": env.engine.audit.length,
                }
            )
            + b"\n"
        )
