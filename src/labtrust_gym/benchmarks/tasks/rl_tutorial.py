"""rl_tutorial."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labtrust_gym.benchmarks.tasks.base import BenchmarkTask
from labtrust_gym.config import policy_path
from labtrust_gym.errors import ConfigError
from labtrust_gym.policy.loader import load_yaml

__all__ = ["RLTutorial", "TUTORIAL_FILE"]

#: The task's parameter file under the policy directory (schema: its own, by name).
TUTORIAL_FILE = ("tasks", "rl_tutorial.v0.1.yaml")
_PARAMS: dict[str, dict[str, Any]] = {}


def _tutorial_params(policy_dir: Any) -> dict[str, Any]:
    """``params`` of the task's file, schema-validated (read once per policy directory)."""
    key = str(policy_dir)
    if key not in _PARAMS:
        from labtrust_gym.policy.validate import raise_for_problems, validate_document

        path = policy_path(policy_dir, *TUTORIAL_FILE)
        doc = load_yaml(path)
        raise_for_problems(validate_document(policy_dir, "/".join(TUTORIAL_FILE), doc, str(path)))
        _PARAMS[key] = doc["params"]
    return _PARAMS[key]


class RLTutorial(BenchmarkTask):
    """A small lab to train a policy on with a standard RL library (docs/rl.md).

    Description: full blood counts only (no centrifuge, no aliquot, no acceptance
    defects) arrive at the acute site's reception, about one a minute for the first six
    minutes (~6 tubes), in an episode of ten minutes (60 steps of 10 s). Each tube's
    journey: ACCESSION at reception, PICK_UP and a MOVE to the acute lab (10 s), QUEUE_RUN
    on the haematology analyzer ``DEV_HAEM_0002``, START_RUN (60 s run), RELEASE_RESULT (a
    critical value needs NOTIFY_CRITICAL and ACK_CRITICAL first). It is the same engine,
    trust skeleton and action space as every other task, on a lab small enough that
    MaskablePPO learns to release results within minutes of CPU training.
    Agents: four, one per role the journey needs: ``A_RECEPTION_02`` (accession),
    ``A_RUNNER_03`` (carry and queue; it starts at the reception), ``A_ANALYTICS_02``
    (start runs) and ``A_SCIENTIST_01`` (release; it starts in the acute lab). A shared
    policy tells them apart by the role one-hot of the observation.
    Observation, actions: as ``throughput_sla`` (Box in [0, 1]; ``Discrete`` with action
    masks in ``infos``).
    Rewards (``reward_config``, policy data): the team's ``release`` (1.0) per released
    result plus ``on_time_release`` (0.5) when on time, the violation penalties, each
    agent's own ``blocked`` penalty (-0.02), and the shaping ``emit`` rewards paid to the
    team per emit: ACCESSIONED 0.1, WORK_QUEUED 0.1, RUN_STARTED 0.1, RESULT_GENERATED
    0.2. Each happens once per tube, so no loop of actions earns them twice (a rerun
    would, but the discrete REQUEST_RERUN slots index QC-held results, and nothing is
    held here: ``reruns_requested`` shows it stays 0).
    Termination: truncation after ``max_steps``.
    Metrics: the common ones (throughput = results released, on-time, completion rate,
    backlog at the end, turnaround), and ``shaping_emits`` (count per emit kind that
    ``reward_config.emit`` pays) and ``reruns_requested``, which show what a trained
    policy was paid for.

    Parameters live in ``policy/tasks/rl_tutorial.v0.1.yaml`` (schema
    ``policy/schemas/rl_tutorial.v0.1.schema.json``), merged over the defaults of the
    tasks file. The team's roles and zones, and the emits named in ``reward_config.emit``,
    are checked against the policy (a :class:`ConfigError` names the field).
    """

    name = "rl_tutorial"

    def __init__(self, params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._check_policy_refs()

    def task_entry(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        return dict(_tutorial_params(self.policy.policy_dir))

    def _check_policy_refs(self) -> None:
        where = f"task {self.name} ({'/'.join(TUTORIAL_FILE)})"
        world = self.policy
        roles = world["rbac_policy"]["roles"]
        zones = {z["zone_id"] for z in world["zone_layout"]["zones"]}
        staff = self.params["staff"]
        if not isinstance(staff, list) or not staff:
            raise ConfigError(f"{where}: params.staff must be a non-empty list of agents")
        seen: set[str] = set()
        for i, a in enumerate(staff):
            if a["role"] not in roles:
                raise ConfigError(
                    f"{where}: params.staff[{i}].role {a['role']!r} is not a role of the RBAC "
                    f"policy; known: {', '.join(sorted(roles))}"
                )
            if a["zone"] not in zones:
                raise ConfigError(
                    f"{where}: params.staff[{i}].zone {a['zone']!r} is not a zone of the "
                    "zone layout"
                )
            if a["agent_id"] in seen:
                raise ConfigError(f"{where}: params.staff[{i}].agent_id {a['agent_id']!r} twice")
            seen.add(a["agent_id"])
        vocab = set(world["emits_vocab"]["emits"])
        emit = self.reward_config.get("emit") or {}
        if not isinstance(emit, Mapping):
            raise ConfigError(
                f"{where}: params.reward_config.emit must be a mapping emit -> reward"
            )
        for name, value in emit.items():
            if name not in vocab:
                raise ConfigError(
                    f"{where}: params.reward_config.emit names {name!r}, which is not a "
                    "registered emit (policy/emits/emits_vocab.v0.1.yaml)"
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(
                    f"{where}: params.reward_config.emit.{name} must be a number, got {value!r}"
                )

    def episode_metrics(self, env: Any) -> dict[str, Any]:
        emits = env.counters["emits"]
        shaped = self.reward_config.get("emit") or {}
        return {
            "shaping_emits": {k: int(emits.get(k, 0)) for k in sorted(shaped)},
            "reruns_requested": int(emits.get("RERUN_REQUESTED", 0)),
        }

    def staff_agents(self) -> list[dict[str, Any]]:
        return [
            {"agent_id": a["agent_id"], "role": a["role"], "zone": a["zone"]}
            for a in self.params["staff"]
        ]
