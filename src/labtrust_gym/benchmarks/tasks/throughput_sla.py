"""throughput_sla."""

from __future__ import annotations

from labtrust_gym.benchmarks.tasks.base import BenchmarkTask

__all__ = ["ThroughputSLA"]


class ThroughputSLA(BenchmarkTask):
    """Routine and urgent demand at the hub, measured against turnaround targets.

    Description: 30 minutes of Poisson arrivals (1.5/min) at the hub reception, run for an
    hour (routine-heavy mix with urgent and a few STAT tubes; chemistry, haematology and
    coagulation panels; ~3% of tubes defective). The team must accession, centrifuge,
    aliquot, analyse, handle critical values and release results within the SLA of each
    priority.
    Agents: the lab team of the RBAC policy (reception, runners, pre-analytics, analytics,
    QC, supervisor, clinical scientists; hub and acute site).
    Observation: ``labtrust_gym.envs.observation`` (zone, transit, carried work, work list,
    device board, result queues, frozen zones); structured view in ``infos``.
    Actions: ``labtrust_gym.envs.codec.ActionCodec`` (discrete, masked) or engine actions.
    Rewards: per release (+ bonus if on time), per-agent penalty when blocked, penalties
    per violation severity (``reward_config``).
    Termination: truncation after ``max_steps`` (360 x 10 s).
    Metrics: throughput, on_time_rate (overall and per priority), turnaround p50/p95,
    violations, blocked actions.
    """

    name = "throughput_sla"
