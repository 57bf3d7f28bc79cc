"""The BenchmarkTask contract.

A task is a scenario family: which agents exist, what arrives when, which disruptions are
scheduled, how long an episode lasts, how agents are rewarded, and which extra metrics it
reports. Parameters come from ``policy/tasks/benchmark_tasks.v0.1.yaml`` (defaults merged
with the task's entry, then with constructor ``params``), so a task is data plus a small
subclass.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Literal, overload

from labtrust_gym.benchmarks.arrivals import generate_arrivals
from labtrust_gym.config import policy_path
from labtrust_gym.engine.signatures import private_key_from_bytes, public_key_hex
from labtrust_gym.errors import ConfigError
from labtrust_gym.policy.loader import PolicyBundle, load_policy, load_yaml, merge_overlay
from labtrust_gym.rng import stream

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from labtrust_gym.envs.core import LabEnvCore
    from labtrust_gym.envs.lab_env import LabTrustParallelEnv

__all__ = ["BenchmarkTask", "load_task_params", "TASKS_FILE"]

TASKS_FILE = ("tasks", "benchmark_tasks.v0.1.yaml")
_PARAMS_CACHE: dict[str, dict[str, Any]] = {}


def load_task_params(policy: PolicyBundle) -> dict[str, Any]:
    """The tasks file of a policy directory (read once per directory)."""
    key = str(policy.policy_dir)
    if key not in _PARAMS_CACHE:
        path = policy_path(policy.policy_dir, *TASKS_FILE)
        doc = load_yaml(path)
        if not isinstance(doc, dict) or "defaults" not in doc or "tasks" not in doc:
            raise ConfigError(f"{path}: expected top-level keys 'defaults' and 'tasks'")
        _PARAMS_CACHE[key] = doc
    return _PARAMS_CACHE[key]


def _check_param_keys(
    task: str, known: Mapping[str, Any], params: Mapping[str, Any], optional: frozenset[str]
) -> None:
    """Every key of ``params`` (the caller's overrides) is a parameter of the task: a key of
    its tasks-file entry or of the defaults (``known``, checked into nested mappings), or
    one of the task's ``optional_params`` (dotted paths). A typo such as ``arival_rate``
    would otherwise be merged in and silently ignored."""

    def walk(known: Mapping[str, Any], params: Mapping[str, Any], prefix: str) -> None:
        for key, value in params.items():
            path = f"{prefix}{key}"
            if path in optional:
                continue
            if key not in known:
                names = sorted(
                    {str(k) for k in known}
                    | {o[len(prefix) :] for o in optional if o.startswith(prefix)}
                )
                names = [n for n in names if "." not in n]
                import difflib  # only to word an error

                close = difflib.get_close_matches(str(key), names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(
                    f"task {task}: unknown parameter {path!r}{hint}; known at this level: "
                    f"{', '.join(names) or '(none)'}"
                )
            sub = known[key]
            if isinstance(sub, Mapping) and sub and isinstance(value, Mapping):
                walk(sub, value, f"{path}.")

    walk(known, params, "")


class BenchmarkTask:
    """Base class of benchmark tasks (see the module docstring).

    Subclasses set ``name`` and override the hooks they need: ``extra_agents`` (e.g. an
    adversary), ``make_policies`` (scripted controllers), ``episode_metrics`` (task
    metrics). The scripted baseline controls ``scripted_agents``.

    Constructor ``params`` may only name parameters the task has: keys of the tasks file
    (defaults and the task's entry) and ``optional_params`` (dotted paths of parameters a
    task reads without a default; tasks with ``supports_injections`` also take
    ``injection`` and ``injection_params``). A ``scale_config`` is an error unless the
    task sets ``accepts_scale`` (tasks that build their world from one pop it first).
    """

    name: ClassVar[str] = ""
    #: Parameters (dotted paths) the task reads that have no default in the tasks file.
    optional_params: ClassVar[frozenset[str]] = frozenset()
    #: The task uses ``self.scale_config`` (set by the base constructor).
    accepts_scale: ClassVar[bool] = False

    def __init__(
        self,
        params: dict[str, Any] | None = None,
        *,
        policy: PolicyBundle | None = None,
        timing_mode: str | None = None,
        scale_config: Any = None,
    ) -> None:
        if not self.name:
            raise ConfigError(f"{type(self).__name__} must set a class attribute 'name'")
        self.policy = policy if policy is not None else load_policy()
        doc = load_task_params(self.policy)
        merged = merge_overlay(doc["defaults"], self.task_entry(doc))
        if scale_config is not None and not self.accepts_scale:
            scaled = sorted(n for n, e in doc["tasks"].items() if "scale_preset" in (e or {}))
            raise ConfigError(
                f"task {self.name} has no scale config, so a scale preset (--scale) does not "
                f"apply; scale presets are for: {', '.join(scaled) or '(no task)'}"
            )
        if params:
            optional = self.optional_params
            if getattr(self, "supports_injections", False):
                optional = optional | {"injection", "injection_params"}
            _check_param_keys(self.name, merged, params, optional)
            merged = merge_overlay(merged, params)
        if timing_mode is not None:
            merged["timing_mode"] = timing_mode
        if merged.get("timing_mode") not in ("explicit", "simulated"):
            raise ConfigError(
                f"task {self.name}: timing_mode must be explicit or simulated, "
                f"not {merged.get('timing_mode')!r}"
            )
        self.params: dict[str, Any] = merged
        self.scale_config = scale_config
        self.max_steps: int = int(merged["max_steps"])
        self.dt_s: float = float(merged["dt_s"])
        self.reward_config: dict[str, Any] = dict(merged["reward_config"])
        self.timing_mode: str = merged["timing_mode"]

    def task_entry(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """This task's parameters, merged over the tasks file's ``defaults`` (``doc``): its
        entry in the tasks file. A task with a parameter file of its own (validated by its
        own schema) returns that file's parameters instead."""
        return dict(doc["tasks"].get(self.name) or {})

    # ------------------------------------------------------------------ agents ---------
    def staff_agents(self) -> list[dict[str, Any]]:
        """The lab team: ``[{agent_id, role, zone}]`` (default: the policy's agents)."""
        return [
            {"agent_id": a["agent_id"], "role": a["role"], "zone": a["home_zone"]}
            for a in self.policy["rbac_policy"]["agents"]
        ]

    def extra_agents(self) -> list[dict[str, Any]]:
        """Agents beyond the team (adversaries, insiders)."""
        return []

    @cached_property
    def agents(self) -> list[dict[str, Any]]:
        return self.staff_agents() + self.extra_agents()

    def agent_ids(self) -> list[str]:
        return [a["agent_id"] for a in self.agents]

    @property
    def scripted_agents(self) -> tuple[str, ...]:
        """Agents driven by the scripted baseline team."""
        extra = {a["agent_id"] for a in self.extra_agents()}
        return tuple(a for a in self.agent_ids() if a not in extra)

    # ------------------------------------------------------------------ episodes -------
    def world_docs(self) -> dict[str, Any]:
        """Policy documents the scenario generator reads (effective policy if any)."""
        return {
            "panels": self.policy["test_catalogue"]["panels"],
            "tube_types": self.policy["test_catalogue"]["tube_types"],
            "sites": {s["site_id"]: s for s in self.policy["sites_policy"]["sites"]},
        }

    def get_initial_state(self, seed: int) -> dict[str, Any]:
        """A fresh initial state for an episode with ``seed`` (deterministic)."""
        p = self.params
        docs = self.world_docs()
        arrivals = generate_arrivals(
            p["arrivals"],
            stream(seed, "scenario"),
            panels=docs["panels"],
            tube_types=docs["tube_types"],
            sites=docs["sites"],
            defect_rate=float(p["defect_rate"]),
            collection_lag_s=(float(p["collection_lag_s"][0]), float(p["collection_lag_s"][1])),
        )
        return {
            "agents": [dict(a) for a in self.agents],
            "arrival_schedule": arrivals,
            "schedule": [dict(s) for s in p.get("schedule", [])],
            "timing_mode": self.timing_mode,
            "strict_signatures": bool(p.get("strict_signatures", False)),
            "keys": {
                kid: {"agent_id": aid, "public_key": public_key_hex(pk)}
                for aid, (kid, pk) in self.agent_keys(seed).items()
            },
        }

    def effective_policy_probe(self) -> dict[str, Any] | None:
        """The ``effective_policy`` of this task's episodes (seed 0's), which sizes the env
        (codec, observation layout, spaces) before the first reset. The base initial state
        overlays no policy, so only a task that overrides :meth:`get_initial_state` pays
        for building one (arrivals, keys) here."""
        if type(self).get_initial_state is BenchmarkTask.get_initial_state:
            return None
        probe: dict[str, Any] | None = self.get_initial_state(0).get("effective_policy")
        return probe

    def agent_keys(self, seed: int) -> dict[str, tuple[str, Ed25519PrivateKey]]:
        """Each agent's signing key ``{agent_id: (key_id, private_key)}`` for this episode."""
        rng = stream(seed, "keys")
        return {
            aid: (f"K_{aid}", private_key_from_bytes(rng.bytes(32))) for aid in self.agent_ids()
        }

    def make_policies(self, seed: int) -> list[Any]:
        """Controllers for the scripted baseline: each has ``reset(engine, seed)`` and
        ``propose(engine, t_s) -> {agent_id: action}`` for the agents it drives."""
        from labtrust_gym.baselines.scripted import ScriptedTeam

        return [ScriptedTeam(self.scripted_agents, self.team_params())]

    def team_params(self) -> dict[str, Any]:
        """Overrides of the scripted team's parameters (task parameter ``team``; the
        ablations of docs/tasks.md switch the team's tactics off there)."""
        team = self.params.get("team") or {}
        if not isinstance(team, dict):
            raise ConfigError(
                f"task {self.name}: parameter 'team' must be a mapping of scripted-team "
                f"parameters, got {team!r}"
            )
        return dict(team)

    @overload
    def make_env(
        self, seed: int | None = None, *, pettingzoo: Literal[True] = True, **kwargs: Any
    ) -> LabTrustParallelEnv: ...

    @overload
    def make_env(
        self, seed: int | None = None, *, pettingzoo: bool, **kwargs: Any
    ) -> LabEnvCore: ...

    def make_env(
        self, seed: int | None = None, *, pettingzoo: bool = True, **kwargs: Any
    ) -> LabEnvCore:
        """The env factory: a PettingZoo ParallelEnv running this task (``pettingzoo=False``:
        the same env without the ParallelEnv base class, which spares importing PettingZoo
        and Gymnasium; see :mod:`labtrust_gym.envs.core`)."""
        cls: type[LabEnvCore]
        if pettingzoo:
            from labtrust_gym.envs.lab_env import LabTrustParallelEnv as cls
        else:
            from labtrust_gym.envs.core import LabEnvCore as cls
        env = cls(self, **kwargs)
        if seed is not None:
            env.reset(seed=seed)
        return env

    def episode_metrics(self, env: LabEnvCore) -> dict[str, Any]:
        """Task-specific metrics added to the episode's metrics (default: none)."""
        return {}

    def paired_twin(self, env: LabEnvCore) -> BenchmarkTask | None:
        """A variant of this task that the runner plays on the same seed, controller and
        LLM session after the episode ``env`` ran, for :meth:`paired_metrics` (default:
        none)."""
        return None

    def paired_metrics(
        self, env: LabEnvCore, twin: dict[str, Any], twin_env: LabEnvCore
    ) -> dict[str, Any]:
        """Metrics comparing the episode with its twin's (``twin``: its metrics)."""
        return {}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "max_steps": self.max_steps,
            "dt_s": self.dt_s,
            "timing_mode": self.timing_mode,
            "agents": self.agent_ids(),
        }
