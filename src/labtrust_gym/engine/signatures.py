"""Ed25519 action signatures and the per-episode key registry.

A signature covers the canonical JSON of the event's identity and content, the policy
fingerprint and the audit chain's head hash before the event. It therefore cannot be
replayed at another point of the log or under another policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from labtrust_gym.engine.canonical import canonical_json

__all__ = [
    "KeyRegistry",
    "KeyEntry",
    "signing_payload",
    "sign_event",
    "public_key_hex",
    "private_key_from_bytes",
    "private_key_bytes",
]

_SIGNED_FIELDS = ("event_id", "t_s", "agent_id", "action_type", "args", "token_refs", "key_id")


def signing_payload(event: dict[str, Any], policy_fingerprint: str, prev_hash: str) -> bytes:
    body = {k: event.get(k) for k in _SIGNED_FIELDS}
    return canonical_json(
        {"event": body, "policy_fingerprint": policy_fingerprint, "prev_hash": prev_hash}
    )


def sign_event(
    private_key: Ed25519PrivateKey, event: dict[str, Any], policy_fingerprint: str, prev_hash: str
) -> str:
    """Signature (hex) that an agent holding ``private_key`` attaches to ``event``."""
    return private_key.sign(signing_payload(event, policy_fingerprint, prev_hash)).hex()


def private_key_from_bytes(seed32: bytes) -> Ed25519PrivateKey:
    """A private key from 32 bytes (e.g. ``numpy.random.Generator.bytes(32)``)."""
    return Ed25519PrivateKey.from_private_bytes(seed32)


def private_key_bytes(private_key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of ``private_key`` (inverse of :func:`private_key_from_bytes`)."""
    # The raw forms need no serialization module (whose import costs a short run more
    # than all of its signing).
    return private_key.private_bytes_raw()


def public_key_hex(private_key: Ed25519PrivateKey) -> str:
    return private_key.public_key().public_bytes_raw().hex()


@dataclass(slots=True)
class KeyEntry:
    """A key of the episode's registry: whose it is, its public key and its status."""

    key_id: str
    agent_id: str
    public_key_hex: str
    status: str  # ACTIVE | REVOKED
    _key: Ed25519PublicKey


class KeyRegistry:
    """The keys valid in one episode: ``key_id -> (agent_id, public key, status)``."""

    def __init__(self, keys: dict[str, dict[str, Any]] | None = None) -> None:
        self._keys: dict[str, KeyEntry] = {}
        for key_id, spec in sorted((keys or {}).items()):
            self.add(key_id, spec["agent_id"], spec["public_key"], spec.get("status", "ACTIVE"))

    def add(self, key_id: str, agent_id: str, public_key_hex: str, status: str = "ACTIVE") -> None:
        raw = bytes.fromhex(public_key_hex)
        self._keys[key_id] = KeyEntry(
            key_id, agent_id, public_key_hex, status, Ed25519PublicKey.from_public_bytes(raw)
        )

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def get(self, key_id: str) -> KeyEntry | None:
        return self._keys.get(key_id)

    def revoke(self, key_id: str) -> bool:
        entry = self._keys.get(key_id)
        if entry is None:
            return False
        entry.status = "REVOKED"
        return True

    def verify(self, event: dict[str, Any], policy_fingerprint: str, prev_hash: str) -> str | None:
        """Check the event's signature. Returns ``None`` if valid, else a reason code."""
        key_id = event.get("key_id")
        sig = event.get("signature")
        if not key_id or not sig:
            return "SIG_MISSING"
        entry = self._keys.get(key_id) if isinstance(key_id, str) else None
        if entry is None:
            return "SIG_KEY_UNKNOWN"
        if entry.status != "ACTIVE":
            return "SIG_KEY_REVOKED"
        if entry.agent_id != event.get("agent_id"):
            return "SIG_KEY_AGENT_MISMATCH"
        try:
            raw = bytes.fromhex(sig) if isinstance(sig, str) else b""
            entry._key.verify(raw, signing_payload(event, policy_fingerprint, prev_hash))
        except (InvalidSignature, ValueError):
            return "SIG_INVALID"
        return None

    def __getstate__(self) -> dict[str, Any]:
        # Public keys as hex (cryptography's key objects do not pickle or deep-copy).
        return self.state_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._keys = {}
        self.load_state_dict(state)

    def state_dict(self) -> dict[str, Any]:
        return {
            k: {"agent_id": e.agent_id, "public_key": e.public_key_hex, "status": e.status}
            for k, e in self._keys.items()
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._keys = {}
        for key_id, spec in state.items():
            self.add(key_id, spec["agent_id"], spec["public_key"], spec["status"])
