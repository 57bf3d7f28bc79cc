"""The work of the collect, train and eval stages (pure of the store and the event log).

* :func:`collect_episodes`: the training episodes of a cycle: ``collect_episodes``
  stratified over the task types plus ``focus_episodes`` of the focus task (or the
  proposal's own training seeds), all from the train split;
* :func:`train_rules`: rule-library reflection on the collected episodes, the accepted
  proposals' edits first, the rejected buffer left out, the rung's edit budget, update;
* :func:`train_optuna`: an Optuna TPE search (SQLite storage under the run directory)
  over the skill block's numeric tunables, each trial scored on the collected episodes;
  the best trial becomes ``replace`` edits of the block;
* :func:`gate_eval`: the candidate against the champion on the selection split, paired,
  through :func:`labtrust_gym.skillopt.gate.gate_decision`.

Each function's result depends only on its arguments (seeds included), so a stage
redone after a kill gives the same result.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labtrust_gym.rng import derive_seed
from labtrust_gym.skillopt.gate import GateConfig, episode_score, gate_decision, mean_score
from labtrust_gym.skillopt.splits import EpisodeSpec, TaskType
from labtrust_gym.skillopt.types import BatchSpec, Edit, Patch

__all__ = ["collect_episodes", "scored", "train_rules", "train_optuna", "gate_eval", "team_numbers"]


def scored(results: Sequence[Mapping[str, Any]], gate: GateConfig) -> list[dict[str, Any]]:
    """Rollout dicts with their gate ``score``."""
    return [{**r, "score": episode_score(r, gate)} for r in results]


def collect_episodes(
    adapter: Any,
    *,
    seed: int,
    cycle: int,
    batch: int,
    focus_task: str,
    focus: int,
    train_seeds: Sequence[int] = (),
) -> list[EpisodeSpec]:
    """The cycle's training episodes (see the module docstring), no episode twice."""
    eps = list(adapter.plan.train_batch(batch, derive_seed(seed, "improve-collect", cycle)))
    taken = {e.key for e in eps}
    tt = TaskType.parse(focus_task)
    pool = list(adapter.plan.seeds("train"))
    if train_seeds:
        extra = [int(s) for s in train_seeds]
    else:
        rng = np.random.Generator(np.random.PCG64(derive_seed(seed, "improve-focus", cycle)))
        extra = [pool[int(i)] for i in rng.permutation(len(pool))]
    added = 0
    for s in extra:
        if added >= focus:
            break
        if (tt.name, s) not in taken:
            eps.append(EpisodeSpec(tt, s, "train"))
            taken.add((tt.name, s))
            added += 1
    return eps


def _batch(eps: list[EpisodeSpec], seed: int) -> BatchSpec:
    return BatchSpec("train", "train", int(seed), len(eps), eps)


def _prop_edits(edits: Sequence[Mapping[str, Any]]) -> list[Edit]:
    out: list[Edit] = []
    for e in edits:
        out.append(
            Edit(
                op=e["op"],
                content=str(e.get("content", "")),
                target=str(e.get("target", "")),
                source_type="failure",
                update_origin="proposal",
            )
        )
    return out


def train_rules(
    collected: Sequence[Mapping[str, Any]],
    champion: str,
    *,
    proposal_edits: Sequence[Mapping[str, Any]],
    rejected: Collection[tuple[str, str, str]],
    max_edits: int,
    reference: str,
) -> dict[str, Any]:
    """``{candidate, selected, reports, reflected}``: the candidate text (equal to the
    champion when no edit applied), the edits selected and the per-edit reports."""
    from labtrust_gym.skillopt.optimizer import aggregate, select, update
    from labtrust_gym.skillopt.reflect import rule_reflect

    merged = aggregate(rule_reflect(list(collected), champion, rejected))
    first = [e for e in _prop_edits(proposal_edits) if e.key not in rejected]
    keys = {e.key for e in first}
    ordered = first + [e for e in merged.edits if e.key not in keys and e.key not in rejected]
    chosen = select(Patch(ordered, merged.reasoning), max_edits) if ordered else Patch([], "")
    candidate, reports = update(champion, chosen, reference=reference)
    return {
        "candidate": candidate,
        "selected": [e.to_dict() for e in chosen.edits],
        "reports": reports,
        "reflected": len(merged.edits),
    }


def team_numbers(text: str) -> dict[str, int | float]:
    """The numeric tunables of a skill's team block, typed as written (``3600`` is an
    int, ``0.5`` a float), so ``f"{key}: {value}"`` is the block's own line."""
    import yaml

    from labtrust_gym.baselines.skill_team import find_team_block, parse_team_block

    parse_team_block(text)  # the block must be valid
    span = find_team_block(text)
    assert span is not None  # parse_team_block refuses a text without a block
    raw = yaml.safe_load(text[span[0] : span[1]]) or {}
    return {
        k: v
        for k, v in sorted(raw.items())
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "rules"
    }


def train_optuna(
    adapter: Any,
    episodes: list[EpisodeSpec],
    champion: str,
    *,
    trials: int,
    seed: int,
    storage: Path,
    gate: GateConfig,
    reference: str,
    max_edits: int,
) -> dict[str, Any]:
    """An Optuna search (see the module docstring). The study file is recreated on each
    attempt, so a search cut by a kill is redone from its first trial and gives the
    same result."""
    import optuna

    from labtrust_gym.skillopt.optimizer import update
    from labtrust_gym.skillopt.params import search_space

    defaults = team_numbers(champion)
    space = search_space(defaults)
    if not space:
        return {"candidate": champion, "selected": [], "reports": [], "trials": []}
    storage.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(storage) + suffix).unlink(missing_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="improve",
        storage=f"sqlite:///{storage}",
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=derive_seed(seed, "improve-optuna") % (2**32)),
    )
    batch = _batch(episodes, seed)

    def text_for(params: Mapping[str, Any]) -> tuple[str, list[Edit]]:
        edits = [
            Edit("replace", f"{k}: {params[k]}", f"{k}: {defaults[k]}", update_origin="optuna")
            for k in sorted(params)
            if params[k] != defaults[k]
        ][:max_edits]
        text, _ = update(champion, Patch(edits, "optuna"), reference=reference)
        return text, edits

    log: list[dict[str, Any]] = []
    study.enqueue_trial({k: defaults[k] for k in space})
    for _ in range(trials):
        trial = study.ask()
        params: dict[str, Any] = {}
        for k, (kind, lo, hi) in space.items():
            if kind == "int":
                params[k] = trial.suggest_int(k, int(lo), int(hi))
            elif kind == "float_log":
                params[k] = round(trial.suggest_float(k, float(lo), float(hi), log=True), 6)
            else:
                params[k] = trial.suggest_categorical(k, [False, True])
        text, _ = text_for(params)
        value = mean_score(adapter.rollout(batch, text, None), gate)
        study.tell(trial, value)
        log.append({"params": params, "value": value})
    best = max(range(len(log)), key=lambda i: (log[i]["value"], -i))
    text, edits = text_for(log[best]["params"])
    _, reports = update(champion, Patch(edits, "optuna"), reference=reference)
    return {
        "candidate": text,
        "selected": [e.to_dict() for e in edits],
        "reports": reports,
        "trials": log,
    }


def gate_eval(
    candidate_results: Sequence[Mapping[str, Any]],
    champion_results: Sequence[Mapping[str, Any]],
    *,
    candidate: str,
    champion: str,
    cycle: int,
    train_keys: Collection[tuple[str, int]],
    gate: GateConfig,
) -> dict[str, Any]:
    """The gate result (``to_dict``) of the candidate against the champion."""
    champ_score = mean_score(champion_results, gate)
    g = gate_decision(
        candidate_results,
        champion_results,
        candidate_skill=candidate,
        current_skill=champion,
        current_score=champ_score,
        best_skill=champion,
        best_score=champ_score,
        best_step=0,
        step=cycle,
        train_keys=train_keys,
        cfg=gate,
    )
    return g.to_dict()
