"""The improvement orchestrator (``labtrust improve``): a loop of propose, collect, train,
eval, decide, apply and knowledge stages under a constitution, with a hash-chained event
log and a SQLite job store that resumes.

* :mod:`~labtrust_gym.improve.constitution`: ``Constitution``, ``Verdict``,
  ``ConstitutionError`` (``policy/improve/``);
* :mod:`~labtrust_gym.improve.events`: ``Event``, ``EventBus``, ``verify_chain``;
* :mod:`~labtrust_gym.improve.store`: ``JobStore`` (WAL, ``user_version``, migrations);
* :mod:`~labtrust_gym.improve.decide`: ``decide``, a pure function;
* :mod:`~labtrust_gym.improve.propose`: the deterministic and the LLM proposers;
* :mod:`~labtrust_gym.improve.stages`: the collect, train and eval work;
* :mod:`~labtrust_gym.improve.knowledge`: ``KnowledgeAgent`` (``ingest``, ``lint``);
* :mod:`~labtrust_gym.improve.records`: ``Proposal``, ``EvalReport``, ``CheckpointRecord``;
* :mod:`~labtrust_gym.improve.config`: ``ImproveConfig``;
* :mod:`~labtrust_gym.improve.run_dir`: the run directory, ``run_summary``, ``fingerprint``;
* :mod:`~labtrust_gym.improve.loop`: ``start_run``, ``resume_run``.

Layering: above skillopt and studies (it runs their episodes and gate), below the CLI.
See ``docs/improve.md``.
"""

from labtrust_gym.improve.config import ImproveConfig, load_config
from labtrust_gym.improve.constitution import (
    Constitution,
    ConstitutionError,
    Verdict,
    load_constitution,
)
from labtrust_gym.improve.decide import DecideConfig, Decision, decide
from labtrust_gym.improve.events import Event, EventBus, read_events, verify_chain
from labtrust_gym.improve.knowledge import KnowledgeAgent
from labtrust_gym.improve.loop import resume_run, start_run
from labtrust_gym.improve.records import CheckpointRecord, EvalReport, Proposal
from labtrust_gym.improve.run_dir import RunPaths, fingerprint, run_summary
from labtrust_gym.improve.store import JobStore

__all__ = [
    "CheckpointRecord",
    "Constitution",
    "ConstitutionError",
    "DecideConfig",
    "Decision",
    "EvalReport",
    "Event",
    "EventBus",
    "ImproveConfig",
    "JobStore",
    "KnowledgeAgent",
    "Proposal",
    "RunPaths",
    "Verdict",
    "decide",
    "fingerprint",
    "load_config",
    "load_constitution",
    "read_events",
    "resume_run",
    "run_summary",
    "start_run",
    "verify_chain",
]
