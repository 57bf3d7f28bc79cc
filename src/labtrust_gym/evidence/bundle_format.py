"""Layout of an evidence bundle (``labtrust.evidence_bundle.v1``); standard library only.

::

    BUNDLE/
      manifest.json          format, package version, policy, runs, files (path, sha256, bytes)
      manifest.sig.json      the audit key's signature of manifest.json
      environment.json       Python, platform, installed distributions, loaded plugins
      policy/...             snapshot of the policy directory the runs used
      runs/<run id>/results.json
      runs/<run id>/logs/<log>.jsonl (+ <log>.jsonl.sig.json)

``manifest.json`` lists every other file of the bundle; a file that is not listed, or
listed with another digest or size, fails verification. ``runs`` gives, per results
file, the bundle path of each episode's log in episode order.
"""

from __future__ import annotations

from pathlib import PurePosixPath

__all__ = [
    "BUNDLE_FORMAT",
    "MANIFEST",
    "MANIFEST_SIG",
    "ENVIRONMENT",
    "POLICY_DIR",
    "RUNS_DIR",
    "safe_relpath",
]

BUNDLE_FORMAT = "labtrust.evidence_bundle.v1"
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig.json"
ENVIRONMENT = "environment.json"
POLICY_DIR = "policy"
RUNS_DIR = "runs"


def safe_relpath(p: object) -> str | None:
    """``p`` if it is a relative POSIX path inside the bundle (no ``..``, no absolute
    path, no backslash, no empty part), else None."""
    if not isinstance(p, str) or not p or "\\" in p or "\x00" in p:
        return None
    pp = PurePosixPath(p)
    if pp.is_absolute() or any(part in ("", ".", "..") for part in p.split("/")):
        return None
    return str(pp)
