"""Where the policy lives.

The policy root is the directory that contains ``policy/``. Resolution order:

1. ``LABTRUST_POLICY_DIR``: a policy directory, used exactly as given (it is the
   ``policy/`` directory itself, not its parent);
2. a source checkout: the first parent of this file that holds ``policy/`` and
   ``pyproject.toml`` (editable installs, running from the repository);
3. the wheel: the policy tree shipped inside the package as ``labtrust_gym/_policy``.
"""

from __future__ import annotations

import os
from pathlib import Path

from labtrust_gym.errors import PolicyError

__all__ = ["get_repo_root", "get_policy_dir", "policy_path"]

_PKG_DIR = Path(__file__).resolve().parent


def _checkout_root() -> Path | None:
    for parent in _PKG_DIR.parents:
        if (parent / "policy").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    return None


def _looks_like_policy(d: Path) -> bool:
    """A policy directory holds the RBAC and zone documents (whatever it is called)."""
    return (d / "rbac").is_dir() and (d / "zones").is_dir()


def get_repo_root() -> Path:
    """Return the root that holds ``policy/`` (checkout root, or the installed package)."""
    env = os.environ.get("LABTRUST_POLICY_DIR")
    if env:
        return Path(env).resolve().parent
    root = _checkout_root()
    if root is not None:
        return root
    return _PKG_DIR


def get_policy_dir(policy_root: Path | str | None = None) -> Path:
    """Return the ``policy/`` directory for ``policy_root`` (or the default root)."""
    if policy_root is None:
        env = os.environ.get("LABTRUST_POLICY_DIR")
        if env:
            d = Path(env).resolve()
            if not d.is_dir():
                raise PolicyError(
                    f"LABTRUST_POLICY_DIR={env!r} is not a directory; point it at a policy/ tree"
                )
            return d
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
    """Build a path under the policy directory of ``policy_root``."""
    return get_policy_dir(policy_root).joinpath(*parts)
