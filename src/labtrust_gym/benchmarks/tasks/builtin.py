"""The built-in tasks: name -> ``module:class``, registered lazily through the public
registry (a run imports the module of its own task only)."""

from __future__ import annotations

_PKG = "labtrust_gym.benchmarks.tasks"

BUILTIN_TASKS: dict[str, str] = {
    "throughput_sla": f"{_PKG}.throughput_sla:ThroughputSLA",
    "stat_insertion": f"{_PKG}.stat_insertion:StatInsertion",
    "qc_cascade": f"{_PKG}.qc_cascade:QCCascade",
    "adversarial_disruption": f"{_PKG}.adversarial_disruption:AdversarialDisruption",
    "multi_site_stat": f"{_PKG}.multi_site_stat:MultiSiteStat",
    "insider_key_misuse": f"{_PKG}.insider_key_misuse:InsiderKeyMisuse",
    "coord_scale": f"{_PKG}.coord:CoordScale",
    "coord_risk": f"{_PKG}.coord:CoordRisk",
    "device_outage_surge": f"{_PKG}.device_outage_surge:DeviceOutageSurge",
    "reagent_stockout": f"{_PKG}.reagent_stockout:ReagentStockout",
    "llm_prompt_injection": f"{_PKG}.llm_prompt_injection:LLMPromptInjection",
    "rl_tutorial": f"{_PKG}.rl_tutorial:RLTutorial",
}
