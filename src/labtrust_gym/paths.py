"""Where the policy lives: the base policy directory and the artifact search roots.

This is the lowest layer of path resolution (it imports nothing of LabTrust-Gym but the
errors); :mod:`labtrust_gym.config` re-exports the public names and adds
:func:`~labtrust_gym.config.policy_path`.

The *base policy directory* holds the core policy documents the engine loads. Resolution
order:

1. ``LABTRUST_POLICY_DIR``: a policy directory, used exactly as given (it is the
   ``policy/`` directory itself, not its parent);
2. ``LABTRUST_ROOT``: a root laid out as ``<root>/policy/...``;
3. a source checkout: the first parent of this file that holds ``policy/`` and
   ``pyproject.toml`` (editable installs, running from the repository);
4. the wheel: the policy tree shipped inside the package as ``labtrust_gym/_policy``.

The *artifact roots* (:func:`search_roots`) are, in order: the current directory's
``./policy``, each root of ``LABTRUST_EXTRA_ROOTS``, then the base. Roots whose policy
directories are the same real path count once. Environment variables are read at every
call.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from labtrust_gym.errors import ConfigError, PolicyError

__all__ = [
    "ENV_POLICY_DIR",
    "ENV_ROOT",
    "ENV_EXTRA_ROOTS",
    "ArtifactRoot",
    "get_repo_root",
    "get_policy_dir",
    "policy_dir_source",
    "extra_roots_configured",
    "search_roots",
]

ENV_POLICY_DIR = "LABTRUST_POLICY_DIR"
ENV_ROOT = "LABTRUST_ROOT"
ENV_EXTRA_ROOTS = "LABTRUST_EXTRA_ROOTS"

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
    if os.environ.get(ENV_POLICY_DIR):
        return ENV_POLICY_DIR
    if os.environ.get(ENV_ROOT):
        return ENV_ROOT
    return "source checkout" if _checkout_root() is not None else "installed package"


def get_repo_root() -> Path:
    """Return the root that holds ``policy/`` (checkout root, or the installed package)."""
    env = os.environ.get(ENV_POLICY_DIR)
    if env:
        return Path(env).resolve().parent
    if os.environ.get(ENV_ROOT):
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
        f"{ENV_ROOT}={value!r} holds no policy/ directory; point it at a root laid out "
        "as <root>/policy/..."
    )


def get_policy_dir(policy_root: Path | str | None = None) -> Path:
    """Return the ``policy/`` directory for ``policy_root`` (or the base policy directory)."""
    if policy_root is None:
        env = os.environ.get(ENV_POLICY_DIR)
        if env:
            d = Path(env).resolve()
            if not d.is_dir():
                raise PolicyError(
                    f"{ENV_POLICY_DIR}={env!r} is not a directory; point it at a policy/ tree"
                )
            return d
        root_env = os.environ.get(ENV_ROOT)
        if root_env:
            return _root_env_policy_dir(root_env)
        root = _checkout_root()
        if root is not None:
            return root / "policy"
        d = _PKG_DIR / "_policy"
        if not d.is_dir():
            raise PolicyError(
                f"no policy tree found: {d} is missing; reinstall labtrust-gym or set "
                f"{ENV_POLICY_DIR}"
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


class ArtifactRoot(NamedTuple):
    """One search root: where it came from (``label``) and its policy directory."""

    label: str
    policy_dir: Path

    @property
    def real(self) -> str:
        return os.path.realpath(self.policy_dir)


def _extra_entries() -> list[str]:
    extra = os.environ.get(ENV_EXTRA_ROOTS, "")
    return [p.strip() for p in extra.split(os.pathsep) if p.strip()]


def extra_roots_configured() -> bool:
    """Whether ``LABTRUST_EXTRA_ROOTS`` names at least one root (collisions between roots
    are errors only then)."""
    return bool(_extra_entries())


def _root_policy_dir(root: Path, what: str) -> Path:
    """``<root>/policy`` (or ``root`` itself when it is a policy directory)."""
    for cand in (root / "policy", root / "_policy"):
        if cand.is_dir():
            return cand
    if root.is_dir() and root.name in ("policy", "_policy"):
        return root
    raise ConfigError(
        f"{what}={str(root)!r} holds no policy/ directory; an artifact root must be laid "
        "out as <root>/policy/..."
    )


def search_roots() -> list[ArtifactRoot]:
    """The artifact roots in search order: ``./policy``, ``LABTRUST_EXTRA_ROOTS``, base.

    Roots with the same real policy directory (a symlink, the current directory inside
    the install) count once, at the first place, with both labels.
    """
    roots: list[ArtifactRoot] = []
    cwd_policy = Path.cwd() / "policy"
    if cwd_policy.is_dir():
        roots.append(ArtifactRoot("current directory", cwd_policy))
    for i, entry in enumerate(_extra_entries()):
        root = Path(entry).expanduser().absolute()
        roots.append(
            ArtifactRoot(
                f"{ENV_EXTRA_ROOTS}[{i}]", _root_policy_dir(root, f"{ENV_EXTRA_ROOTS} entry")
            )
        )
    roots.append(ArtifactRoot(policy_dir_source(), get_policy_dir(None)))
    out: list[ArtifactRoot] = []
    for r in roots:
        same = next((i for i, o in enumerate(out) if o.real == r.real), None)
        if same is None:
            out.append(r)
        else:
            out[same] = ArtifactRoot(f"{out[same].label} = {r.label}", out[same].policy_dir)
    return out
