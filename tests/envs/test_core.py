"""The core env (no PettingZoo base class) and what a short run imports."""

from __future__ import annotations

import json
import subprocess
import sys

from pettingzoo import ParallelEnv

from labtrust_gym.benchmarks.runner import make_domain_env, run_episode
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.envs import LabTrustParallelEnv, make_env
from labtrust_gym.envs.core import LabEnvCore


def test_core_env_has_the_spaces_and_steps_of_the_pettingzoo_env() -> None:
    task = get_task("throughput_sla")()
    core = task.make_env(pettingzoo=False)
    pz = make_env("throughput_sla")
    assert type(core) is LabEnvCore and not isinstance(core, ParallelEnv)
    assert isinstance(pz, LabTrustParallelEnv) and isinstance(pz, ParallelEnv)
    for a in pz.possible_agents:
        assert core.observation_space(a) == pz.observation_space(a)
        assert core.action_space(a) == pz.action_space(a)
    assert core.state_space == pz.state_space
    assert (core.num_agents, core.max_num_agents, core.unwrapped) == (
        0,
        len(pz.possible_agents),
        core,
    )
    o1, _ = core.reset(seed=3)
    o2, _ = pz.reset(seed=3)
    assert o1.keys() == o2.keys() and all((o1[a] == o2[a]).all() for a in o1)


def test_runner_env_is_the_core_env_without_a_method_and_pettingzoo_with_one() -> None:
    task = get_task("coord_risk")()
    assert type(make_domain_env(task, "hospital_lab", rich=False)) is LabEnvCore
    assert isinstance(make_domain_env(task, "hospital_lab", rich=True), LabTrustParallelEnv)
    _, env = run_episode(get_task("throughput_sla")(), 0)
    assert type(env) is LabEnvCore


_PROBE = """
import json, sys
from labtrust_gym.benchmarks.runner import run_benchmark
run_benchmark("throughput_sla", 1, 0)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in
      ("gymnasium", "pettingzoo") or m.split(".")[:2] == ["numpy", "ma"])))
"""


def test_a_scripted_run_imports_neither_pettingzoo_nor_gymnasium() -> None:
    """Start-up: the runner's scripted episode needs no PettingZoo, Gymnasium or numpy.ma
    (together a third of a one-episode command's time)."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
