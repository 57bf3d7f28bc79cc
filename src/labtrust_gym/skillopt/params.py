"""Tuning a coordination method's parameters with Optuna, behind the same gate.

:func:`optimize_params` searches the ``default_params`` of a coordination method (the
method catalogue, ``policy/coordination/coordination_methods.v0.1.yaml``) at one scale
preset with Optuna's TPE sampler. The study lives in SQLite (``OUT/optuna.db``), so an
interrupted search resumes where it stopped: ``--trials N`` is the total number of
finished trials wanted, not a number to add.

* Search space (:func:`search_space`), from each default: a float ``d > 0`` ranges
  log-uniformly over ``[d / 4, 4 d]``; an int ``d >= 1`` over ``[max(1, d // 4), 4 d]``;
  a bool is either; a list, string or null is kept as it is (not tuned).
* A trial's value is the mean gate score of the method with those parameters on the
  training episodes (the train split of the task type, e.g. ``coord_scale@small_smoke``).
* The best trial's parameters then face the defaults at the gate
  (:func:`~labtrust_gym.skillopt.gate.gate_decision`, on the selection split, with the
  safety veto), and the winner (the best parameters if accepted, else the defaults) is
  compared with the defaults on the held-out test split (paired 95% CIs).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError, UnknownIdError
from labtrust_gym.outputs import atomic_write_json, atomic_write_text, check_output_dir
from labtrust_gym.rng import derive_seed
from labtrust_gym.skillopt.gate import GateConfig, gate_decision, mean_score
from labtrust_gym.skillopt.splits import EpisodeSpec, SplitPlan, TaskType

__all__ = ["search_space", "method_defaults", "run_method_episode", "optimize_params"]


def method_defaults(method: str) -> dict[str, Any]:
    """The catalogue's ``default_params`` of ``method``."""
    from labtrust_gym.baselines.coordination.registry import load_catalogue

    cat = load_catalogue(None)
    if method not in cat:
        raise UnknownIdError(
            f"unknown coordination method {method!r}; known: {', '.join(sorted(cat))}"
        )
    return dict(cat[method].get("default_params") or {})


def search_space(defaults: Mapping[str, Any]) -> dict[str, tuple[str, Any, Any]]:
    """``{param: (kind, low, high)}`` with kind ``float_log``, ``int`` or ``bool`` (see
    the module docstring); parameters not tuned are absent."""
    out: dict[str, tuple[str, Any, Any]] = {}
    for k, d in sorted(defaults.items()):
        if isinstance(d, bool):
            out[k] = ("bool", False, True)
        elif isinstance(d, int) and d >= 1:
            out[k] = ("int", max(1, d // 4), 4 * d)
        elif isinstance(d, float) and d > 0 and math.isfinite(d):
            out[k] = ("float_log", d / 4.0, d * 4.0)
    return out


def run_method_episode(
    task_type: str, seed: int, method: str, params_json: str, split: str = ""
) -> dict[str, Any]:
    """One episode of ``task_type`` run by ``method`` with ``params`` (JSON text, so the
    call is plain data for a worker process); a scored rollout dict."""
    from labtrust_gym.benchmarks.runner import run_episode
    from labtrust_gym.skillopt.rollout import annotate_violations
    from labtrust_gym.skillopt.scoring import load_objectives, score_episode

    tt = TaskType.parse(task_type)
    task = tt.make_task()
    metrics, _ = run_episode(
        task, int(seed), coord_method=method, method_params=json.loads(params_json)
    )
    annotate_violations(task.policy, metrics)
    score = score_episode(tt.task, metrics, load_objectives(task.policy.policy_dir))
    return {
        "id": EpisodeSpec(tt, int(seed), split).id,
        "hard": score["hard"],
        "soft": score["soft"],
        "task_type": tt.name,
        "seed": int(seed),
        "split": split,
        "safety": score["safety"],
        "metrics": {
            k: metrics.get(k)
            for k in ("throughput", "on_time_rate", "completion_rate", "critical_violations")
        },
    }


def _play(
    eps: list[EpisodeSpec], method: str, params: Mapping[str, Any], executor: Any
) -> list[dict[str, Any]]:
    pj = json.dumps(dict(params), sort_keys=True)
    if executor is None:
        return [run_method_episode(e.task_type.name, e.seed, method, pj, e.split) for e in eps]
    futs = [
        executor.submit(run_method_episode, e.task_type.name, e.seed, method, pj, e.split)
        for e in eps
    ]
    return [f.result() for f in futs]


def optimize_params(
    method: str,
    task_type: str,
    trials: int,
    out_dir: Path | str,
    *,
    train_episodes: int = 3,
    selection_episodes: int = 6,
    test_episodes: int = 10,
    seed: int = 0,
    gate: GateConfig | None = None,
    executor: Any = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Run (or resume) the search of the module docstring; returns the summary (also
    ``OUT/params_report.json`` and ``OUT/params_report.md``)."""
    try:
        import optuna
    except ImportError:
        raise ConfigError(
            "optimize-params needs Optuna; install the extra: pip install 'labtrust-gym[skillopt]'"
        ) from None
    from labtrust_gym.skillopt.loop import paired_report

    if trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {trials}")
    out = check_output_dir(out_dir, "optimize-params output directory")
    out.mkdir(parents=True, exist_ok=True)
    gate = gate or GateConfig()
    defaults = method_defaults(method)
    space = search_space(defaults)
    if not space:
        raise ConfigError(
            f"coordination method {method!r} has no numeric or boolean default_params to tune "
            f"({defaults or 'none'})"
        )
    tt = TaskType.parse(task_type)
    tt.make_task()  # an unknown task or preset fails here, before any trial
    plan = SplitPlan((tt,))
    train = plan.eval_episodes("train", train_episodes)

    def objective(trial: Any) -> float:
        params = dict(defaults)
        for k, (kind, lo, hi) in space.items():
            if kind == "bool":
                params[k] = trial.suggest_categorical(k, [False, True])
            elif kind == "int":
                params[k] = trial.suggest_int(k, lo, hi)
            else:
                params[k] = trial.suggest_float(k, lo, hi, log=True)
        res = _play(train, method, params, executor)
        trial.set_user_attr(
            "train_results", [{k: r[k] for k in ("id", "hard", "soft")} for r in res]
        )
        return mean_score(res, gate)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{(out / 'optuna.db').resolve()}"
    study = optuna.create_study(
        study_name=f"{method}@{tt.name}",
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=derive_seed(seed, "optuna") % (2**31)),
        load_if_exists=True,
    )
    done = sum(1 for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)
    resumed_from = done
    if done == 0:
        # The defaults are trial 0: the search starts from what the method ships with.
        study.enqueue_trial({k: defaults[k] for k in space})
    while done < trials:
        study.optimize(objective, n_trials=1)
        done = sum(1 for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)
        if progress is not None:
            progress(done, trials)
    best_params = {**defaults, **study.best_trial.params}
    sel = plan.eval_episodes("valid_seen", selection_episodes)
    sel_default = _play(sel, method, defaults, executor)
    sel_best = _play(sel, method, best_params, executor)
    cur_score = mean_score(sel_default, gate)
    g = gate_decision(
        sel_best,
        sel_default,
        candidate_skill=json.dumps(best_params, sort_keys=True),
        current_skill=json.dumps(defaults, sort_keys=True),
        current_score=cur_score,
        best_skill=json.dumps(defaults, sort_keys=True),
        best_score=cur_score,
        best_step=0,
        step=1,
        train_keys={e.key for e in train},
        cfg=gate,
    )
    winner = best_params if g.accepted else defaults
    test = plan.eval_episodes("test", test_episodes)
    test_default = _play(test, method, defaults, executor)
    test_winner = test_default if winner == defaults else _play(test, method, winner, executor)
    report = paired_report(test_default, test_winner, gate)
    summary = {
        "method": method,
        "task_type": tt.name,
        "trials": done,
        "resumed_from": resumed_from,
        "search_space": {k: list(v) for k, v in space.items()},
        "defaults": defaults,
        "best_trial": {
            "number": study.best_trial.number,
            "value": study.best_value,
            "params": best_params,
        },
        "default_trial_value": study.trials[0].value,
        "gate": g.to_dict(),
        "winner": "best trial" if g.accepted else "defaults",
        "winner_params": winner,
        "test": report,
    }
    atomic_write_json(out / "params_report.json", summary)
    atomic_write_text(out / "params_report.md", _markdown(summary))
    return summary


def _markdown(s: Mapping[str, Any]) -> str:
    from labtrust_gym.skillopt.loop import _ci

    lines = [
        f"# Parameter tuning: {s['method']} on {s['task_type']}",
        "",
        f"Trials: {s['trials']} (resumed from {s['resumed_from']}); defaults (trial 0) "
        f"scored {s['default_trial_value']:.4f} on the training episodes, the best trial "
        f"({s['best_trial']['number']}) {s['best_trial']['value']:.4f} with "
        f"{s['best_trial']['params']}.",
        f"Gate: {s['gate']['action']}: {s['gate']['reason']}. Winner: {s['winner']}.",
        "",
        f"Test split, {s['test']['episodes']} paired episodes (winner - defaults):",
        "",
        "| metric | defaults | winner | winner - defaults (paired) | CI excludes 0 |",
        "|---|---|---|---|---|",
    ]
    for r in s["test"]["rows"]:
        lines.append(
            f"| {r['metric']} | {_ci(r['seed'])} | {_ci(r['final'])} | {_ci(r['diff'])} | "
            f"{'yes' if r['diff']['excludes_zero'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"
