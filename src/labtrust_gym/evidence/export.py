"""``labtrust export-evidence``: a run directory -> a signed evidence bundle.

The run directory holds results files (``labtrust.results.v0.1``, found recursively)
whose ``logs`` name their episode logs (with ``--log-dir``). The bundle (layout in
:mod:`.bundle_format`) gets each results file byte for byte, its episode logs with their
signature sidecars, a snapshot of the policy directory whose fingerprint the results
record (checked by loading the snapshot), the environment (Python, platform, installed
distributions, loaded plugins), and a manifest with the SHA-256 of every file, signed
with the audit key. The bundle is built in a temporary directory next to ``out_dir`` and
renamed into place, so an interrupted export leaves nothing at ``out_dir``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError, OutputPathError
from labtrust_gym.evidence.bundle_format import (
    BUNDLE_FORMAT,
    ENVIRONMENT,
    MANIFEST,
    MANIFEST_SIG,
    POLICY_DIR,
    RUNS_DIR,
)
from labtrust_gym.evidence.log_format import sidecar_path_name

__all__ = ["export_evidence"]

_RESULTS_SCHEMA = "labtrust.results.v0.1"


def _find_results(run: Path) -> list[tuple[Path, bytes, dict[str, Any]]]:
    files = [run] if run.is_file() else sorted(run.rglob("*.json"))
    out = []
    for f in files:
        if f.name.endswith(".sig.json") or f.name.startswith("."):
            continue
        if run.is_dir() and any(
            (d / MANIFEST).is_file() for d in f.parents if d.is_relative_to(run)
        ):
            continue  # a results file inside an earlier bundle, not a run of its own
        try:
            raw = f.read_bytes()
            doc = json.loads(raw)
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("schema_version") == _RESULTS_SCHEMA:
            out.append((f, raw, doc))
    return out


def _locate_log(entry: Any, results_path: Path, run: Path) -> Path:
    if not isinstance(entry, str) or not entry:
        raise ConfigError(f"{results_path}: 'logs' holds {entry!r}, not a path")
    p = Path(entry)
    candidates = [p] if p.is_absolute() else [p, results_path.parent / p, run / p]
    candidates += list(run.rglob(p.name)) if run.is_dir() else []
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(
        f"{results_path}: episode log {entry} not found (looked as written, next to the "
        f"results file and under {run}); export from the directory the run wrote"
    )


def _run_id(path: Path, run: Path, taken: set[str]) -> str:
    """A bundle directory name for a results file: its path under the run, '/' -> '-'."""
    rel = path.relative_to(run).with_suffix("") if run.is_dir() else Path(path.stem)
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", "-".join(rel.parts)) or "run"
    rid, n = base, 2
    while rid in taken:
        rid, n = f"{base}-{n}", n + 1
    taken.add(rid)
    return rid


def _snapshot_policy(dest: Path, fingerprint: str, partner_id: str | None) -> None:
    """Copy the policy directory whose fingerprint is ``fingerprint``; check the copy."""
    from labtrust_gym.config import get_policy_dir
    from labtrust_gym.policy.loader import load_policy, partner_overlay_dir

    src = get_policy_dir()
    current = load_policy(src, partner_id=partner_id)
    if current.fingerprint != fingerprint:
        raise ConfigError(
            f"the results were produced under policy {fingerprint[:16]}…, the current policy "
            f"({src}{', partner ' + partner_id if partner_id else ''}) is "
            f"{current.fingerprint[:16]}…; export with LABTRUST_POLICY_DIR (and the lab "
            "profile) of the run"
        )
    shutil.copytree(
        src, dest, ignore=shutil.ignore_patterns("__pycache__", ".*", "*.pyc"), symlinks=False
    )
    overlay = partner_overlay_dir(src, partner_id)
    if overlay is not None and not Path(overlay).resolve().is_relative_to(src.resolve()):
        shutil.copytree(overlay, dest / "partners" / str(partner_id), dirs_exist_ok=True)
    copy = load_policy(dest, partner_id=partner_id)
    if copy.fingerprint != fingerprint:
        raise ConfigError(
            f"the policy snapshot in {dest} loads with fingerprint {copy.fingerprint[:16]}…, "
            f"not {fingerprint[:16]}… (a partner overlay resolved elsewhere?)"
        )


def _environment() -> dict[str, Any]:
    from labtrust_gym._version import __version__
    from labtrust_gym.plugins import loaded_plugins, plugin_overrides
    from labtrust_gym.profiles import active_lab_profile

    dists = {}
    for d in metadata.distributions():
        name = d.name
        if name:
            dists[str(name)] = d.version
    prof = active_lab_profile()
    return {
        "package_version": __version__,
        "python": sys.version,
        "platform": platform.platform(),
        "distributions": dict(sorted(dists.items(), key=lambda kv: kv[0].lower())),
        "plugins": loaded_plugins(),
        "plugin_overrides": plugin_overrides(),
        "lab_profile": prof.record() if prof is not None else None,
    }


def export_evidence(run_dir: Path | str, out_dir: Path | str) -> Path:
    """Write the evidence bundle of ``run_dir`` to ``out_dir`` (which must not exist or
    be empty); returns ``out_dir``. ConfigError (naming the file) when the run has no
    results, a results file has no episode logs, a log or its signature is missing, or
    the current policy is not the run's."""
    from labtrust_gym._version import __version__
    from labtrust_gym.evidence.crypto import sign_file_bytes
    from labtrust_gym.evidence.keys import audit_key
    from labtrust_gym.outputs import atomic_write_bytes, check_output_dir

    run = Path(run_dir)
    out = Path(out_dir)
    if not run.exists():
        raise ConfigError(f"--run {run}: no such directory or results file")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputPathError(
            f"--out {out}: exists and is not an empty directory; choose a new path"
        )
    check_output_dir(out.parent if str(out.parent) else Path("."), "bundle parent directory")
    found = _find_results(run)
    if not found:
        raise ConfigError(f"{run}: no results files ({_RESULTS_SCHEMA}) found")
    fps = {doc.get("policy_fingerprint") for _, _, doc in found}
    if len(fps) != 1 or not isinstance(next(iter(fps)), str):
        raise ConfigError(
            f"{run}: the results were produced under {len(fps)} policies; export each "
            "policy's runs to its own bundle"
        )
    fingerprint = str(next(iter(fps)))
    partners = {(doc.get("lab_profile") or {}).get("partner_id") for _, _, doc in found}
    if len(partners) != 1:
        raise ConfigError(f"{run}: the results name different partner overlays; export apart")
    partner_id = next(iter(partners))
    key = audit_key()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".labtrust-bundle-", dir=out.parent))
    try:
        runs: list[dict[str, Any]] = []
        taken: set[str] = set()
        for rpath, raw, doc in found:
            rid = _run_id(rpath, run, taken)
            rdir = f"{RUNS_DIR}/{rid}"
            logs = doc.get("logs")
            eps = doc.get("episodes")
            if not isinstance(logs, list) or not logs:
                raise ConfigError(
                    f"{rpath}: no episode logs (the run was made without --log-dir); re-run "
                    "with --log-dir to export its evidence"
                )
            if not isinstance(eps, list) or len(logs) != len(eps):
                raise ConfigError(f"{rpath}: {len(logs)} logs for {len(eps or [])} episodes")
            atomic_write_bytes(staging / rdir / "results.json", raw, fsync=False)
            entry: dict[str, Any] = {"id": rid, "results": f"{rdir}/results.json", "logs": []}
            for item in logs:
                src = _locate_log(item, rpath, run)
                sig = src.with_name(sidecar_path_name(src.name))
                if not sig.is_file():
                    raise ConfigError(
                        f"{src}: no signature sidecar {sig.name}; logs written by this version "
                        "are signed when written: re-run the benchmark"
                    )
                rel = f"{rdir}/logs/{src.name}"
                if rel in entry["logs"]:
                    raise ConfigError(f"{rpath}: episode log {src.name} is listed twice")
                atomic_write_bytes(staging / rel, src.read_bytes(), fsync=False)
                atomic_write_bytes(staging / sidecar_path_name(rel), sig.read_bytes(), fsync=False)
                entry["logs"].append(rel)
            runs.append(entry)
        _snapshot_policy(staging / POLICY_DIR, fingerprint, partner_id)
        atomic_write_bytes(
            staging / ENVIRONMENT,
            (json.dumps(_environment(), indent=2) + "\n").encode(),
            fsync=False,
        )
        files = []
        for f in sorted(staging.rglob("*")):
            if f.is_file():
                data = f.read_bytes()
                files.append(
                    {
                        "path": f.relative_to(staging).as_posix(),
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "bytes": len(data),
                    }
                )
        manifest = {
            "format": BUNDLE_FORMAT,
            "package_version": __version__,
            "policy": {"dir": POLICY_DIR, "fingerprint": fingerprint, "partner_id": partner_id},
            "runs": runs,
            "files": files,
        }
        mbytes = (json.dumps(manifest, indent=2) + "\n").encode()
        atomic_write_bytes(staging / MANIFEST, mbytes)
        sig_doc = sign_file_bytes(key.private_key, "bundle_manifest", mbytes)
        atomic_write_bytes(staging / MANIFEST_SIG, (json.dumps(sig_doc, indent=2) + "\n").encode())
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(staging, out)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
        raise
    return out
