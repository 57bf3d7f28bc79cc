"""Ed25519 audit signatures over files (standard library and ``cryptography`` only).

A signature document (a log's ``<log>.sig.json`` sidecar, a bundle's
``manifest.sig.json``) is::

    {"format": "labtrust.signature.v1", "kind": ..., "sha256": ..., "bytes": ...,
     [extra fields,] "algorithm": "Ed25519", "key_id": ..., "public_key": <hex>,
     "signature": <hex>}

The signature covers :func:`~labtrust_gym.evidence.log_format.signature_payload` of the
kind, digest, size and extra fields. The public key in the document only proves that the
file has not changed since someone signed it; that the signer is the lab's audit key is
shown by comparing it with a *trusted* public key obtained out of band
(``verify-bundle --trusted-key``).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from labtrust_gym.evidence.log_format import SIGNATURE_FORMAT, signature_payload

__all__ = [
    "key_id_of",
    "public_raw",
    "parse_public_key",
    "ed25519_verify",
    "sign_file_bytes",
    "check_signature_doc",
]

_HEX64 = re.compile(r"\A[0-9a-fA-F]{64}\Z")
_HEX128 = re.compile(r"\A[0-9a-fA-F]{128}\Z")
_SIG_FIELDS = ("format", "kind", "sha256", "bytes", "algorithm", "key_id", "public_key")


def key_id_of(public_key: bytes) -> str:
    """A short, stable id of a raw Ed25519 public key: ``ed25519:<16 hex of sha256>``."""
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


def public_raw(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def parse_public_key(text: str) -> bytes:
    """A raw 32-byte Ed25519 public key from 64 hex digits or a PEM ``PUBLIC KEY`` block.

    Raises :class:`ValueError` saying what was expected.
    """
    s = text.strip()
    if _HEX64.match(s):
        return bytes.fromhex(s)
    if "-----BEGIN PUBLIC KEY-----" in s:
        try:
            key = load_pem_public_key(s.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise ValueError(f"not a valid PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"PEM public key is {type(key).__name__}, not Ed25519")
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    raise ValueError(
        "expected an Ed25519 public key as 64 hex digits or a PEM 'PUBLIC KEY' block "
        "(labtrust audit-key --public-out FILE writes one)"
    )


def ed25519_verify(public_key_hex: Any, signature_hex: Any, payload: bytes) -> bool:
    """True if ``signature_hex`` is a valid signature of ``payload`` by the key; False for
    any malformed key or signature."""
    if not isinstance(public_key_hex, str) or not isinstance(signature_hex, str):
        return False
    if not _HEX64.match(public_key_hex) or not _HEX128.match(signature_hex):
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        key.verify(bytes.fromhex(signature_hex), payload)
    except (InvalidSignature, ValueError):
        return False
    return True


def sign_file_bytes(
    private_key: Ed25519PrivateKey, kind: str, data: bytes, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The signature document of ``data`` (see the module docstring)."""
    digest = hashlib.sha256(data).hexdigest()
    payload = signature_payload(kind, digest, len(data), extra)
    pub = public_raw(private_key)
    doc: dict[str, Any] = {
        "format": SIGNATURE_FORMAT,
        "kind": kind,
        "sha256": digest,
        "bytes": len(data),
    }
    doc.update(extra or {})
    doc.update(
        {
            "algorithm": "Ed25519",
            "key_id": key_id_of(pub),
            "public_key": pub.hex(),
            "signature": private_key.sign(payload).hex(),
        }
    )
    return doc


def check_signature_doc(
    doc: Any,
    data: bytes,
    kind: str,
    *,
    trusted: bytes | None = None,
    extra_fields: tuple[str, ...] = (),
) -> tuple[bool, str]:
    """Check a signature document against the signed file's bytes.

    Returns ``(ok, detail)``. With ``trusted`` (a raw public key) the document must also
    be signed by that key.
    """
    if not isinstance(doc, dict):
        return False, "signature document is not a JSON object"
    missing = [f for f in (*_SIG_FIELDS, "signature", *extra_fields) if f not in doc]
    if missing:
        return False, f"signature document lacks {', '.join(missing)}"
    if doc["format"] != SIGNATURE_FORMAT or doc["kind"] != kind:
        return False, (
            f"signature document is {doc['format']!r}/{doc['kind']!r}, expected "
            f"{SIGNATURE_FORMAT!r}/{kind!r}"
        )
    if doc["algorithm"] != "Ed25519":
        return False, f"unsupported signature algorithm {doc['algorithm']!r}"
    digest = hashlib.sha256(data).hexdigest()
    if doc["sha256"] != digest or doc["bytes"] != len(data):
        return False, (
            f"file changed after signing: sha256 {digest[:16]}… ({len(data)} bytes), "
            f"signed {str(doc['sha256'])[:16]}… ({doc['bytes']} bytes)"
        )
    pub = doc["public_key"]
    extra = {f: doc[f] for f in extra_fields}
    try:
        payload = signature_payload(kind, digest, len(data), extra)
    except ValueError as exc:
        return False, f"signature document has a malformed field ({exc})"
    if not ed25519_verify(pub, doc["signature"], payload):
        return False, "signature does not verify against the document's public key"
    pub_raw = bytes.fromhex(pub)
    if doc["key_id"] != key_id_of(pub_raw):
        return False, f"key id {doc['key_id']!r} does not match the public key"
    if trusted is not None and pub_raw != trusted:
        return False, (
            f"signed by {doc['key_id']}, not by the trusted key {key_id_of(trusted)} "
            "(the file was re-signed by another key)"
        )
    who = "the trusted key" if trusted is not None else "an untrusted key (no --trusted-key)"
    return True, f"signed by {doc['key_id']}, {who}"
