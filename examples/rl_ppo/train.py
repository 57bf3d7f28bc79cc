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

from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.rl import (
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
    styles = {"scripted team": "--", "masked random": ":", "--controller random": "-."}
    for name, value in baselines.items():
        ax.axhline(value, ls=styles.get(name, "--"), color="grey", lw=1)
        ax.annotate(
            name,
            (xs[-1], value),
            textcoords="offset points",
            xytext=(-4, 3),
            ha="right",
            fontsize=8,
            color="dimgrey",
        )
    ax.set_xlabel("training timesteps (agent steps)")
    ax.set_ylabel("results released per episode")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="rl_tutorial")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timesteps", type=int, default=1_200_000)
    ap.add_argument("--n-envs", type=int, default=2, help="env copies (x agents = SB3 envs)")
    ap.add_argument(
        "--num-cpus",
        type=int,
        default=None,
        help="worker processes: 0 (in-process) or n-envs (default: n-envs)",
    )
    ap.add_argument("--curve-every", type=int, default=40_000)
    ap.add_argument("--curve-episodes", type=int, default=8)
    ap.add_argument("--held-out", type=int, default=30, help="held-out evaluation episodes")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    cfg = PPOConfig(
        task=args.task,
        seed=args.seed,
        timesteps=args.timesteps,
        n_envs=args.n_envs,
        num_cpus=args.n_envs if args.num_cpus is None else args.num_cpus,
        curve_every=args.curve_every,
        curve_episodes=args.curve_episodes,
        held_out_episodes=args.held_out,
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
    eval_s = time.perf_counter() - t0
    summary = {name: summarize(eps) for name, eps in arms.items()}
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
        {
            "scripted team": summary["scripted team"]["throughput"]["mean"],
            "masked random": summary["masked random"]["throughput"]["mean"],
            "--controller random": summary["--controller random"]["throughput"]["mean"],
        },
        args.out / "learning_curve.png",
        f"{cfg.task}: MaskablePPO, shared policy over {len(env.possible_agents)} agents "
        f"(seed {cfg.seed})",
    )
    doc = {
        **res.summary(),
        "eval_s": round(eval_s, 1),
        "held_out": {
            name: {"summary": summary[name], "episodes": eps} for name, eps in arms.items()
        },
        "masked_actions_chosen": masked,
    }
    (args.out / "results.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    lines = [
        f"Held-out episodes: {len(held)} seeds (>= 2**31, never trained on), task "
        f"{cfg.task}, mean [95% CI].",
        "",
        "| controller | throughput (results released) | completion_rate | blocked | "
        "turnaround_p50_s |",
        "|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        lines.append(
            f"| {name} | {_fmt(s['throughput'])} | {_fmt(s['completion_rate'])} | "
            f"{_fmt(s['blocked'])} | {_fmt(s['turnaround_p50_s'])} |"
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
