"""Lab profiles: one file that adapts LabTrust-Gym to a lab without code changes.

A profile lives at ``lab_profiles/<profile_id>.v0.1.yaml`` in any artifact root (see
:mod:`labtrust_gym.artifacts`) and follows ``schemas/lab_profile.v0.1.schema.json``:

* ``profile_id``, ``description``;
* ``partner_id``: the partner overlay (``partners/<partner_id>/``) merged over the base
  policy by every policy load that names no partner itself;
* ``domain_id`` and the provider ids ``security_suite_provider_id``,
  ``safety_case_provider_id``, ``metrics_aggregator_id``, ``benchmark_pack_loader_id``:
  each must be registered; the commands and the runner use them instead of ``default``;
* path overrides ``security_suite_path``, ``safety_claims_path``,
  ``benchmark_pack_path``, ``coordination_methods_path``: relative to the ``policy/``
  directory that holds the profile (absolute paths are allowed) and contained in it. One
  that resolves outside (``..``, an absolute path elsewhere, a symlink out) is rejected
  with a :class:`ProfilePathWarning` naming the field, and the default path is used;
* ``extension_packages``: importable package names; applying the profile imports them
  (what they register at import is registered) and loads the entry points that point
  into them.

This module holds the profile *state* every layer reads (:func:`active_lab_profile`,
:func:`profile_provider_id`, :func:`profile_path_override`) and :func:`load_lab_profile`;
it imports nothing above the policy layer. Activating a profile for a process (importing
its extension packages, checking its ids against the registries) is done at the entry
points by :func:`labtrust_gym.extensions.apply_lab_profile` /
:func:`labtrust_gym.extensions.use_lab_profile` (``labtrust --profile ID <command>`` does it
before any command). Every problem (missing or invalid file, unknown provider, domain or
partner id, an extension package that cannot be imported) is a
:class:`~labtrust_gym.errors.ConfigError` that names the profile file and the field.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from labtrust_gym.errors import ConfigError, PolicyError, UnknownIdError

__all__ = [
    "LabProfile",
    "ProfilePathWarning",
    "PROFILE_SCHEMA",
    "PATH_FIELDS",
    "PROVIDER_FIELDS",
    "load_lab_profile",
    "active_lab_profile",
    "push_lab_profile",
    "pop_lab_profiles",
    "clear_lab_profile",
    "profile_path_override",
    "profile_provider_id",
    "list_lab_profiles",
]

#: Schema of every lab profile, relative to the base policy directory.
PROFILE_SCHEMA = "schemas/lab_profile.v0.1.schema.json"

#: Path-override field -> the default it replaces (relative to the policy directory).
PATH_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "security_suite_path": "security/security_suite.v0.1.yaml",
        "safety_claims_path": "safety_case/safety_claims.v0.1.yaml",
        "benchmark_pack_path": "benchmark_packs/default.v0.1.yaml",
        "coordination_methods_path": "coordination/coordination_methods.v0.1.yaml",
    }
)

#: Provider-id field -> the extension kind whose registry must know the id.
PROVIDER_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "security_suite_provider_id": "security_suite_providers",
        "safety_case_provider_id": "safety_case_providers",
        "metrics_aggregator_id": "metrics_aggregators",
        "benchmark_pack_loader_id": "benchmark_pack_loaders",
    }
)


class ProfilePathWarning(UserWarning):
    """A profile's path override points outside its policy root and was ignored."""


@dataclass(frozen=True)
class LabProfile:
    """A loaded, checked lab profile (see the module docstring)."""

    profile_id: str
    description: str
    source: Path
    policy_dir: Path
    partner_id: str | None = None
    domain_id: str | None = None
    providers: Mapping[str, str] = field(default_factory=dict)
    paths: Mapping[str, Path] = field(default_factory=dict)
    rejected_paths: Mapping[str, str] = field(default_factory=dict)
    extension_packages: tuple[str, ...] = ()

    def provider(self, field_name: str) -> str | None:
        return self.providers.get(field_name)

    def record(self) -> dict[str, Any]:
        """What results files record about the profile."""
        return {
            "profile_id": self.profile_id,
            "source": str(self.source),
            "partner_id": self.partner_id,
            "domain_id": self.domain_id,
            **{k: self.providers.get(k) for k in PROVIDER_FIELDS},
            "paths": {k: str(v) for k, v in sorted(self.paths.items())},
            "rejected_paths": dict(sorted(self.rejected_paths.items())),
            "extension_packages": list(self.extension_packages),
        }


_ACTIVE: list[LabProfile] = []


def active_lab_profile() -> LabProfile | None:
    """The profile applied to this process, if any."""
    return _ACTIVE[-1] if _ACTIVE else None


def clear_lab_profile() -> None:
    _ACTIVE.clear()


def push_lab_profile(prof: LabProfile) -> int:
    """Make ``prof`` the active profile; returns the depth to pass to
    :func:`pop_lab_profiles` (the entry points check the profile first)."""
    depth = len(_ACTIVE)
    _ACTIVE.append(prof)
    return depth


def pop_lab_profiles(depth: int) -> None:
    """Restore the profiles active before :func:`push_lab_profile` returned ``depth``."""
    del _ACTIVE[depth:]


def profile_path_override(field_name: str) -> Path | None:
    """The active profile's (contained) path for ``field_name``, else ``None``."""
    if field_name not in PATH_FIELDS:
        raise ConfigError(f"unknown profile path field {field_name!r}; known: {list(PATH_FIELDS)}")
    prof = active_lab_profile()
    return prof.paths.get(field_name) if prof is not None else None


def profile_provider_id(field_name: str, default: str = "default") -> str:
    """The active profile's provider id for ``field_name``, else ``default``."""
    if field_name not in PROVIDER_FIELDS:
        raise ConfigError(
            f"unknown profile provider field {field_name!r}; known: {list(PROVIDER_FIELDS)}"
        )
    prof = active_lab_profile()
    value = prof.provider(field_name) if prof is not None else None
    return value or default


def list_lab_profiles() -> list[str]:
    """Profile ids of every artifact root."""
    from labtrust_gym.artifacts import list_artifact_names

    return list_artifact_names("lab_profiles")


# ------------------------------------------------------------------------- loading ---
def _locate(profile: str | Path) -> tuple[Path, Path]:
    """``(profile file, policy dir holding it)`` for an id or a file path."""
    from labtrust_gym.artifacts import resolve_artifact
    from labtrust_gym.paths import get_policy_dir

    p = Path(profile)
    if isinstance(profile, Path) or p.suffix in (".yaml", ".yml") or os.sep in str(profile):
        if not p.is_file():
            raise ConfigError(f"lab profile file {str(p)!r} not found")
        p = p.resolve()
        pdir = p.parent.parent if p.parent.name == "lab_profiles" else get_policy_dir()
        return p, pdir
    try:
        path = resolve_artifact("lab_profiles", str(profile))
    except UnknownIdError as exc:
        raise ConfigError(str(exc)) from None
    assert path is not None
    return path, path.parent.parent


def _schema_problems(doc: Any, source: Path) -> list[str]:
    from labtrust_gym.paths import get_policy_dir
    from labtrust_gym.policy.validate import format_path
    from labtrust_gym.policy.validate.schema import PolicyValidator

    schema_path = get_policy_dir() / PROFILE_SCHEMA
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{schema_path}: lab profile schema unreadable ({exc})") from None
    errors = sorted(PolicyValidator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{format_path(e.absolute_path) or '<root>'}: {e.message}" for e in errors]


def _contain(field_name: str, value: str, policy_dir: Path, source: Path) -> Path | None:
    """The override's real path when it stays under ``policy_dir``; else warn, ``None``."""
    raw = Path(value).expanduser()
    cand = raw if raw.is_absolute() else policy_dir / raw
    real = Path(os.path.realpath(cand))
    base = Path(os.path.realpath(policy_dir))
    if not real.is_relative_to(base):
        warnings.warn(
            f"lab profile {source}: {field_name} {value!r} resolves to {real}, outside the "
            f"policy root {base}; ignored, the default ({PATH_FIELDS[field_name]}) is used",
            ProfilePathWarning,
            stacklevel=3,
        )
        return None
    if not real.is_file():
        raise ConfigError(f"lab profile {source}: {field_name} {value!r}: no such file {real}")
    return real


def load_lab_profile(profile: str | Path) -> LabProfile:
    """Read and check a lab profile (an id looked up in the artifact roots, or a file).

    Schema and id problems raise :class:`ConfigError`; path overrides outside the policy
    root warn and are dropped. Registries, partners and packages are checked by
    :func:`labtrust_gym.extensions.apply_lab_profile`.
    """
    from labtrust_gym.policy.yaml_io import load_yaml

    path, pdir = _locate(profile)
    try:
        doc = load_yaml(path)
    except PolicyError as exc:
        raise ConfigError(f"lab profile {exc}") from None
    problems = _schema_problems(doc, path)
    if problems:
        raise ConfigError(
            f"lab profile {path} is invalid ({PROFILE_SCHEMA}):\n  " + "\n  ".join(problems)
        )
    expected = path.name.split(".v")[0]
    if doc["profile_id"] != expected:
        raise ConfigError(
            f"lab profile {path}: profile_id {doc['profile_id']!r} does not match the file "
            f"name (expected {expected!r})"
        )
    paths: dict[str, Path] = {}
    rejected: dict[str, str] = {}
    for f in PATH_FIELDS:
        value = doc.get(f)
        if value:
            got = _contain(f, value, pdir, path)
            if got is None:
                rejected[f] = value
            else:
                paths[f] = got
    return LabProfile(
        profile_id=doc["profile_id"],
        description=doc["description"],
        source=path,
        policy_dir=pdir,
        partner_id=doc.get("partner_id"),
        domain_id=doc.get("domain_id"),
        providers=MappingProxyType({f: doc[f] for f in PROVIDER_FIELDS if doc.get(f)}),
        paths=MappingProxyType(paths),
        rejected_paths=MappingProxyType(rejected),
        extension_packages=tuple(doc.get("extension_packages") or ()),
    )
