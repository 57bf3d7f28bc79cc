"""Skill and parameter optimization commands: optimize-skill, eval-skill,
optimize-params (docs/skill_optimization.md)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError

__all__ = ["add_parser"]

EXIT_OK = 0
EXIT_FAILURE = 1


def _exec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--executor",
        choices=["local", "dask", "inline"],
        default="inline",
        help="where episodes run: inline (this process, default), local (process pool), "
        "dask ([dask] extra; --scheduler ADDRESS for a cluster)",
    )
    p.add_argument("--workers", type=int, default=None, help="worker processes (local, dask)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="Dask scheduler address")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _gate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--gate-metric",
        choices=["hard", "soft", "mixed"],
        default="soft",
        help="episode score the gate compares (default soft)",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.02,
        help="largest mean paired drop a task type may show (default 0.02)",
    )
    p.add_argument(
        "--min-delta",
        type=float,
        default=0.0,
        help="smallest mean paired gain accepted (default 0: any strict gain)",
    )


def add_parser(sub: Any) -> None:
    o = sub.add_parser(
        "optimize-skill",
        help="improve a team skill document offline: rollout, reflect, aggregate, select, "
        "update, and a validation gate with a safety veto",
    )
    o.add_argument("--skill", required=True, help="skills artifact name or Markdown path")
    o.add_argument(
        "--tasks",
        action="append",
        default=None,
        help="task types TASK[@SCALE][+INJECTION], comma-separated or repeated (default: "
        "stat_insertion, qc_cascade, reagent_stockout, throughput_sla)",
    )
    o.add_argument("--epochs", type=int, default=3, help="epochs (default 3)")
    o.add_argument("--steps-per-epoch", type=int, default=1, help="steps per epoch (default 1)")
    o.add_argument("--batch-size", type=int, default=8, help="training episodes a step")
    o.add_argument("--selection-episodes", type=int, default=8, help="selection split size")
    o.add_argument("--test-episodes", type=int, default=16, help="test split size (report)")
    o.add_argument(
        "--schedule",
        choices=["constant", "linear", "cosine"],
        default="constant",
        help="edit budget schedule",
    )
    o.add_argument("--max-edits", type=int, default=2, help="edit budget (learning rate)")
    o.add_argument("--min-edits", type=int, default=1, help="the schedule's last budget")
    o.add_argument("--reflect", choices=["rules", "llm"], default="rules", help="reflector")
    o.add_argument("--llm", default=None, metavar="SPEC", help="LLM backend of --reflect llm")
    o.add_argument(
        "--no-gate",
        action="store_true",
        help="ablation: accept every candidate (the log still says what the gate would do)",
    )
    o.add_argument(
        "--plant",
        default=None,
        metavar="PATCHES.json",
        help="ablation: raw patches (a JSON list of {patch, source_type}) added to every "
        "step's reflect output, e.g. planted harmful edits",
    )
    o.add_argument("--seed", type=int, default=0, help="base seed of the training batches")
    o.add_argument("--out", required=True, help="output directory (checked first)")
    _gate_args(o)
    _exec_args(o)
    o.set_defaults(func=_optimize_skill)

    e = sub.add_parser("eval-skill", help="play a team skill on a split and score it")
    e.add_argument("--skill", required=True, help="skills artifact name or Markdown path")
    e.add_argument("--tasks", action="append", default=None, help="task types (see optimize-skill)")
    e.add_argument(
        "--split",
        choices=["train", "valid_seen", "test"],
        default="test",
        help="split (default test)",
    )
    e.add_argument("--episodes", type=int, default=16, help="episodes (default 16)")
    e.add_argument("--out", default=None, help="write the results JSON here")
    _gate_args(e)
    _exec_args(e)
    e.set_defaults(func=_eval_skill)

    p = sub.add_parser(
        "optimize-params",
        help="tune a coordination method's default_params with Optuna (TPE, SQLite, "
        "resumable) behind the same gate",
    )
    p.add_argument("--method", required=True, help="coordination method id")
    p.add_argument("--preset", required=True, help="scale preset (task coord_scale@PRESET)")
    p.add_argument("--task", default="coord_scale", help="task (default coord_scale)")
    p.add_argument("--trials", type=int, required=True, help="total finished trials wanted")
    p.add_argument("--train-episodes", type=int, default=3, help="episodes a trial plays")
    p.add_argument("--selection-episodes", type=int, default=6, help="gate's episodes")
    p.add_argument("--test-episodes", type=int, default=10, help="held-out test episodes")
    p.add_argument("--seed", type=int, default=0, help="sampler seed")
    p.add_argument("--out", required=True, help="output directory (optuna.db; re-run resumes)")
    _gate_args(p)
    _exec_args(p)
    p.set_defaults(func=_optimize_params)


def _gate(args: argparse.Namespace) -> Any:
    from labtrust_gym.skillopt.gate import GateConfig

    return GateConfig(args.gate_metric, 0.5, args.tolerance, args.min_delta)


@contextlib.contextmanager
def _executor(args: argparse.Namespace) -> Iterator[Any]:
    from labtrust_gym.studies.executors import open_executor

    if args.executor == "inline" and args.workers is not None:
        raise ConfigError("--workers needs --executor local or dask")
    if args.executor == "inline":
        yield None
        return
    with open_executor(args.executor, args.workers, scheduler=args.scheduler) as h:
        yield h.executor


def _progress(args: argparse.Namespace, total: int, label: str) -> Any:
    from labtrust_gym.cli.progress import Progress

    return Progress(total, label, enabled=not args.no_progress)


def _task_types(args: argparse.Namespace) -> tuple[str, ...]:
    from labtrust_gym.skillopt.splits import DEFAULT_TASK_TYPES, parse_task_types

    return tuple(t.name for t in parse_task_types(args.tasks or list(DEFAULT_TASK_TYPES)))


def _optimize_skill(args: argparse.Namespace) -> int:
    from labtrust_gym.outputs import check_output_dir
    from labtrust_gym.skillopt.document import load_skill
    from labtrust_gym.skillopt.loop import OptimizeConfig, optimize_skill

    if args.reflect == "llm" and not args.llm:
        raise ConfigError("--reflect llm needs --llm SPEC (offline, openai:MODEL@URL, replay:PATH)")
    if args.llm and args.reflect != "llm":
        raise ConfigError("--llm is for --reflect llm")
    check_output_dir(args.out, "--out")
    plant: list[Any] = []
    if args.plant:
        try:
            plant = json.loads(Path(args.plant).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--plant {args.plant}: cannot read a JSON list ({exc})") from None
        if not isinstance(plant, list) or not all(
            isinstance(x, dict) and isinstance(x.get("patch"), dict) for x in plant
        ):
            raise ConfigError(
                f"--plant {args.plant}: expected a JSON list of "
                '{"patch": {"edits": [...]}, "source_type": ...} objects'
            )
    cfg = OptimizeConfig(
        task_types=_task_types(args),
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        selection_episodes=args.selection_episodes,
        test_episodes=args.test_episodes,
        schedule=args.schedule,
        max_edits=args.max_edits,
        min_edits=args.min_edits,
        gate=_gate(args),
        use_gate=not args.no_gate,
        seed=args.seed,
        reflect=args.reflect,
        llm=args.llm,
    )
    skill = load_skill(args.skill)
    total = cfg.epochs * cfg.steps_per_epoch
    with _executor(args) as ex:
        summary = optimize_skill(
            skill,
            cfg,
            args.out,
            executor=ex,
            plant=plant,
            progress=_progress(args, total, "optimize-skill"),
        )
    print((Path(args.out) / "report.md").read_text(encoding="utf-8"), end="")
    return EXIT_OK if summary else EXIT_FAILURE


def _eval_skill(args: argparse.Namespace) -> int:
    from labtrust_gym.outputs import atomic_write_json, check_output_file
    from labtrust_gym.skillopt.document import load_skill
    from labtrust_gym.skillopt.loop import evaluate_skill

    if args.out:
        check_output_file(args.out, "--out")
    skill = load_skill(args.skill)
    with _executor(args) as ex:
        res = evaluate_skill(
            skill, _task_types(args), args.split, args.episodes, executor=ex, gate=_gate(args)
        )
    s = res["summary"]
    if args.out:
        atomic_write_json(args.out, res)
    print(
        f"{s['skill']['name']} ({s['skill']['hash']}) on {s['split']}, {s['episodes']} episodes: "
        f"hard {s['hard']['mean']:.4f}, soft {s['soft']['mean']:.4f}, "
        f"safety events {s['safety_events']}"
    )
    for t, v in s["by_task_type"].items():
        print(f"  {t}: hard {v['hard']['mean']:.4f}, soft {v['soft']['mean']:.4f}")
    return EXIT_OK


def _optimize_params(args: argparse.Namespace) -> int:
    from labtrust_gym.skillopt.params import optimize_params

    with _executor(args) as ex:
        s = optimize_params(
            args.method,
            f"{args.task}@{args.preset}",
            args.trials,
            args.out,
            train_episodes=args.train_episodes,
            selection_episodes=args.selection_episodes,
            test_episodes=args.test_episodes,
            seed=args.seed,
            gate=_gate(args),
            executor=ex,
            progress=_progress(args, args.trials, "optimize-params"),
        )
    print((Path(args.out) / "params_report.md").read_text(encoding="utf-8"), end="")
    print(
        f"winner: {s['winner']} {json.dumps(s['winner_params'], sort_keys=True)}", file=sys.stderr
    )
    return EXIT_OK
