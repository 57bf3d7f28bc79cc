"""The env fuzzer (``labtrust bench fuzz``): hostile actions must never raise.

:func:`run_fuzz` steps the envs of several tasks with, for each live agent and step, no
action (10 %), a hostile action from :class:`~labtrust_gym.testing.fuzz.ActionFuzzer`
(``p_hostile``), a uniform index of the action space, or a uniform index among those the
agent's action mask allows (a *probe*). It reports

* ``uncaught``: ``env.step`` calls that raised, grouped by exception type and the line
  that raised (must be 0);
* ``blocked_by_code``: the reason codes of every BLOCKED step result;
* ``mask_truth``: of the probes, the share the engine BLOCKED, overall and by action type
  and reason code, with RESTOCK_REAGENT counted apart;
* ``audit``: per episode, that the audit chain verifies and that no event id repeats.

An episode whose step raised is abandoned (its state is undefined) and a new one starts.

:func:`run_mask_truth` measures the same share on the states a working team reaches: the
task's scripted team drives the episode and each agent's action is replaced, with
probability ``p_probe``, by a probe.
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from typing import Any

import numpy as np
import orjson

from labtrust_gym.rng import derive_seed

__all__ = ["FUZZ_TASKS", "run_fuzz", "run_mask_truth", "audit_problems", "MaskTruth"]

#: The tasks ``labtrust bench fuzz`` covers by default.
FUZZ_TASKS = ("throughput_sla", "adversarial_disruption", "coord_risk", "multi_site_stat")
#: Counted apart from the mask-truth figure (its masks and arguments are reworked with
#: the reagent logistics of the reagent_stockout task).
APART = ("RESTOCK_REAGENT",)


class MaskTruth:
    """Outcomes of probe actions (uniform among the mask-allowed indices)."""

    def __init__(self) -> None:
        self.by_type: dict[str, list[int]] = {}
        self.codes: Counter[str] = Counter()
        self.codes_apart: Counter[str] = Counter()

    def add(self, action_type: str, result: dict[str, Any] | None) -> None:
        if result is None:
            return
        row = self.by_type.setdefault(action_type, [0, 0])
        row[0] += 1
        if result["status"] == "BLOCKED":
            row[1] += 1
            key = f"{action_type}:{result['blocked_reason_code']}"
            (self.codes_apart if action_type in APART else self.codes)[key] += 1

    def summary(self) -> dict[str, Any]:
        n = sum(r[0] for t, r in self.by_type.items() if t not in APART)
        b = sum(r[1] for t, r in self.by_type.items() if t not in APART)
        na = sum(r[0] for t, r in self.by_type.items() if t in APART)
        ba = sum(r[1] for t, r in self.by_type.items() if t in APART)
        return {
            "probes": n,
            "blocked": b,
            "blocked_share": round(b / n, 5) if n else 0.0,
            "causes": dict(self.codes.most_common()),
            "by_action_type": {t: list(r) for t, r in sorted(self.by_type.items())},
            "apart": {
                "action_types": list(APART),
                "probes": na,
                "blocked": ba,
                "blocked_share": round(ba / na, 5) if na else 0.0,
                "causes": dict(self.codes_apart.most_common()),
            },
        }


def audit_problems(env: Any) -> list[str]:
    """Problems of the env's audit log: a chain that does not verify, repeated event ids."""
    out = []
    ok, bad = env.engine.audit.verify()
    if not ok:
        out.append(f"audit chain does not verify from record {bad}")
    seen: set[Any] = set()
    dup = 0
    for blob in env.engine.audit.records():
        rec = orjson.loads(blob)
        ev = rec.get("event")
        if isinstance(ev, dict) and "event_id" in ev:
            eid = ev["event_id"]
            key = eid if isinstance(eid, str) else orjson.dumps(eid)
            if key in seen:
                dup += 1
            seen.add(key)
    if dup:
        out.append(f"{dup} repeated event id(s) in the audit log")
    return out


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "labtrust_gym" in f.filename] or frames
    f = ours[-1]
    path = f.filename
    if "labtrust_gym" in path:
        path = "labtrust_gym" + path.split("labtrust_gym", 1)[1]
    return f"{type(exc).__name__} at {path}:{f.lineno}"


def _result_of(env: Any, agent: str) -> dict[str, Any] | None:
    res: dict[str, Any] | None = env.last_results.get(env.engine_id[agent])
    return res


def run_fuzz(
    agent_steps: int,
    tasks: tuple[str, ...] | list[str] | None = None,
    seed: int = 0,
    *,
    p_hostile: float = 0.5,
    p_probe: float = 0.5,
) -> dict[str, Any]:
    """Fuzz ``agent_steps`` agent actions (non-None) over ``tasks``, split evenly."""
    from labtrust_gym.benchmarks.tasks import get_task
    from labtrust_gym.envs import make_env
    from labtrust_gym.testing.fuzz import ActionFuzzer

    names = list(tasks or FUZZ_TASKS)
    share = max(1, agent_steps // len(names))
    uncaught: Counter[str] = Counter()
    samples: dict[str, str] = {}
    blocked: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    audit: list[str] = []
    truth = MaskTruth()
    done_steps = 0
    env_steps = 0
    episodes = 0
    t0 = time.perf_counter()
    for name in names:
        task = get_task(name)()
        env = make_env(task, action_masks=True)
        rng = np.random.default_rng(derive_seed(seed, "fuzz", name))
        left = share
        ep = 0
        while left > 0:
            ep_seed = derive_seed(seed, "fuzz-episode", name, ep)
            ep += 1
            episodes += 1
            _, infos = env.reset(seed=ep_seed)
            fz = ActionFuzzer(env, rng, task.agent_keys(ep_seed))
            while env.agents and left > 0:
                actions: dict[str, Any] = {}
                probes: dict[str, str] = {}
                for a in env.agents:
                    r = rng.random()
                    if r < 0.1:
                        continue
                    if r < 0.1 + p_hostile:
                        kind, act = fz.hostile(a)
                        by_kind[kind] += 1
                    elif rng.random() < p_probe:
                        act = fz.allowed_index(infos[a]["action_mask"])
                        if act is None:
                            continue
                        probes[a] = env.codec.entries[act][0]
                    else:
                        act = fz.valid_index()
                    actions[a] = act
                left -= len(actions)
                done_steps += len(actions)
                env_steps += 1
                try:
                    _, _, _, _, infos = env.step(actions)
                except Exception as exc:  # noqa: BLE001 - counting them is the point
                    key = _where(exc)
                    uncaught[key] += 1
                    samples.setdefault(key, f"{type(exc).__name__}: {exc}"[:300])
                    break  # the episode's state is undefined now: start another
                for res in env.last_results.values():
                    if res["status"] == "BLOCKED":
                        blocked[str(res["blocked_reason_code"])] += 1
                for a, atype in probes.items():
                    truth.add(atype, _result_of(env, a))
            audit += [f"{name} episode {ep - 1}: {p}" for p in audit_problems(env)]
    wall = time.perf_counter() - t0
    return {
        "tasks": names,
        "seed": seed,
        "agent_steps": done_steps,
        "env_steps": env_steps,
        "episodes": episodes,
        "wall_s": round(wall, 2),
        "agent_steps_per_s": round(done_steps / wall) if wall > 0 else None,
        "uncaught": sum(uncaught.values()),
        "uncaught_by_site": dict(uncaught.most_common()),
        "uncaught_samples": samples,
        "hostile_by_kind": dict(sorted(by_kind.items())),
        "blocked_by_code": dict(blocked.most_common()),
        "mask_truth": truth.summary(),
        "audit_problems": audit,
    }


def run_mask_truth(
    tasks: tuple[str, ...] | list[str] | None = None,
    seed: int = 0,
    *,
    episodes: int = 1,
    p_probe: float = 0.2,
) -> dict[str, Any]:
    """Probe masks on the states the scripted team reaches (see the module docstring)."""
    from labtrust_gym.benchmarks.tasks import get_task
    from labtrust_gym.envs import make_env
    from labtrust_gym.testing.fuzz import ActionFuzzer

    truth = MaskTruth()
    uncaught: Counter[str] = Counter()
    samples: dict[str, str] = {}
    for name in list(tasks or FUZZ_TASKS):
        task = get_task(name)()
        env = make_env(task, action_masks=True)
        rng = np.random.default_rng(derive_seed(seed, "mask-truth", name))
        for ep in range(episodes):
            ep_seed = derive_seed(seed, "mask-truth-episode", name, ep)
            _, infos = env.reset(seed=ep_seed)
            fz = ActionFuzzer(env, rng)
            policies = task.make_policies(ep_seed)
            for p in policies:
                p.reset(env.engine, ep_seed)
            hooks = [p for p in policies if hasattr(p, "on_step")]
            while env.agents:
                t = env.step_count * task.dt_s
                actions: dict[str, Any] = {}
                for p in policies:
                    actions.update(p.propose(env.engine, t))
                probes: dict[str, str] = {}
                for a in env.agents:
                    if rng.random() >= p_probe:
                        continue
                    idx = fz.allowed_index(infos[a]["action_mask"])
                    if idx is None:
                        continue
                    eid = env.engine_id[a]
                    actions.pop(eid, None)
                    actions[a] = idx
                    probes[a] = env.codec.entries[idx][0]
                try:
                    _, _, _, _, infos = env.step(actions)
                except Exception as exc:  # noqa: BLE001 - reported, like run_fuzz
                    key = _where(exc)
                    uncaught[key] += 1
                    samples.setdefault(key, f"{type(exc).__name__}: {exc}"[:300])
                    break
                for a, atype in probes.items():
                    truth.add(atype, _result_of(env, a))
                for p in hooks:
                    p.on_step(env)
    out = truth.summary()
    out["uncaught"] = sum(uncaught.values())
    out["uncaught_by_site"] = dict(uncaught.most_common())
    out["uncaught_samples"] = samples
    out["tasks"] = list(tasks or FUZZ_TASKS)
    out["seed"] = seed
    return out
