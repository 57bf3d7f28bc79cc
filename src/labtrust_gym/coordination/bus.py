"""The signed message bus between coordination agents.

:meth:`SignedMessageBus.publish` wraps a payload in an :class:`Envelope` (sender, message
type, payload, per-sender nonce, current epoch, send time, recipients or channel, and the
bus binding: the episode id and this bus's id), signs the canonical JSON of those fields
(:func:`labtrust_gym.engine.canonical.canonical_json`) with the sender's Ed25519 key, and
puts it on the :class:`NetworkModel`. A payload that is not canonical JSON (a non-string
key, a NaN or infinite number, bytes, a set, a tuple, a str/int subclass...) is refused
at publish with ``BUS_PAYLOAD_INVALID``: its canonical bytes would not say what the
receivers get (``{1: v}`` signs like ``{"1": v}``, NaN like ``null``).

When the network delivers an envelope (:meth:`deliver_until`) it is verified **once**
(not per recipient), in this order, the first failure naming the reason code:

1. ``BUS_UNKNOWN_SENDER``: no public key is registered for the sender;
2. ``BUS_PAYLOAD_INVALID``: the payload is not canonical JSON (see above);
3. ``BUS_SIG_INVALID``: the signature does not verify over the envelope's fields (forged,
   tampered, or signed with another key);
4. ``BUS_BINDING_MISMATCH``: an authentic envelope bound to another episode or another
   bus (``episode_id`` / ``bus_id``): a replay from another run, even one built from the
   same seed, whose nonces this bus has never seen;
5. ``BUS_REPLAY``: the sender's nonce was seen before, or is more than ``replay_window``
   behind the newest nonce seen from it (too old to tell);
6. ``BUS_EPOCH_STALE``: the envelope's epoch is not the bus's current epoch
   (:meth:`advance_epoch` invalidates everything still in flight);
7. ``BUS_TYPE_FORBIDDEN``: the sender's role may not send this message type
   (``bus.allowed_types`` of the network policy).

An authentic envelope of this bus (steps 1-4 passed) consumes its nonce even if a later
step rejects it. Every rejection is kept in :attr:`rejections` (time, code, claimed
sender, and where it was going), so receivers can notice forgery attempts.

The binding: ``episode_id`` is derived deterministically from the task, the episode seed
and the scale (:func:`episode_binding`); ``bus_id`` is drawn fresh for every bus object
(a session identifier like a TLS session id, from the OS, so two buses built from the same
seed still differ). Neither is simulation randomness: nothing the agents do or the
episode log records depends on it, so runs stay byte-identical.

Accepted messages become :class:`Message` objects, delivered to:

* a broadcast (no recipients, no channel): everyone, stored once in a shared log, each
  agent keeping a cursor into it;
* a channel broadcast (``channel="site:SITE_001"``): the agents that read that channel
  (:meth:`channel_since`, e.g. one site's team), stored once per channel;
* a recipient list: those recipients' inboxes.

A partition filters broadcasts when they are read (:meth:`Packet.reaches`).
:meth:`receive` returns what reached an agent since its last call from the broadcast log,
its inbox and the channels it :meth:`subscribe`\\ d to; an agent never receives its own
messages there. Published ``ALERT`` envelopes are journaled (:attr:`alerts`), whether or
not the network delivers them: an alert is the record of an agent noticing something.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import secrets
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
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
    "Rejection",
    "SignedMessageBus",
    "envelope_signing_bytes",
    "episode_binding",
    "load_bus_policy",
    "payload_problem",
    "BUS_REASON_CODES",
    "COORDINATOR_ROLE",
]

#: The reason codes of a rejected envelope (registered in policy/reason_codes).
BUS_REASON_CODES = (
    "BUS_UNKNOWN_SENDER",
    "BUS_SIG_INVALID",
    "BUS_REPLAY",
    "BUS_EPOCH_STALE",
    "BUS_TYPE_FORBIDDEN",
    "BUS_BINDING_MISMATCH",
    "BUS_PAYLOAD_INVALID",
)
#: The bus-only role of coordinator identities (planners, auctioneers, hubs...).
COORDINATOR_ROLE = "ROLE_COORDINATOR"
_INT64 = (-(1 << 63), (1 << 64) - 1)  # what orjson serializes


@dataclass(frozen=True, slots=True)
class BusPolicy:
    """The ``bus`` section of the network policy."""

    message_types: frozenset[str]
    allowed_types: Mapping[str, frozenset[str]]
    replay_window: int = 1024
    coordinator_role: str = COORDINATOR_ROLE

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
        coord = d.get("coordinator_role", COORDINATOR_ROLE)
        if coord not in allowed:
            raise ConfigError(
                f"network policy: bus.coordinator_role {coord!r} has no entry in "
                "bus.allowed_types; add the message types coordinators may send"
            )
        return cls(vocab, MappingProxyType(allowed), rw, coord)

    def allows(self, role: str | None, msg_type: str) -> bool:
        if role is None:
            return False
        ts = self.allowed_types.get(role)
        return ts is not None and msg_type in ts


def load_bus_policy(repo_root: Path | str | None = None) -> BusPolicy:
    return BusPolicy.from_dict(load_network_document(repo_root)["bus"])


def episode_binding(task: str, seed: int, scale: str | None = None) -> str:
    """The episode id envelopes are bound to: a digest of the task, the episode seed and
    the scale config id (the same in every process)."""
    data = canonical_json({"task": str(task), "seed": int(seed), "scale": scale})
    return hashlib.sha256(b"labtrust-bus-episode\x00" + data).hexdigest()[:32]


def payload_problem(obj: Any, path: str = "payload") -> str | None:
    """Why ``obj`` is not canonical JSON (None if it is): only dicts with ``str`` keys,
    lists, ``str``, ``int`` (64-bit), finite ``float``, ``bool`` and ``None``, with exactly
    those types (no subclasses, no tuples, sets, bytes or mapping proxies)."""
    t = type(obj)
    if obj is None or t is bool or t is str:
        return None
    if t is int:
        return None if _INT64[0] <= obj <= _INT64[1] else f"{path}: integer {obj} out of range"
    if t is float:
        return None if math.isfinite(obj) else f"{path}: {obj!r} is not a finite number"
    if t is dict:
        for k, v in obj.items():
            if type(k) is not str:
                return f"{path}: key {k!r} is a {type(k).__name__}; keys must be strings"
            p = payload_problem(v, f"{path}.{k}")
            if p is not None:
                return p
        return None
    if t is list:
        for i, v in enumerate(obj):
            p = payload_problem(v, f"{path}[{i}]")
            if p is not None:
                return p
        return None
    return f"{path}: a {t.__name__} is not a JSON value (use dict, list, str, number, bool, None)"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What travels on the wire. ``signature`` is the raw 64-byte Ed25519 signature over
    :meth:`signing_bytes`; ``recipients`` is None for a broadcast (to everyone, or to
    ``channel``); ``episode_id`` and ``bus_id`` bind it to one bus."""

    sender_id: str
    msg_type: str
    payload: Mapping[str, Any]
    nonce: int
    epoch: int
    t_ms: float
    recipients: tuple[str, ...] | None
    signature: bytes
    episode_id: str = ""
    bus_id: str = ""
    channel: str | None = None

    def signing_bytes(self) -> bytes:
        return envelope_signing_bytes(
            self.sender_id,
            self.msg_type,
            self.payload,
            self.nonce,
            self.epoch,
            self.t_ms,
            self.recipients,
            episode_id=self.episode_id,
            bus_id=self.bus_id,
            channel=self.channel,
        )


def envelope_signing_bytes(
    sender_id: Any,
    msg_type: Any,
    payload: Any,
    nonce: Any,
    epoch: Any,
    t_ms: Any,
    recipients: Any,
    *,
    episode_id: Any = "",
    bus_id: Any = "",
    channel: Any = None,
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
            "episode_id": episode_id,
            "bus_id": bus_id,
            "channel": channel,
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
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused envelope: when it arrived, why, who it claimed to be from, where it was
    going (``packet.reaches(agent)`` tells whether an agent's verifier saw it)."""

    t_ms: float
    code: str
    sender_id: str
    channel: str | None
    packet: Packet


class SignedMessageBus:
    """Ed25519-signed messages over a :class:`NetworkModel` (see the module docstring).

    ``keys``: ``{agent_id: (key_id, Ed25519PrivateKey)}`` (e.g. ``task.agent_keys(seed)``
    plus the coordinator identities): who can publish, and whose public keys verify.
    ``public_keys`` adds verify-only senders. ``roles``: ``{agent_id: role}`` for
    ``bus.allowed_types``. ``policy``: the bus policy (default: the policy tree's).
    ``episode_id``: the episode binding (:func:`episode_binding`); ``bus_id``: this bus's
    id (default: fresh from the OS).
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
        episode_id: str = "",
        bus_id: str | None = None,
    ) -> None:
        self.network = network
        self.policy = policy if policy is not None else load_bus_policy(repo_root)
        self._priv: dict[str, Ed25519PrivateKey] = {a: k for a, (_, k) in keys.items()}
        self._pub: dict[str, Ed25519PublicKey] = dict(public_keys or {})
        self.roles: dict[str, str | None] = dict(roles)
        self.epoch = int(epoch)
        self.episode_id = str(episode_id)
        self.bus_id = bus_id if bus_id is not None else secrets.token_hex(16)
        self._nonce: dict[str, int] = {}
        self._seen: dict[str, list[int]] = {}  # sender -> [highest nonce, bitmap behind it]
        self._rw = self.policy.replay_window
        self._mask = (1 << self._rw) - 1
        self._bcast: list[Message] = []
        self._bcast_pkt: list[Packet] = []
        self._chan: dict[str, tuple[list[Message], list[Packet]]] = {}
        self._subs: dict[str, list[str]] = {}
        self._chan_cursor: dict[tuple[str, str], int] = {}
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
        #: Every refused envelope, in arrival order.
        self.rejections: list[Rejection] = []
        #: Every published ALERT envelope, in publication order (delivered or not).
        self.alerts: list[Envelope] = []

    # ----------------------------------------------------------------- keys ----------
    def public_key(self, agent_id: str) -> Ed25519PublicKey | None:
        pub = self._pub.get(agent_id)
        if pub is None:
            priv = self._priv.get(agent_id)
            if priv is None:
                return None
            pub = self._pub[agent_id] = priv.public_key()
        return pub

    def can_publish(self, agent_id: str) -> bool:
        return agent_id in self._priv

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
        channel: str | None = None,
        track: bool = False,
    ) -> Envelope:
        """Sign and send ``payload`` (canonical JSON: see the module docstring) from
        ``sender_id``.

        ``recipients`` None broadcasts (to everyone, or to the readers of ``channel``);
        otherwise a list of agent ids (then ``channel`` must be None). Raises
        :class:`UnknownIdError` if the bus holds no signing key for the sender and
        :class:`ConfigError` (``BUS_PAYLOAD_INVALID``) for a payload that is not canonical
        JSON. With ``track`` the outcome is kept for :meth:`injected_outcome` (ticket:
        :attr:`last_ticket`).
        """
        key = self._priv.get(sender_id)
        if key is None:
            raise UnknownIdError(
                f"the bus holds no signing key for sender {sender_id!r}; only agents of the "
                "episode can publish (use inject() to put a raw envelope on the wire)"
            )
        body = dict(payload) if type(payload) is not dict else payload
        problem = payload_problem(body)
        if problem is not None:
            self.rejected_by_reason["BUS_PAYLOAD_INVALID"] = (
                self.rejected_by_reason.get("BUS_PAYLOAD_INVALID", 0) + 1
            )
            raise ConfigError(
                f"BUS_PAYLOAD_INVALID: {msg_type} from {sender_id}: {problem}; a bus payload "
                "must be canonical JSON (string keys, finite numbers, lists, no bytes)"
            )
        rcpt = tuple(recipients) if recipients is not None else None
        if rcpt is not None and channel is not None:
            raise ConfigError(
                f"{msg_type} from {sender_id}: give recipients or a channel, not both"
            )
        body = orjson.loads(canonical_json(body))  # the receivers' copy is what was signed
        nonce = self._nonce.get(sender_id, 0) + 1
        self._nonce[sender_id] = nonce
        env = Envelope(
            sender_id,
            msg_type,
            body,
            nonce,
            self.epoch,
            t_ms,
            rcpt,
            b"",
            self.episode_id,
            self.bus_id,
            channel,
        )
        env = replace(env, signature=key.sign(env.signing_bytes()))
        self.published_by_type[msg_type] = self.published_by_type.get(msg_type, 0) + 1
        if msg_type == "ALERT":
            self.alerts.append(env)
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

        Records the nonce of an authentic envelope of this bus (replay protection)."""
        sender = getattr(env, "sender_id", None)
        if not isinstance(sender, str):
            return "BUS_UNKNOWN_SENDER"
        pub = self.public_key(sender)
        if pub is None:
            return "BUS_UNKNOWN_SENDER"
        if payload_problem(getattr(env, "payload", None)) is not None:
            return "BUS_PAYLOAD_INVALID"
        try:
            pub.verify(env.signature, env.signing_bytes())
        except (InvalidSignature, TypeError, ValueError, AttributeError, orjson.JSONEncodeError):
            return "BUS_SIG_INVALID"
        if env.episode_id != self.episode_id or env.bus_id != self.bus_id:
            return "BUS_BINDING_MISMATCH"
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
                chan = getattr(env, "channel", None)
                self.rejections.append(
                    Rejection(
                        pkt.arrive_ms,
                        code,
                        str(getattr(env, "sender_id", "")),
                        chan if isinstance(chan, str) else None,
                        pkt,
                    )
                )
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
                env.channel,
            )
            self._dseq += 1
            if pkt.recipients is None:
                if env.channel is None:
                    self._bcast.append(msg)
                    self._bcast_pkt.append(pkt)
                else:
                    log = self._chan.get(env.channel)
                    if log is None:
                        log = self._chan[env.channel] = ([], [])
                    log[0].append(msg)
                    log[1].append(pkt)
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

    def _reached(
        self, msgs: list[Message], pkts: list[Packet], start: int, end: int, agent_id: str
    ) -> list[Message]:
        if not self.network.policy.partitions:
            return [m for m in msgs[start:end] if m.sender_id != agent_id]
        return [
            m
            for m, p in zip(msgs[start:end], pkts[start:end], strict=True)
            if m.sender_id != agent_id and (p.partition is None or p.reaches(agent_id))
        ]

    def subscribe(self, agent_id: str, channel: str) -> None:
        """Make :meth:`receive` return the channel's messages to ``agent_id`` (from now on)."""
        subs = self._subs.setdefault(agent_id, [])
        if channel not in subs:
            subs.append(channel)
            log = self._chan.get(channel)
            self._chan_cursor[(agent_id, channel)] = len(log[0]) if log else 0

    def receive(self, agent_id: str) -> list[Message]:
        """Verified messages that reached ``agent_id`` since its last call, in delivery order."""
        start = self._cursor.get(agent_id, 0)
        end = len(self._bcast)
        direct = self._inbox.pop(agent_id, None)
        parts: list[list[Message]] = []
        if start != end:
            self._cursor[agent_id] = end
            parts.append(self._reached(self._bcast, self._bcast_pkt, start, end, agent_id))
        for ch in self._subs.get(agent_id, ()):
            log = self._chan.get(ch)
            if log is None:
                continue
            c0 = self._chan_cursor.get((agent_id, ch), 0)
            if c0 != len(log[0]):
                self._chan_cursor[(agent_id, ch)] = len(log[0])
                parts.append(self._reached(log[0], log[1], c0, len(log[0]), agent_id))
        if direct:
            parts.append(direct)
        parts = [p for p in parts if p]
        if not parts:
            return []
        if len(parts) == 1:
            return parts[0]
        return list(heapq.merge(*parts, key=lambda m: m.seq))

    def channel_since(self, channel: str, start: int, member: str) -> tuple[list[Message], int]:
        """Messages of ``channel`` from index ``start`` that reached ``member`` (its own
        included: one reader stands for every agent the partition treats alike), and the
        index to continue from."""
        log = self._chan.get(channel)
        if log is None:
            return [], start
        msgs, pkts = log
        end = len(msgs)
        if start >= end:
            return [], end
        if not self.network.policy.partitions:
            return msgs[start:end], end
        return [
            m
            for m, p in zip(msgs[start:end], pkts[start:end], strict=True)
            if p.partition is None or p.reaches(member)
        ], end

    def pending(self, agent_id: str) -> int:
        """An upper bound of the messages waiting for ``agent_id`` (no filtering)."""
        n = len(self._bcast) - self._cursor.get(agent_id, 0) + len(self._inbox.get(agent_id, ()))
        for ch in self._subs.get(agent_id, ()):
            log = self._chan.get(ch)
            if log is not None:
                n += len(log[0]) - self._chan_cursor.get((agent_id, ch), 0)
        return n

    # ----------------------------------------------------------------- telemetry -----
    def telemetry(self) -> dict[str, Any]:
        """``comm.*`` of the network plus the bus's acceptance counts and published types."""
        out = self.network.telemetry()
        out["bus.accepted"] = self.accepted
        out["bus.rejected"] = sum(self.rejected_by_reason.values())
        out["bus.rejected_by_reason"] = dict(sorted(self.rejected_by_reason.items()))
        out["bus.published_by_type"] = dict(sorted(self.published_by_type.items()))
        out["bus.epoch"] = self.epoch
        out["bus.episode_id"] = self.episode_id
        return out
