"""Where the policy lives.

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

import os
from pathlib import Path

from labtrust_gym.errors import PolicyError

__all__ = ["get_repo_root", "get_policy_dir", "policy_path", "policy_dir_source"]

_PKG_DIR = Path(__file__).resolve().parent


def _checkout_root() -> Path | None:
    for parent in _PKG_DIR.parents:
        if (parent / "policy").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    return None


def _looks_like_policy(d: Path) -> bool:
    """A policy directory holds the RBAC and zone documents (whatever it is called)."""
    return (d / "rbac").is_dir() and (d / "zones").is_dir()


def policy_dir_source() -> str:
    """Where the base policy directory comes from: ``LABTRUST_POLICY_DIR``,
    ``LABTRUST_ROOT``, ``source checkout`` or ``installed package``."""
    if os.environ.get("LABTRUST_POLICY_DIR"):
        return "LABTRUST_POLICY_DIR"
    if os.environ.get("LABTRUST_ROOT"):
        return "LABTRUST_ROOT"
    return "source checkout" if _checkout_root() is not None else "installed package"


def get_repo_root() -> Path:
    """Return the root that holds ``policy/`` (checkout root, or the installed package)."""
    env = os.environ.get("LABTRUST_POLICY_DIR")
    if env:
        return Path(env).resolve().parent
    root_env = os.environ.get("LABTRUST_ROOT")
    if root_env:
        return get_policy_dir(None).parent
    root = _checkout_root()
    if root is not None:
        return root
    return _PKG_DIR


def _root_env_policy_dir(value: str) -> Path:
    root = Path(value).expanduser().resolve()
    for cand in (root / "policy", root / "_policy"):
        if cand.is_dir():
            return cand
    if root.is_dir() and (root.name in ("policy", "_policy") or _looks_like_policy(root)):
        return root
    raise PolicyError(
        f"LABTRUST_ROOT={value!r} holds no policy/ directory; point it at a root laid out "
        "as <root>/policy/..."
    )


def get_policy_dir(policy_root: Path | str | None = None) -> Path:
    """Return the ``policy/`` directory for ``policy_root`` (or the base policy directory)."""
    if policy_root is None:
        env = os.environ.get("LABTRUST_POLICY_DIR")
        if env:
            d = Path(env).resolve()
            if not d.is_dir():
                raise PolicyError(
                    f"LABTRUST_POLICY_DIR={env!r} is not a directory; point it at a policy/ tree"
                )
            return d
        root_env = os.environ.get("LABTRUST_ROOT")
        if root_env:
            return _root_env_policy_dir(root_env)
        root = _checkout_root()
        if root is not None:
            return root / "policy"
        d = _PKG_DIR / "_policy"
        if not d.is_dir():
            raise PolicyError(
                f"no policy tree found: {d} is missing; reinstall labtrust-gym or set "
                "LABTRUST_POLICY_DIR"
            )
        return d
    root = Path(policy_root)
    if root.is_dir() and (root.name in ("policy", "_policy") or _looks_like_policy(root)):
        return root
    if (root / "policy").is_dir():
        return root / "policy"
    if (root / "_policy").is_dir():
        return root / "_policy"
    raise PolicyError(
        f"{root} holds no policy/ directory; pass the repository root or a policy dir"
    )


def policy_path(policy_root: Path | str | None, *parts: str) -> Path:
    """Build a path under the policy directory of ``policy_root``.

    A path into an artifact directory (``studies/<name>.v0.1.yaml``,
    ``lab_profiles/...``, ``benchmark_packs/...``, ``golden/...``, ``partners/<id>/...``)
    is resolved across the artifact roots (:mod:`labtrust_gym.artifacts`): the root that
    holds it, or :class:`~labtrust_gym.artifacts.ArtifactCollisionError` when several do.
    When no root holds it, the path under the base (or pinned) policy directory is
    returned, so "file not found" errors name the expected place.
    """
    from labtrust_gym.artifacts import kind_for_parts, resolve_artifact

    kind = kind_for_parts(tuple(parts))
    if kind is not None:
        found = resolve_artifact(kind.name, parts[1], policy_root, required=False)
        if found is not None:
            return found.joinpath(*parts[2:]) if kind.form == "dir" else found
    return get_policy_dir(policy_root).joinpath(*parts)
