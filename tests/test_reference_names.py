"""The names the reference documents give (extension guide, artifact-root proposal) are
the names readers will type: each must import."""

from __future__ import annotations

import importlib

import pytest

NAMES = {
    "labtrust_gym.config": ["get_repo_root", "policy_path", "get_policy_dir"],
    "labtrust_gym.domain.registry": [
        "register_domain",
        "get_domain_adapter_factory",
        "list_domains",
    ],
    "labtrust_gym.domain": ["LabTrustEnvAdapter", "BenchmarkEnv"],
    "labtrust_gym.baselines.coordination.registry": ["register_coordination_method"],
    "labtrust_gym.baselines.coordination": ["CoordinationMethod"],
    "labtrust_gym.benchmarks.tasks": ["register_task", "BenchmarkTask"],
    "labtrust_gym.engine.invariants_runtime": ["register_invariant_handler"],
    "labtrust_gym.benchmarks.security_runner": [
        "register_security_suite_provider",
        "get_security_suite_provider",
        "list_security_suite_providers",
    ],
    "labtrust_gym.security.safety_case": [
        "register_safety_case_provider",
        "get_safety_case_provider",
        "list_safety_case_providers",
    ],
    "labtrust_gym.benchmarks.metrics": [
        "register_metrics_aggregator",
        "get_metrics_aggregator",
        "list_metrics_aggregators",
        "compute_episode_metrics",
    ],
    "labtrust_gym.benchmarks.official_pack": [
        "register_benchmark_pack_loader",
        "load_benchmark_pack",
    ],
    "labtrust_gym.plugins": ["load_plugins"],
    "labtrust_gym.artifacts": ["get_artifact_roots", "resolve_artifact", "ArtifactCollisionError"],
}


@pytest.mark.parametrize("module", sorted(NAMES))
def test_reference_names_import(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [n for n in NAMES[module] if not hasattr(mod, n)]
    assert missing == []
    assert all(n in getattr(mod, "__all__", NAMES[module]) for n in NAMES[module])
