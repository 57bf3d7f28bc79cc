"""Registers the built-in tasks through the public registry."""

from __future__ import annotations

from labtrust_gym.benchmarks.tasks.adversarial_disruption import AdversarialDisruption
from labtrust_gym.benchmarks.tasks.coord import CoordRisk, CoordScale
from labtrust_gym.benchmarks.tasks.device_outage_surge import DeviceOutageSurge
from labtrust_gym.benchmarks.tasks.insider_key_misuse import InsiderKeyMisuse
from labtrust_gym.benchmarks.tasks.llm_prompt_injection import LLMPromptInjection
from labtrust_gym.benchmarks.tasks.multi_site_stat import MultiSiteStat
from labtrust_gym.benchmarks.tasks.qc_cascade import QCCascade
from labtrust_gym.benchmarks.tasks.reagent_stockout import ReagentStockout
from labtrust_gym.benchmarks.tasks.rl_tutorial import RLTutorial
from labtrust_gym.benchmarks.tasks.stat_insertion import StatInsertion
from labtrust_gym.benchmarks.tasks.throughput_sla import ThroughputSLA

BUILTIN_TASKS = (
    ThroughputSLA,
    StatInsertion,
    QCCascade,
    AdversarialDisruption,
    MultiSiteStat,
    InsiderKeyMisuse,
    CoordScale,
    CoordRisk,
    DeviceOutageSurge,
    ReagentStockout,
    LLMPromptInjection,
    RLTutorial,
)
