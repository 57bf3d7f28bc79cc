"""Benchmark packs: a named list of benchmark runs, their loaders and the pack runner.

A pack (``benchmark_packs/<pack_id>.v0.1.yaml`` in any artifact root, schema
``benchmark_pack.v0.1``) lists runs, each with the arguments of ``run-benchmark``
(``task``, ``episodes``, ``seed``, ``scale``, ``coord_method``, ``injection``,
``controller``, ``timing``, ``params``).

A *loader* is ``loader(repo_root, prefer_v02, partner_id) -> (pack, version, path)``;
register one with :func:`register_benchmark_pack_loader` (or the entry-point group
``labtrust_gym.benchmark_pack_loaders``) and select it with
``load_benchmark_pack(..., loader_id=...)`` or a lab profile's
``benchmark_pack_loader_id``. The ``default`` loader resolves the pack in the artifact
roots (``<pack_id>.v0.2.yaml`` first with ``prefer_v02``, else ``<pack_id>.v0.1.yaml``; a
lab profile's ``benchmark_pack_path`` replaces the default pack), merges a partner's
``partners/<id>/benchmark_packs/<file>`` over it, and checks it against the schema and
the registered tasks. :func:`run_benchmark_pack` runs a loaded pack: one results file
per run and ``pack_index.json``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.registry import BUILTIN_ORIGIN, Registry, require_signature

__all__ = [
    "PACK_LOADERS",
    "PackLoader",
    "default_pack_loader",
    "register_benchmark_pack_loader",
    "get_benchmark_pack_loader",
    "list_benchmark_pack_loaders",
    "load_benchmark_pack",
    "run_benchmark_pack",
]

PackLoader = Callable[..., tuple[dict[str, Any], str, Path]]
#: File whose name selects the pack schema (``schemas/benchmark_pack.v0.1.schema.json``).
_SCHEMA_REL = "benchmark_packs/benchmark_pack.v0.1.yaml"


def default_pack_loader(
    repo_root: Path | str | None = None,
    prefer_v02: bool = False,
    partner_id: str | None = None,
    *,
    pack_id: str = "default",
) -> tuple[dict[str, Any], str, Path]:
    """The default loader (see the module docstring)."""
    from labtrust_gym.artifacts import resolve_artifact
    from labtrust_gym.benchmarks.tasks import list_tasks
    from labtrust_gym.config import get_policy_dir
    from labtrust_gym.policy.loader import load_yaml, merge_overlay
    from labtrust_gym.policy.validate import raise_for_problems, validate_document
    from labtrust_gym.profiles import profile_path_override

    override = profile_path_override("benchmark_pack_path") if pack_id == "default" else None
    path: Path | None = override
    if path is None and prefer_v02:
        path = resolve_artifact(
            "benchmark_packs", f"{pack_id}.v0.2.yaml", repo_root, required=False
        )
    if path is None:
        path = resolve_artifact(
            "benchmark_packs", f"{pack_id}.v0.1.yaml", repo_root, required=False
        )
    if path is None:
        resolve_artifact("benchmark_packs", pack_id, repo_root)  # raises, listing the known
        raise AssertionError("unreachable")
    version = "0.2" if path.name.endswith(".v0.2.yaml") else "0.1"
    doc = load_yaml(path)
    source = str(path)
    if partner_id:
        pdir = resolve_artifact("partners", partner_id, repo_root)
        assert pdir is not None
        over = pdir / "benchmark_packs" / path.name
        if over.is_file():
            doc = merge_overlay(doc, load_yaml(over))
            source += f" + {over}"
    raise_for_problems(validate_document(get_policy_dir(repo_root), _SCHEMA_REL, doc, source))
    tasks = set(list_tasks())
    for i, run in enumerate(doc["runs"]):
        if run["task"] not in tasks:
            raise ConfigError(
                f"{source}: runs[{i}].task {run['task']!r} is not a registered task; known: "
                f"{', '.join(sorted(tasks))}"
            )
    pack = dict(doc)
    pack["source"] = source
    pack["partner_id"] = partner_id
    return pack, version, path


def _check(loader_id: str, loader: Any) -> None:
    require_signature(
        "benchmark pack loader",
        loader_id,
        loader,
        (None, False, None),
        "(repo_root, prefer_v02, partner_id)",
    )


def _builtins() -> None:
    PACK_LOADERS.register("default", default_pack_loader, origin=BUILTIN_ORIGIN)


PACK_LOADERS: Registry[PackLoader] = Registry(
    "benchmark pack loader", check=_check, load_builtins=_builtins, plugins=True
)


def register_benchmark_pack_loader(
    loader_id: str, loader: PackLoader, *, override: bool = False, origin: str = "runtime"
) -> None:
    """Register ``loader(repo_root, prefer_v02, partner_id) -> (pack, version, path)``."""
    PACK_LOADERS.register(loader_id, loader, override=override, origin=origin)


def get_benchmark_pack_loader(loader_id: str) -> PackLoader:
    return PACK_LOADERS.get(loader_id)


def list_benchmark_pack_loaders() -> list[str]:
    return PACK_LOADERS.ids()


def load_benchmark_pack(
    repo_root: Path | str | None = None,
    prefer_v02: bool = False,
    partner_id: str | None = None,
    *,
    loader_id: str | None = None,
    pack_id: str | None = None,
) -> tuple[dict[str, Any], str, Path]:
    """Load a pack with a registered loader (default: the active lab profile's
    ``benchmark_pack_loader_id``, else ``default``; the partner defaults to the
    profile's). ``pack_id`` selects a pack other than the loader's default."""
    from labtrust_gym.profiles import active_lab_profile, profile_provider_id

    lid = loader_id or profile_provider_id("benchmark_pack_loader_id")
    loader = get_benchmark_pack_loader(lid)
    prof = active_lab_profile()
    if partner_id is None and prof is not None:
        partner_id = prof.partner_id
    if pack_id is None:
        return loader(repo_root, prefer_v02, partner_id)
    params = inspect.signature(loader).parameters
    if "pack_id" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise ConfigError(f"benchmark pack loader {lid!r} does not take a pack id")
    return loader(repo_root, prefer_v02, partner_id, pack_id=pack_id)


def run_benchmark_pack(
    pack: dict[str, Any],
    out_dir: Path | str,
    *,
    policy_root: Path | str | None = None,
    partner_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run every run of ``pack``; write ``<i>_<task>.json`` per run and
    ``pack_index.json`` to ``out_dir``; return the index."""
    from labtrust_gym.benchmarks.runner import run_benchmark
    from labtrust_gym.benchmarks.tasks import get_task
    from labtrust_gym.outputs import atomic_write_json, check_output_dir, check_output_file
    from labtrust_gym.plugins import loaded_plugins, plugin_overrides
    from labtrust_gym.policy.loader import load_policy

    out = check_output_dir(out_dir, "pack output directory")
    for i, run in enumerate(pack["runs"]):
        check_output_file(out / f"{i:02d}_{run['task']}.json", "pack results file")
    check_output_file(out / "pack_index.json", "pack index")
    partner = partner_id if partner_id is not None else pack.get("partner_id")
    policy = load_policy(policy_root, partner_id=partner)
    runs = []
    for i, run in enumerate(pack["runs"]):
        kw: dict[str, Any] = {"policy": policy, "params": run.get("params")}
        if run.get("scale"):
            kw["scale_config"] = run["scale"]
        if run.get("timing"):
            kw["timing_mode"] = run["timing"]
        task = get_task(run["task"])(**kw)
        path = out / f"{i:02d}_{run['task']}.json"
        res = run_benchmark(
            task,
            int(run.get("episodes", 1)),
            int(run.get("seed", 0)),
            controller=run.get("controller", "scripted"),
            coord_method=run.get("coord_method"),
            injection=run.get("injection"),
            out=path,
        )
        thr = res["summary"].get("throughput", {}).get("mean")
        runs.append(
            {
                **{k: run[k] for k in sorted(run) if k != "params"},
                "results": str(path),
                "throughput_mean": thr,
                "violations_mean": res["summary"].get("violations_total", {}).get("mean"),
            }
        )
        if progress is not None:
            progress(i + 1, len(pack["runs"]))
    index = {
        "pack_id": pack.get("pack_id"),
        "version": pack.get("version"),
        "source": pack.get("source"),
        "partner_id": policy.partner_id,
        "policy_fingerprint": policy.fingerprint,
        "runs": runs,
        "plugins": loaded_plugins(),
        "plugin_overrides": plugin_overrides(),
    }
    atomic_write_json(out / "pack_index.json", index)
    return index
