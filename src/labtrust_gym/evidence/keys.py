"""The audit signing key: where it comes from, and the per-install key made on first use.

Resolution (first that applies):

1. ``LABTRUST_AUDIT_KEY``: path of a key file;
2. the active lab profile's ``audit_key``: path of a key file (absolute, ``~/...``, or
   relative to the policy directory that holds the profile);
3. the per-install key ``$XDG_CONFIG_HOME/labtrust/audit_key.pem`` (default
   ``~/.config/labtrust/``), generated on first use with a one-time note on stderr.

A key file holds an unencrypted Ed25519 private key as PEM (PKCS#8, what
``openssl genpkey -algorithm ed25519`` writes) or as 64 hex digits (the 32-byte seed).
The private key never enters a log, a bundle or a results file; only its public key and
key id (:func:`~labtrust_gym.evidence.crypto.key_id_of`) do.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from labtrust_gym.errors import ConfigError
from labtrust_gym.evidence.crypto import key_id_of, public_raw

__all__ = [
    "AUDIT_KEY_ENV",
    "AuditKey",
    "audit_key",
    "config_dir",
    "per_install_key_path",
    "load_key_file",
    "generate_key_file",
    "public_key_pem",
]

AUDIT_KEY_ENV = "LABTRUST_AUDIT_KEY"
_HEX64 = re.compile(r"\A[0-9a-fA-F]{64}\Z")


@dataclass(frozen=True)
class AuditKey:
    """A loaded audit signing key and where it came from."""

    private_key: Ed25519PrivateKey
    key_id: str
    public_key_hex: str
    path: Path
    source: str


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/labtrust`` (default ``~/.config/labtrust``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "labtrust"


def per_install_key_path() -> Path:
    return config_dir() / "audit_key.pem"


def load_key_file(path: Path, what: str) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path``; ConfigError naming ``what`` and the fix."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{what}: cannot read audit key file {path} ({exc.strerror}); give the path of "
            "an Ed25519 private key (PEM or 64 hex digits)"
        ) from None
    text = data.decode("ascii", errors="replace").strip()
    if _HEX64.match(text):
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text))
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{what}: {path} is not an unencrypted Ed25519 private key ({exc}); write one "
            "with 'openssl genpkey -algorithm ed25519 -out FILE' or remove the file to get "
            "a new per-install key"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(
            f"{what}: {path} holds a {type(key).__name__}; the audit key must be Ed25519"
        )
    return key


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def public_key_pem(key: Ed25519PrivateKey) -> str:
    """The public half as a PEM ``PUBLIC KEY`` block (what verifiers are given)."""
    pem: bytes = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return pem.decode("ascii")


def generate_key_file(path: Path) -> tuple[Ed25519PrivateKey, bool]:
    """Create a new key at ``path`` unless one exists; returns ``(key, created)``.

    The key is written to a private temporary file (mode 0600) that is then *linked* to
    ``path``: unlike a rename, a link never replaces a key another process created
    meanwhile (that process's key wins and is returned), and a reader never sees a
    partial key.
    """
    if path.exists():
        return load_key_file(path, "per-install audit key"), False
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(
            f"cannot create {path.parent} for the per-install audit key ({exc.strerror}); "
            f"set {AUDIT_KEY_ENV} to a key file or XDG_CONFIG_HOME to a writable directory"
        ) from None
    key = Ed25519PrivateKey.generate()
    fd, tmp = tempfile.mkstemp(prefix=".audit_key-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_pem(key))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return load_key_file(path, "per-install audit key"), False
    except OSError as exc:
        raise ConfigError(
            f"cannot write the per-install audit key {path} ({exc.strerror}); set "
            f"{AUDIT_KEY_ENV} to a key file"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return key, True


def _profile_key_path() -> tuple[Path, str] | None:
    from labtrust_gym.profiles import active_lab_profile

    prof = active_lab_profile()
    if prof is None:
        return None
    from labtrust_gym.policy.loader import load_yaml

    doc = load_yaml(prof.source)
    value = doc.get("audit_key") if isinstance(doc, dict) else None
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{prof.source}: audit_key must be the path of a key file")
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = prof.policy_dir / p
    return p, f"lab profile {prof.profile_id} (audit_key in {prof.source})"


_CACHE: dict[tuple[str, float, int], AuditKey] = {}


def _loaded(path: Path, source: str, key: Ed25519PrivateKey | None = None) -> AuditKey:
    st = path.stat()
    ck = (str(path.resolve()), st.st_mtime, st.st_size)
    hit = _CACHE.get(ck)
    if hit is not None:
        return hit
    if key is None:
        key = load_key_file(path, source)
    pub = public_raw(key)
    ak = AuditKey(key, key_id_of(pub), pub.hex(), path, source)
    _CACHE[ck] = ak
    return ak


def audit_key() -> AuditKey:
    """The audit signing key of this process (see the module docstring)."""
    env = os.environ.get(AUDIT_KEY_ENV)
    if env is not None:
        if not env.strip():
            raise ConfigError(f"{AUDIT_KEY_ENV} is set but empty; give the path of a key file")
        p = Path(env).expanduser()
        if not p.is_file():
            raise ConfigError(
                f"{AUDIT_KEY_ENV}={env}: no such key file; give the path of an Ed25519 "
                "private key (PEM or 64 hex digits), or unset it to use the per-install key"
            )
        return _loaded(p, f"{AUDIT_KEY_ENV}={env}")
    prof = _profile_key_path()
    if prof is not None:
        p, source = prof
        if not p.is_file():
            raise ConfigError(f"{source}: no such key file {p}")
        return _loaded(p, source)
    path = per_install_key_path()
    key, created = generate_key_file(path)
    ak = _loaded(path, f"per-install key {path}", key)
    if created:
        print(
            f"labtrust: created a per-install audit signing key at {path} (key id "
            f"{ak.key_id}). Episode logs and evidence bundles are signed with it; give "
            "verifiers its public key ('labtrust audit-key --public-out FILE') for "
            f"'verify-bundle --trusted-key FILE'. Set {AUDIT_KEY_ENV} or a lab profile's "
            "audit_key to use a managed key instead.",
            file=sys.stderr,
        )
    return ak
