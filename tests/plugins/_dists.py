"""Real (uninstalled-by-pip) distributions for the plugin tests: a site directory with the
package's modules and a ``<name>-<version>.dist-info`` (METADATA, entry_points.txt,
RECORD), put on ``sys.path`` so ``importlib.metadata`` finds it like any installed one."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from labtrust_gym import extensions, plugins, profiles, registry


def write_dist(
    site: Path,
    name: str,
    version: str,
    entry_points: Mapping[str, Mapping[str, str]],
    modules: Mapping[str, str],
) -> Path:
    """Write package files (``{"pkg/__init__.py": source}``) and the dist-info into ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    for rel, src in modules.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(src), encoding="utf-8")
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = []
    for group, eps in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in eps.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines), encoding="utf-8")
    (info / "RECORD").write_text(
        "".join(f"{rel},,\n" for rel in modules) + f"{info.name}/METADATA,,\n", encoding="utf-8"
    )
    return site


@contextmanager
def sandbox() -> Iterator[list[Path]]:
    """Restore every extension registry, the override log, the plugin loader's state, the
    active lab profile, ``sys.path`` and the modules imported from the test sites."""
    regs = extensions.extension_registries()
    for reg in regs.values():
        reg.ids()  # built-ins in place before the snapshot
    snaps = {k: r.snapshot() for k, r in regs.items()}
    overrides = list(registry.OVERRIDES)
    records = dict(plugins._STATE.records)
    broken = dict(plugins._STATE.broken)
    errors = dict(plugins._STATE.errors)
    pending = {g: list(q) for g, q in registry._PENDING.items()}
    complete = registry.LOADER.complete
    active = list(profiles._ACTIVE)
    path = list(sys.path)
    before = set(sys.modules)
    sites: list[Path] = []
    try:
        yield sites
    finally:
        for k, r in regs.items():
            r.restore(snaps[k])
        registry.OVERRIDES[:] = overrides
        plugins._STATE.records.clear()
        plugins._STATE.records.update(records)
        plugins._STATE.broken.clear()
        plugins._STATE.broken.update(broken)
        plugins._STATE.errors.clear()
        plugins._STATE.errors.update(errors)
        registry._PENDING.clear()
        registry._PENDING.update(pending)
        registry.LOADER.complete = complete
        plugins._STATE.loading = False
        profiles._ACTIVE[:] = active
        sys.path[:] = path
        for mod in set(sys.modules) - before:
            m = sys.modules.get(mod)
            f = getattr(m, "__file__", None) or ""
            if any(f.startswith(str(s)) for s in sites):
                del sys.modules[mod]
        importlib.invalidate_caches()


def install(sites: list[Path], site: Path) -> None:
    """Put a test site on ``sys.path`` (first), as an installed distribution would be."""
    sys.path.insert(0, str(site))
    sites.append(site)
    importlib.invalidate_caches()


def fresh_loader() -> None:
    """Forget every plugin (its registrations too), so the next registry use or
    load_plugins call scans the entry points again, as in a new process. Plugins
    installed in the environment (the example packages, say) are loaded again then."""
    plugins._reset_for_tests()
    for reg in extensions.extension_registries().values():
        for ident, origin in list(reg.origins.items()):
            if origin.startswith("plugin "):
                del reg._items[ident]
                del reg.origins[ident]


GOOD_MODULE = '''
from typing import Any

from labtrust_gym.baselines.coordination import CoordinationMethod
from labtrust_gym.benchmarks.metrics import compute_episode_metrics
from labtrust_gym.benchmarks.tasks import BenchmarkTask


class ShortShift(BenchmarkTask):
    """Ten minutes of the default demand."""

    name = "acme_short_shift"

    def __init__(self, params: Any = None, **kw: Any) -> None:
        super().__init__({"max_steps": 60, **(params or {})}, **kw)


class Idle(CoordinationMethod):
    def propose_actions(self, obs: Any, infos: Any, t: float) -> Any:
        return {a: {"action_index": 0, "action_info": {}} for a in obs}


def idle_factory(policy: Any, repo_root: Any, scale_config: Any, params: Any) -> Idle:
    return Idle(policy, repo_root, scale_config, params)


def always_ok(env: Any, event: Any, params: Any) -> Any:
    return None


def tagged_metrics(env: Any, task: Any = None, wall_s: Any = None) -> Any:
    m = compute_episode_metrics(env, task, wall_s)
    m["acme.tag"] = 1
    return m


def domain_factory(workflow_spec: Any, config: Any) -> Any:
    from labtrust_gym.engine.core_env import LabEngine

    return LabEngine()


class Suite:
    def load_suite(self, policy_root: Any, partner_id: Any) -> Any:
        return {"suite_id": "acme", "attacks": []}

    def run_suite(self, policy_root: Any, repo_root: Any, **kw: Any) -> Any:
        return [{"attack_id": "ACME-1", "passed": True}]


class Case:
    def load_claims(self, policy_root: Any) -> Any:
        return {"claims": []}

    def build_safety_case(self, policy_root: Any) -> Any:
        return {"claims": [], "summary": {"supported": 0, "not_supported": 0,
                                         "not_evaluated": 0}}


def pack_loader(repo_root: Any, prefer_v02: bool, partner_id: Any) -> Any:
    from pathlib import Path

    return {"pack_id": "acme", "runs": [{"task": "acme_short_shift"}]}, "0.1", Path("acme")
'''

GOOD_EPS: dict[str, dict[str, str]] = {
    "labtrust_gym.tasks": {"acme_short_shift": "acme_lab.ext:ShortShift"},
    "labtrust_gym.coordination_methods": {"acme_idle": "acme_lab.ext:idle_factory"},
    "labtrust_gym.invariant_handlers": {"state.acme_ok": "acme_lab.ext:always_ok"},
    "labtrust_gym.metrics_aggregators": {"acme_tagged": "acme_lab.ext:tagged_metrics"},
    "labtrust_gym.domains": {"acme_domain": "acme_lab.ext:domain_factory"},
    "labtrust_gym.security_suite_providers": {"acme_suite": "acme_lab.ext:Suite"},
    "labtrust_gym.safety_case_providers": {"acme_case": "acme_lab.ext:Case"},
    "labtrust_gym.benchmark_pack_loaders": {"acme_pack": "acme_lab.ext:pack_loader"},
}


def good_dist(root: Path) -> Path:
    return write_dist(
        root / "site_good",
        "acme-lab",
        "1.2.3",
        GOOD_EPS,
        {"acme_lab/__init__.py": "", "acme_lab/ext.py": GOOD_MODULE},
    )
