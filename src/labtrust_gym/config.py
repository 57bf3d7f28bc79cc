"""Where the policy lives (the public face of :mod:`labtrust_gym.paths`).

The *base policy directory* holds the core policy documents the engine loads. Resolution
order:

1. ``LABTRUST_POLICY_DIR``: a policy directory, used exactly as given (it is the
   ``policy/`` directory itself, not its parent);
2. ``LABTRUST_ROOT``: a root laid out as ``<root>/policy/...``;
3. a source checkout: the first parent of this file that holds ``policy/`` and
   ``pyproject.toml`` (editable installs, running from the repository);
4. the wheel: the policy tree shipped inside the package as ``labtrust_gym/_policy``.

Policy *artifacts* (lab profiles, scale presets, study specs, benchmark packs, partner
overlays, golden scenarios, coordination catalogues) are also searched for in the
current directory and ``LABTRUST_EXTRA_ROOTS`` before the base: see
:mod:`labtrust_gym.artifacts`. :func:`policy_path` goes through that resolver for the
artifact directories. Environment variables are read at every call.
"""

from __future__ import annotations

from pathlib import Path

from labtrust_gym.artifacts import kind_for_parts, resolve_artifact
from labtrust_gym.paths import get_policy_dir, get_repo_root, policy_dir_source

__all__ = ["get_repo_root", "get_policy_dir", "policy_path", "policy_dir_source"]


def policy_path(policy_root: Path | str | None, *parts: str) -> Path:
    """Build a path under the policy directory of ``policy_root``.

    A path into an artifact directory (``studies/<name>.v0.1.yaml``,
    ``lab_profiles/...``, ``benchmark_packs/...``, ``golden/...``, ``partners/<id>/...``)
    is resolved across the artifact roots (:mod:`labtrust_gym.artifacts`): the root that
    holds it (see there for several). When no root holds it, the path under the base (or
    pinned) policy directory is returned, so "file not found" errors name the expected
    place.
    """
    kind = kind_for_parts(tuple(parts))
    if kind is not None:
        found = resolve_artifact(kind.name, parts[1], policy_root, required=False)
        if found is not None:
            return found.joinpath(*parts[2:]) if kind.form == "dir" else found
    return get_policy_dir(policy_root).joinpath(*parts)
