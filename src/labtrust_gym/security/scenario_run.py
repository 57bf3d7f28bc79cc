"""Golden scenarios as an evidence run: episode logs that a bundle carries and replays.

Some engine controls are out of reach of every benchmark episode by construction: the env
stamps each event with the step time, so no event goes back in time, and masks never
offer the release of a result held by a QC failure. A broken engine that gives up such a
control changes no benchmark log, and ``verify-bundle --replay`` of a benchmark bundle
cannot notice it. The golden scenarios send those events straight to the engine.

:func:`write_scenario_run` plays scenarios on the engine in use (a mutant's, say) and writes
each as an episode log (format ``labtrust.episode_log.v1``) with its signature sidecar,
plus a ``labtrust.results.v0.1`` results file that names the logs. ``labtrust
export-evidence`` bundles the directory like any run, and the verifier's replay re-runs
each log on the clean engine. A scenario's events are all logged in step 0 of a
one-step episode (the scenario carries its own ``t_s``); the task recorded in the header
is ``golden:<scenario id>``. The metrics in the results file are the ones the verifier
recounts from the log, since a scenario has no task whose metrics would apply.

Scenarios that tamper with the audit chain (``tamper_audit`` steps) cannot be written as a
replayable log and are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from labtrust_gym.errors import ConfigError, UnknownIdError

__all__ = ["write_scenario_run", "SCENARIO_DT_S"]

#: Length of the single step of a scenario episode: the scenario's events carry their own
#: times, and the end-of-step tick at this time is a no-op once an event has moved the
#: clock past it.
SCENARIO_DT_S = 1.0


def _scenario_log(sc: dict[str, Any], policy: Any) -> tuple[bytes, str, int]:
    """The episode log of ``sc`` played on the engine in use: (bytes, final head, lines)."""
    from labtrust_gym.engine.core_env import LabEngine
    from labtrust_gym.evidence.episode_log import EpisodeLog
    from labtrust_gym.testing.golden import _build_initial_state, run_golden_scenario_detailed

    sid = str(sc["id"])
    if any("tamper_audit" in step for step in sc["steps"]):
        raise ConfigError(
            f"golden scenario {sid} tampers with the audit chain; its log could not be "
            "replayed: pick a scenario without tamper_audit steps"
        )
    # The golden runner builds the events as sent (ids filled in, signatures over the
    # audit head at that point); the same events on a fresh engine give the same chain.
    played = run_golden_scenario_detailed(sc, policy, partial=True)
    events = [rec.event for rec in played.steps]
    state, _ = _build_initial_state(sc["initial_state"])
    eng = LabEngine(policy)
    eng.reset(state, int(sc["seed"]))
    task = SimpleNamespace(name=f"golden:{sid}", max_steps=1, dt_s=SCENARIO_DT_S, policy=eng.policy)
    log = EpisodeLog.start(task, eng, int(sc["seed"]))
    for event in events:
        log.event(0, event, eng.step(event), eng)
    before = eng.audit.length
    res = eng.tick(SCENARIO_DT_S)
    if eng.audit.length != before:
        log.tick(0, SCENARIO_DT_S, res)
    _, head = log.footer_line(eng, 1)
    return log.to_bytes(eng, 1), head, len(log) + 1


def write_scenario_run(
    scenario_ids: Sequence[str], run_dir: Path | str, *, policy: Any = None
) -> list[dict[str, Any]]:
    """Play the golden scenarios ``scenario_ids`` and write each under ``run_dir/<id>/`` as
    a run (``results.json`` and ``logs/<id>.jsonl`` with its signature sidecar) that
    ``labtrust export-evidence run_dir`` bundles; returns the results documents."""
    from labtrust_gym import __version__
    from labtrust_gym.evidence.episode_log import write_log_bytes
    from labtrust_gym.evidence.logcheck import parse_log
    from labtrust_gym.evidence.recount import recount_metrics
    from labtrust_gym.outputs import atomic_write_json, check_output_dir
    from labtrust_gym.policy.loader import load_policy
    from labtrust_gym.testing.golden import load_golden_scenarios

    if not scenario_ids:
        raise ConfigError("write_scenario_run: name at least one golden scenario")
    pol = policy if policy is not None else load_policy()
    known = {str(s["id"]): s for s in load_golden_scenarios()}
    unknown = [s for s in scenario_ids if s not in known]
    if unknown:
        raise UnknownIdError(
            f"unknown golden scenario(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    out = check_output_dir(Path(run_dir))
    docs = []
    for sid in scenario_ids:
        data, head, lines = _scenario_log(known[sid], pol)
        parsed = parse_log(data)
        metrics, problems = recount_metrics(parsed)
        if not parsed.ok or problems:  # our own log: a problem here is a bug
            raise RuntimeError(
                f"scenario {sid}: its log does not check: {parsed.problems + problems}"
            )
        log_path = out / sid / "logs" / f"{sid}.jsonl"
        metrics["episode_log_sha256"] = write_log_bytes(log_path, data, head, lines)
        doc = {
            "schema_version": "labtrust.results.v0.1",
            "task": f"golden:{sid}",
            "controller": "golden",
            "policy_fingerprint": pol.fingerprint,
            "package_version": __version__,
            "seed": int(known[sid]["seed"]),
            "max_steps": 1,
            "dt_s": SCENARIO_DT_S,
            "episodes": [{"episode": 0, "seed": int(known[sid]["seed"]), "metrics": metrics}],
            "logs": [str(log_path)],
        }
        atomic_write_json(out / sid / "results.json", doc)
        docs.append(doc)
    return docs
