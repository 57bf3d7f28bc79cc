"""Train a shared MaskablePPO policy over the agents of a LabTrust task, then evaluate it.

    pip install -e ".[rl,plots]"
    nice python examples/rl_ppo/train.py --out rl_out                  # ~25 min, 2 workers
    python examples/rl_ppo/train.py --timesteps 5000 --out /tmp/rl    # a quick look

Pipeline (labtrust_gym.rl, docs/rl.md): the task's PettingZoo ParallelEnv -> SuperSuit
``pettingzoo_env_to_vec_env_v1`` (one slot per agent) -> ``concat_vec_envs_v1`` (copies in
worker processes, through the env's pickling) -> ``MaskedVecEnv`` (SB3 VecEnv with
``action_masks()``) -> ``MaskablePPO``. Every seed comes from ``--seed`` through
``numpy.random.SeedSequence`` (training envs, learner, learning-curve episodes, held-out
episodes).

Writes to ``--out``: ``model.zip``, ``curve.csv`` and ``learning_curve.png`` (throughput of
the deterministic policy on the learning-curve episodes against training timesteps),
``results.json`` (config, seeds, wall and CPU time, the held-out episodes of the trained
policy, masked random, ``--controller random`` and the scripted team) and ``results.md``
(the table of docs/rl.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from labtrust_gym.benchmarks.metrics import paired_diff_ci95
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.rl import (
    SUMMARY_METRICS,
    PPOConfig,
    baseline_episodes,
    make_task_env,
    masked_random_act,
    model_act,
    play_episodes,
    summarize,
    train_ppo,
)


def _fmt(s: dict[str, Any]) -> str:
    if s["mean"] is None:
        return "n/a"
    if s["ci95_low"] is None:
        return f"{s['mean']:.2f}"
    return f"{s['mean']:.2f} [{s['ci95_low']:.2f}, {s['ci95_high']:.2f}]"


def _plot(curve: list[dict[str, Any]], baselines: dict[str, float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [p["timesteps"] for p in curve]
    ax.plot(xs, [p["throughput_mean"] for p in curve], marker="o", ms=3, label="MaskablePPO")
    styles = {
        "scripted team": ("--", "black"),
        "masked random": (":", "tab:red"),
        "--controller random": ("-.", "grey"),
    }
    for name, value in baselines.items():
        ls, color = styles.get(name, ("--", "grey"))
        ax.axhline(value, ls=ls, color=color, lw=1, label=f"{name} ({value:.2f})")
    ax.set_xlabel("training timesteps (agent steps)")
    ax.set_ylabel("results released per episode")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="rl_tutorial")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timesteps", type=int, default=500_000)
    ap.add_argument("--n-envs", type=int, default=2, help="env copies (x agents = SB3 envs)")
    ap.add_argument(
        "--num-cpus",
        type=int,
        default=None,
        help="worker processes: 0 (in-process) or n-envs (default: n-envs)",
    )
    ap.add_argument("--curve-every", type=int, default=25_000)
    ap.add_argument("--curve-episodes", type=int, default=8)
    ap.add_argument("--held-out", type=int, default=30, help="held-out evaluation episodes")
    ap.add_argument(
        "--reward-emit",
        action="append",
        default=[],
        metavar="EMIT=VALUE",
        help="override the task's reward_config.emit entry (repeatable)",
    )
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    emit: dict[str, float] = {}
    for item in args.reward_emit:
        name, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--reward-emit {item!r}: give EMIT=VALUE, e.g. WORK_QUEUED=0")
        emit[name] = float(value)

    cfg = PPOConfig(
        task=args.task,
        seed=args.seed,
        timesteps=args.timesteps,
        n_envs=args.n_envs,
        num_cpus=args.n_envs if args.num_cpus is None else args.num_cpus,
        curve_every=args.curve_every,
        curve_episodes=args.curve_episodes,
        held_out_episodes=args.held_out,
        task_params={"reward_config": {"emit": emit}} if emit else {},
    )
    args.out.mkdir(parents=True, exist_ok=True)
    print(
        f"training MaskablePPO on {cfg.task}: {cfg.timesteps} timesteps, {cfg.n_envs} env "
        f"copies in {cfg.num_cpus or 'no'} worker processes",
        flush=True,
    )
    res = train_ppo(
        cfg,
        progress=lambda p: print(
            f"  {p.timesteps:>9} timesteps {p.wall_s:>7.0f} s  throughput {p.throughput_mean:.2f}"
            f"  episode reward {p.ep_reward_mean}",
            flush=True,
        ),
    )
    res.model.save(args.out / "model.zip")
    print(f"trained in {res.wall_s:.0f} s wall, {res.cpu_s:.0f} s CPU", flush=True)

    held = res.seeds.held_out
    t0 = time.perf_counter()
    env = make_task_env(cfg.task, cfg.task_params)
    task = get_task(cfg.task)(params=cfg.task_params or None)
    arms = {
        "MaskablePPO (deterministic)": play_episodes(env, model_act(res.model), held),
        "MaskablePPO (sampled)": play_episodes(
            env, model_act(res.model, deterministic=False), held
        ),
        "masked random": play_episodes(
            env, masked_random_act(np.random.default_rng(res.seeds.algo)), held
        ),
        "--controller random": baseline_episodes(task, held, "random"),
        "scripted team": baseline_episodes(task, held, "scripted"),
    }
    # The learning curve's references: the baselines on the curve's own episodes.
    curve_seeds = res.seeds.curve
    curve_refs = {
        "scripted team": baseline_episodes(task, curve_seeds, "scripted"),
        "masked random": play_episodes(
            env, masked_random_act(np.random.default_rng(res.seeds.algo)), curve_seeds
        ),
        "--controller random": baseline_episodes(task, curve_seeds, "random"),
    }
    eval_s = time.perf_counter() - t0
    metrics = (*SUMMARY_METRICS, "reruns_requested")
    summary = {name: summarize(eps, metrics) for name, eps in arms.items()}
    paired = {
        name: paired_diff_ci95(
            [e["throughput"] for e in arms[name]],
            [e["throughput"] for e in arms["scripted team"]],
        )
        for name in arms
        if name != "scripted team"
    }
    masked = {
        name: sum(e.get("masked_actions_chosen", 0) for e in eps)
        for name, eps in arms.items()
        if name.startswith("MaskablePPO")
    }

    curve = [p for p in res.summary()["curve"]]
    with open(args.out / "curve.csv", "w", encoding="utf-8") as f:
        f.write("timesteps,wall_s,throughput_mean,ep_reward_mean,masked_actions_chosen\n")
        for p in curve:
            f.write(
                f"{p['timesteps']},{p['wall_s']},{p['throughput_mean']},"
                f"{p['ep_reward_mean']},{p['masked_actions_chosen']}\n"
            )
    _plot(
        curve,
        {name: float(np.mean([e["throughput"] for e in eps])) for name, eps in curve_refs.items()},
        args.out / "learning_curve.png",
        f"{cfg.task}: MaskablePPO, one policy shared by {len(env.possible_agents)} agents "
        f"(seed {cfg.seed})\n{len(curve_seeds)} fixed episodes per point, deterministic policy; "
        "lines: baselines on the same episodes",
    )
    doc = {
        **res.summary(),
        "eval_s": round(eval_s, 1),
        "held_out": {
            name: {"summary": summary[name], "episodes": eps} for name, eps in arms.items()
        },
        "masked_actions_chosen": masked,
        "paired_vs_scripted_throughput": paired,
        "curve_references": {
            name: {"summary": summarize(eps), "episodes": eps} for name, eps in curve_refs.items()
        },
    }
    (args.out / "results.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    lines = [
        f"Held-out episodes: {len(held)} seeds (>= 2**31, never trained on), task "
        f"{cfg.task}, mean [95% CI].",
        "",
        "| controller | throughput (results released) | minus scripted (paired) | "
        "completion_rate | blocked | turnaround_p50_s | reruns |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        d = paired.get(name)
        diff = (
            "-"
            if d is None
            else _fmt({"mean": d["mean"], "ci95_low": d["ci95_low"], "ci95_high": d["ci95_high"]})
        )
        lines.append(
            f"| {name} | {_fmt(s['throughput'])} | {diff} | {_fmt(s['completion_rate'])} | "
            f"{_fmt(s['blocked'])} | {_fmt(s['turnaround_p50_s'])} | "
            f"{_fmt(s['reruns_requested'])} |"
        )
    lines += [
        "",
        f"Training: {cfg.timesteps} timesteps, {res.wall_s:.0f} s wall, {res.cpu_s:.0f} s CPU "
        f"(main process and workers); masked actions chosen by the trained policy: {masked}.",
    ]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
