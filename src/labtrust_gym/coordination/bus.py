"""The signed message bus between coordination agents.

:meth:`SignedMessageBus.publish` wraps a payload in an :class:`Envelope` (sender, message
type, payload, per-sender nonce, current epoch, send time, recipients), signs the
canonical JSON of those fields (:func:`labtrust_gym.engine.canonical.canonical_json`) with
the sender's Ed25519 key, and puts it on the :class:`NetworkModel`. When the network
delivers it (:meth:`deliver_until`), the envelope is verified **once** (not per
recipient), in this order, the first failure naming the reason code:

1. ``BUS_UNKNOWN_SENDER``: no public key is registered for the sender;
2. ``BUS_SIG_INVALID``: the signature does not verify over the envelope's fields (forged,
   tampered, or signed with another key);
3. ``BUS_REPLAY``: the sender's nonce was seen before, or is more than ``replay_window``
   behind the newest nonce seen from it (too old to tell);
4. ``BUS_EPOCH_STALE``: the envelope's epoch is not the bus's current epoch
   (:meth:`advance_epoch` invalidates everything still in flight);
5. ``BUS_TYPE_FORBIDDEN``: the sender's role may not send this message type
   (``bus.allowed_types`` of the network policy).

An authentic envelope (steps 1-2 passed) consumes its nonce even if a later step rejects
it. Accepted messages become :class:`Message` objects: a broadcast is stored once in a
shared log and each agent keeps a cursor into it; a message to a recipient list goes to
those recipients' inboxes. :meth:`receive` returns what reached an agent since its last
call (nothing is done for agents that never ask). An agent never receives its own
messages (broadcast or listed).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from labtrust_gym.coordination.network import NetworkModel, Packet, load_network_document
from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.errors import ConfigError, UnknownIdError

__all__ = [
    "BusPolicy",
    "Envelope",
    "Message",
    "SignedMessageBus",
    "envelope_signing_bytes",
    "load_bus_policy",
    "BUS_REASON_CODES",
]

#: The reason codes of a rejected envelope (registered in policy/reason_codes).
BUS_REASON_CODES = (
    "BUS_UNKNOWN_SENDER",
    "BUS_SIG_INVALID",
    "BUS_REPLAY",
    "BUS_EPOCH_STALE",
    "BUS_TYPE_FORBIDDEN",
)


@dataclass(frozen=True, slots=True)
class BusPolicy:
    """The ``bus`` section of the network policy."""

    message_types: frozenset[str]
    allowed_types: Mapping[str, frozenset[str]]
    replay_window: int = 1024

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BusPolicy:
        types = d.get("message_types")
        if not isinstance(types, (list, tuple)) or not types:
            raise ConfigError("network policy: bus.message_types must be a non-empty list")
        allowed_raw = d.get("allowed_types")
        if not isinstance(allowed_raw, Mapping):
            raise ConfigError(
                "network policy: bus.allowed_types must map each role to its message types"
            )
        vocab = frozenset(types)
        allowed: dict[str, frozenset[str]] = {}
        for role, ts in allowed_raw.items():
            bad = sorted(set(ts) - vocab)
            if bad:
                raise ConfigError(
                    f"network policy: bus.allowed_types.{role}: {bad} not in "
                    f"bus.message_types ({', '.join(sorted(vocab))}); add them there or fix "
                    "the names"
                )
            allowed[role] = frozenset(ts)
        rw = d.get("replay_window", 1024)
        if isinstance(rw, bool) or not isinstance(rw, int) or rw < 1:
            raise ConfigError(
                f"network policy: bus.replay_window must be an integer >= 1, got {rw!r}"
            )
        return cls(vocab, MappingProxyType(allowed), rw)

    def allows(self, role: str | None, msg_type: str) -> bool:
        if role is None:
            return False
        ts = self.allowed_types.get(role)
        return ts is not None and msg_type in ts


def load_bus_policy(repo_root: Path | str | None = None) -> BusPolicy:
    return BusPolicy.from_dict(load_network_document(repo_root)["bus"])


@dataclass(frozen=True, slots=True)
class Envelope:
    """What travels on the wire. ``signature`` is the raw 64-byte Ed25519 signature over
    :func:`envelope_signing_bytes`; ``recipients`` is None for a broadcast."""

    sender_id: str
    msg_type: str
    payload: Mapping[str, Any]
    nonce: int
    epoch: int
    t_ms: float
    recipients: tuple[str, ...] | None
    signature: bytes


def envelope_signing_bytes(
    sender_id: Any,
    msg_type: Any,
    payload: Any,
    nonce: Any,
    epoch: Any,
    t_ms: Any,
    recipients: Any,
) -> bytes:
    """The canonical bytes an envelope's signature covers (every field but the signature)."""
    return canonical_json(
        {
            "sender_id": sender_id,
            "msg_type": msg_type,
            "payload": payload,
            "nonce": nonce,
            "epoch": epoch,
            "t_ms": t_ms,
            "recipients": list(recipients) if recipients is not None else None,
        }
    )


@dataclass(frozen=True, slots=True)
class Message:
    """A verified message as an agent receives it. ``payload`` is read-only and shared by
    every recipient of a broadcast; ``recipients`` is None for a broadcast."""

    sender_id: str
    msg_type: str
    payload: Mapping[str, Any]
    t_sent_ms: float
    t_delivered_ms: float
    epoch: int
    nonce: int
    recipients: tuple[str, ...] | None
    seq: int


class SignedMessageBus:
    """Ed25519-signed messages over a :class:`NetworkModel` (see the module docstring).

    ``keys``: ``{agent_id: (key_id, Ed25519PrivateKey)}`` (e.g. ``task.agent_keys(seed)``):
    who can publish, and whose public keys verify. ``public_keys`` adds verify-only
    senders. ``roles``: ``{agent_id: role}`` for ``bus.allowed_types``. ``policy``: the bus
    policy (default: the policy tree's).
    """

    def __init__(
        self,
        network: NetworkModel,
        keys: Mapping[str, tuple[str, Ed25519PrivateKey]],
        roles: Mapping[str, str | None],
        policy: BusPolicy | None = None,
        *,
        public_keys: Mapping[str, Ed25519PublicKey] | None = None,
        repo_root: Path | str | None = None,
        epoch: int = 0,
        tap: int = 64,
    ) -> None:
        self.network = network
        self.policy = policy if policy is not None else load_bus_policy(repo_root)
        self._priv: dict[str, Ed25519PrivateKey] = {a: k for a, (_, k) in keys.items()}
        self._pub: dict[str, Ed25519PublicKey] = dict(public_keys or {})
        self.roles: dict[str, str | None] = dict(roles)
        self.epoch = int(epoch)
        self._nonce: dict[str, int] = {}
        self._seen: dict[str, list[int]] = {}  # sender -> [highest nonce, bitmap behind it]
        self._rw = self.policy.replay_window
        self._mask = (1 << self._rw) - 1
        self._bcast: list[Message] = []
        self._bcast_pkt: list[Packet] = []
        self._cursor: dict[str, int] = {}
        self._inbox: dict[str, list[Message]] = {}
        self._dseq = 0
        self.accepted = 0
        self.rejected_by_reason: dict[str, int] = {}
        self.published_by_type: dict[str, int] = {}
        self._injected: dict[int, str] = {}
        self.last_ticket = -1
        #: The last accepted envelopes (a wiretap for attack injections).
        self.recent: deque[Envelope] = deque(maxlen=tap)

    # ----------------------------------------------------------------- keys ----------
    def public_key(self, agent_id: str) -> Ed25519PublicKey | None:
        pub = self._pub.get(agent_id)
        if pub is None:
            priv = self._priv.get(agent_id)
            if priv is None:
                return None
            pub = self._pub[agent_id] = priv.public_key()
        return pub

    def advance_epoch(self) -> int:
        """Start a new epoch: envelopes of older epochs are rejected from now on."""
        self.epoch += 1
        return self.epoch

    # ----------------------------------------------------------------- send ----------
    def publish(
        self,
        sender_id: str,
        msg_type: str,
        payload: Mapping[str, Any],
        t_ms: float,
        recipients: Iterable[str] | None = None,
        *,
        track: bool = False,
    ) -> Envelope:
        """Sign and send ``payload`` (JSON-ready; copied shallowly) from ``sender_id``.

        ``recipients`` None broadcasts to every agent; otherwise a list of agent ids.
        Raises :class:`UnknownIdError` if the bus holds no signing key for the sender.
        With ``track`` the outcome is kept for :meth:`injected_outcome` (ticket:
        :attr:`last_ticket`).
        """
        key = self._priv.get(sender_id)
        if key is None:
            raise UnknownIdError(
                f"the bus holds no signing key for sender {sender_id!r}; only agents of the "
                "episode can publish (use inject() to put a raw envelope on the wire)"
            )
        nonce = self._nonce.get(sender_id, 0) + 1
        self._nonce[sender_id] = nonce
        body = dict(payload)
        rcpt = tuple(recipients) if recipients is not None else None
        sig = key.sign(
            envelope_signing_bytes(sender_id, msg_type, body, nonce, self.epoch, t_ms, rcpt)
        )
        env = Envelope(sender_id, msg_type, body, nonce, self.epoch, t_ms, rcpt, sig)
        self.published_by_type[msg_type] = self.published_by_type.get(msg_type, 0) + 1
        seq = self.network.send(sender_id, t_ms, env, rcpt)
        self.last_ticket = seq
        if track:
            self._track(seq)
        return env

    def inject(self, envelope: Envelope, t_ms: float | None = None) -> int:
        """Put a raw envelope (possibly forged or replayed) on the wire as if sent by its
        ``sender_id`` at ``t_ms`` (default: its own ``t_ms``). Returns a ticket for
        :meth:`injected_outcome`."""
        seq = self.network.send(
            envelope.sender_id,
            envelope.t_ms if t_ms is None else t_ms,
            envelope,
            envelope.recipients,
        )
        self.last_ticket = seq
        self._track(seq)
        return seq

    def _track(self, seq: int) -> None:
        status = self.network.last_status
        self._injected[seq] = "in_flight" if status == "queued" else status

    def injected_outcome(self, ticket: int) -> str:
        """``in_flight``, ``dropped``, ``partitioned``, ``accepted`` or the reject code."""
        return self._injected.get(ticket, "unknown")

    # ----------------------------------------------------------------- verify --------
    def verify(self, env: Any) -> str | None:
        """Check an arriving envelope; ``None`` if accepted, else its reason code.

        Records the nonce of an authentic envelope (replay protection)."""
        sender = getattr(env, "sender_id", None)
        if not isinstance(sender, str):
            return "BUS_UNKNOWN_SENDER"
        pub = self.public_key(sender)
        if pub is None:
            return "BUS_UNKNOWN_SENDER"
        try:
            data = envelope_signing_bytes(
                sender, env.msg_type, env.payload, env.nonce, env.epoch, env.t_ms, env.recipients
            )
            pub.verify(env.signature, data)
        except (InvalidSignature, TypeError, ValueError, AttributeError):
            return "BUS_SIG_INVALID"
        nonce = env.nonce
        if isinstance(nonce, bool) or not isinstance(nonce, int) or nonce < 1:
            return "BUS_REPLAY"
        st = self._seen.get(sender)
        if st is None:
            st = self._seen[sender] = [0, 0]
        hi, bits = st
        if nonce > hi:
            st[1] = ((bits << (nonce - hi)) | 1) & self._mask
            st[0] = nonce
        else:
            back = hi - nonce
            if back >= self._rw or (bits >> back) & 1:
                return "BUS_REPLAY"
            st[1] = bits | (1 << back)
        if env.epoch != self.epoch:
            return "BUS_EPOCH_STALE"
        if not self.policy.allows(self.roles.get(sender), env.msg_type):
            return "BUS_TYPE_FORBIDDEN"
        return None

    # ----------------------------------------------------------------- deliver -------
    def deliver_until(self, t_ms: float) -> int:
        """Deliver and verify every envelope due by ``t_ms``; returns how many were accepted."""
        pkts = self.network.deliver_until(t_ms)
        if not pkts:
            return 0
        n = 0
        rej = self.rejected_by_reason
        injected = self._injected
        for pkt in pkts:
            env = pkt.body
            code = self.verify(env)
            if pkt.seq in injected:
                injected[pkt.seq] = code or "accepted"
            if code is not None:
                rej[code] = rej.get(code, 0) + 1
                continue
            n += 1
            self.recent.append(env)
            msg = Message(
                env.sender_id,
                env.msg_type,
                MappingProxyType(env.payload),
                env.t_ms,
                pkt.arrive_ms,
                env.epoch,
                env.nonce,
                env.recipients,
                self._dseq,
            )
            self._dseq += 1
            if pkt.recipients is None:
                self._bcast.append(msg)
                self._bcast_pkt.append(pkt)
            else:
                sender = env.sender_id
                for r in pkt.recipients:
                    if r == sender:
                        continue
                    box = self._inbox.get(r)
                    if box is None:
                        self._inbox[r] = [msg]
                    else:
                        box.append(msg)
        self.accepted += n
        return n

    def receive(self, agent_id: str) -> list[Message]:
        """Verified messages that reached ``agent_id`` since its last call, in delivery order."""
        start = self._cursor.get(agent_id, 0)
        end = len(self._bcast)
        direct = self._inbox.pop(agent_id, None)
        if start == end:
            return direct or []
        self._cursor[agent_id] = end
        if not self.network.policy.partitions:
            got = [m for m in self._bcast[start:end] if m.sender_id != agent_id]
        else:
            pkts = self._bcast_pkt
            got = [
                m
                for m, p in zip(self._bcast[start:end], pkts[start:end], strict=True)
                if m.sender_id != agent_id and (p.partition is None or p.reaches(agent_id))
            ]
        if direct:
            got = list(heapq.merge(got, direct, key=lambda m: m.seq))
        return got

    def pending(self, agent_id: str) -> int:
        """An upper bound of the messages waiting for ``agent_id`` (no filtering)."""
        return len(self._bcast) - self._cursor.get(agent_id, 0) + len(self._inbox.get(agent_id, ()))

    # ----------------------------------------------------------------- telemetry -----
    def telemetry(self) -> dict[str, Any]:
        """``comm.*`` of the network plus the bus's acceptance counts."""
        out = self.network.telemetry()
        out["bus.accepted"] = self.accepted
        out["bus.rejected"] = sum(self.rejected_by_reason.values())
        out["bus.rejected_by_reason"] = dict(sorted(self.rejected_by_reason.items()))
        out["bus.epoch"] = self.epoch
        return out
