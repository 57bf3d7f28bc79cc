"""The network between coordination agents: delay, loss, partitions, bounded reordering.

Configured by ``policy/coordination/network_policy.v0.1.yaml`` (section ``network``,
schema ``policy/schemas/network_policy.v0.1.schema.json``); risk injections merge their
overrides over it. All randomness comes from the generator it is given (the runner passes
``stream(seed, "network")``), so the same seed and policy give the same deliveries.

Semantics of one message, sent at ``t_ms`` by ``sender`` to a list of recipients or to
everyone (``recipients=None``, a broadcast):

* **one** draw per message, never per recipient: a uniform for loss and a normal for the
  delay, always both (so changing a drop rate never shifts the delays);
* loss: the message is lost for everyone with probability ``max(drop_rate, rate of the
  drop spikes active at t_ms)``;
* delay: lognormal with median ``delay_p50_ms`` and 95th percentile ``delay_p95_ms``;
* partition: while a partition is active at ``t_ms`` (windows are ``[start_ms, end_ms)``)
  the message reaches only recipients in its sender's group. Groups list agent ids or site
  ids; agents listed in no group form one more group together. A broadcast stays one
  record: receivers are filtered when they read it (:meth:`Packet.reaches`);
* bounded reordering: a message never arrives before any message of the same sender that
  was sent more than ``reorder_window`` messages earlier (its arrival is raised to theirs;
  ties go in send order). So no message is overtaken by more than ``reorder_window``
  later-sent messages of its sender; ``reorder_window: 0`` is FIFO per sender.

:meth:`NetworkModel.deliver_until` releases, in arrival order, every message due by a time.
Counters feed the ``comm.*`` telemetry.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labtrust_gym.errors import ConfigError
from labtrust_gym.numeric import percentile
from labtrust_gym.policy.loader import load_policy_document, merge_overlay, thaw

__all__ = [
    "DropSpike",
    "Partition",
    "NetworkPolicy",
    "NetworkModel",
    "Packet",
    "load_network_document",
    "load_network_policy",
    "Z95",
]

#: The standard normal quantile of 0.95 (lognormal fit: sigma = ln(p95 / p50) / Z95).
Z95 = 1.6448536269514722
_NETWORK_FIELDS = (
    "delay_p50_ms",
    "delay_p95_ms",
    "drop_rate",
    "drop_spikes",
    "partitions",
    "reorder_window",
    "step_ms",
)


def _err(path: str, msg: str) -> ConfigError:
    return ConfigError(f"network policy: {path}: {msg}")


def _number(d: Mapping[str, Any], key: str, path: str, *, minimum: float = 0.0) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _err(f"{path}{key}", f"must be a number, got {v!r}; set it to e.g. {minimum + 1:g}")
    if v < minimum:
        raise _err(f"{path}{key}", f"must be >= {minimum:g}, got {v!r}; raise it")
    return float(v)


def _rate(d: Mapping[str, Any], key: str, path: str) -> float:
    v = _number(d, key, path)
    if v > 1.0:
        raise _err(f"{path}{key}", f"is a probability and must be <= 1, got {v!r}; lower it")
    return v


def _window(d: Any, path: str) -> tuple[float, float]:
    if not isinstance(d, Mapping):
        raise _err(path, f"must be a mapping with start_ms and end_ms, got {d!r}")
    start = _number(d, "start_ms", f"{path}.")
    end = _number(d, "end_ms", f"{path}.")
    if end <= start:
        raise _err(f"{path}.end_ms", f"must be after start_ms ({start:g}), got {end:g}; fix it")
    return start, end


@dataclass(frozen=True, slots=True)
class DropSpike:
    """Loss rate ``drop_rate`` during ``[start_ms, end_ms)``."""

    start_ms: float
    end_ms: float
    drop_rate: float


@dataclass(frozen=True, slots=True)
class Partition:
    """During ``[start_ms, end_ms)`` only members of one group reach each other."""

    start_ms: float
    end_ms: float
    groups: tuple[frozenset[str], ...]


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """The ``network`` section of the network policy (see the module docstring)."""

    delay_p50_ms: float = 2.0
    delay_p95_ms: float = 8.0
    drop_rate: float = 0.0
    drop_spikes: tuple[DropSpike, ...] = ()
    partitions: tuple[Partition, ...] = ()
    reorder_window: int = 0
    step_ms: float = 10_000.0

    def __post_init__(self) -> None:
        if self.delay_p50_ms <= 0:
            raise _err("delay_p50_ms", f"must be > 0, got {self.delay_p50_ms!r}")
        if self.delay_p95_ms < self.delay_p50_ms:
            raise _err(
                "delay_p95_ms",
                f"({self.delay_p95_ms:g}) is below delay_p50_ms ({self.delay_p50_ms:g}); "
                "the 95th percentile must be at least the median, raise it",
            )
        if self.step_ms <= 0:
            raise _err("step_ms", f"must be > 0, got {self.step_ms!r}")
        if self.reorder_window < 0:
            raise _err("reorder_window", f"must be >= 0, got {self.reorder_window!r}")

    @property
    def mu(self) -> float:
        return math.log(self.delay_p50_ms)

    @property
    def sigma(self) -> float:
        return math.log(self.delay_p95_ms / self.delay_p50_ms) / Z95

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NetworkPolicy:
        """Build from the ``network`` mapping; errors name the field and the fix."""
        if not isinstance(d, Mapping):
            raise _err("network", f"must be a mapping, got {type(d).__name__}")
        unknown = sorted(set(d) - set(_NETWORK_FIELDS))
        if unknown:
            raise _err(
                ", ".join(unknown),
                f"unknown field(s); remove or rename them (known: {', '.join(_NETWORK_FIELDS)})",
            )
        missing = [k for k in ("delay_p50_ms", "delay_p95_ms", "drop_rate") if k not in d]
        if missing:
            raise _err(", ".join(missing), "missing; add it (milliseconds or a probability)")
        p50 = _number(d, "delay_p50_ms", "")
        if p50 <= 0:
            raise _err("delay_p50_ms", "must be > 0; a network has some delay (e.g. 2.0)")
        p95 = _number(d, "delay_p95_ms", "")
        rw = d.get("reorder_window", 0)
        if isinstance(rw, bool) or not isinstance(rw, int) or rw < 0:
            raise _err("reorder_window", f"must be an integer >= 0, got {rw!r}; 0 = FIFO")
        step = _number(d, "step_ms", "", minimum=0.0) if "step_ms" in d else 10_000.0
        spikes = []
        for i, s in enumerate(d.get("drop_spikes") or ()):
            start, end = _window(s, f"drop_spikes[{i}]")
            spikes.append(DropSpike(start, end, _rate(s, "drop_rate", f"drop_spikes[{i}].")))
        parts: list[Partition] = []
        for i, p in enumerate(d.get("partitions") or ()):
            path = f"partitions[{i}]"
            start, end = _window(p, path)
            groups = p.get("groups")
            if not isinstance(groups, (list, tuple)) or not groups:
                raise _err(f"{path}.groups", "must be a non-empty list of lists of agent/site ids")
            seen: dict[str, int] = {}
            gs = []
            for gi, g in enumerate(groups):
                if not isinstance(g, (list, tuple)) or not g:
                    raise _err(f"{path}.groups[{gi}]", "must be a non-empty list of ids")
                for m in g:
                    if not isinstance(m, str) or not m:
                        raise _err(f"{path}.groups[{gi}]", f"member {m!r} must be an id string")
                    if m in seen and seen[m] != gi:
                        raise _err(
                            f"{path}.groups[{gi}]",
                            f"{m} is also in groups[{seen[m]}]; an id belongs to one group",
                        )
                    seen[m] = gi
                gs.append(frozenset(g))
            for j, q in enumerate(parts):
                if start < q.end_ms and q.start_ms < end:
                    raise _err(
                        path,
                        f"overlaps partitions[{j}] in time; separate the windows or merge "
                        "their groups into one entry",
                    )
            parts.append(Partition(start, end, tuple(gs)))
        if step <= 0:
            raise _err("step_ms", "must be > 0 (the episode step in ms)")
        return cls(
            delay_p50_ms=p50,
            delay_p95_ms=p95,
            drop_rate=_rate(d, "drop_rate", ""),
            drop_spikes=tuple(spikes),
            partitions=tuple(parts),
            reorder_window=rw,
            step_ms=step,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "delay_p50_ms": self.delay_p50_ms,
            "delay_p95_ms": self.delay_p95_ms,
            "drop_rate": self.drop_rate,
            "drop_spikes": [
                {"start_ms": s.start_ms, "end_ms": s.end_ms, "drop_rate": s.drop_rate}
                for s in self.drop_spikes
            ],
            "partitions": [
                {
                    "start_ms": p.start_ms,
                    "end_ms": p.end_ms,
                    "groups": [sorted(g) for g in p.groups],
                }
                for p in self.partitions
            ],
            "reorder_window": self.reorder_window,
            "step_ms": self.step_ms,
        }

    def drop_rate_at(self, t_ms: float) -> float:
        rate = self.drop_rate
        for s in self.drop_spikes:
            if s.start_ms <= t_ms < s.end_ms and s.drop_rate > rate:
                rate = s.drop_rate
        return rate

    def partition_at(self, t_ms: float) -> int | None:
        for i, p in enumerate(self.partitions):
            if p.start_ms <= t_ms < p.end_ms:
                return i
        return None


def load_network_document(repo_root: Path | str | None = None) -> dict[str, Any]:
    """The whole network policy file (``network``, ``bus``, ``stale_view_reason_codes``)
    as a mutable copy; the file is read and validated once per version."""
    doc: dict[str, Any] = thaw(load_policy_document("network_policy", repo_root))
    return doc


def load_network_policy(
    repo_root: Path | str | None = None, overrides: Mapping[str, Any] | None = None
) -> NetworkPolicy:
    """The :class:`NetworkPolicy` of the policy tree, with ``overrides`` (a partial
    ``network`` mapping, e.g. from a risk injection) deep-merged over it."""
    net = load_network_document(repo_root)["network"]
    if overrides:
        net = merge_overlay(net, thaw(overrides))
    return NetworkPolicy.from_dict(net)


class Packet:
    """One message in the network (one record per message, whatever the fan-out)."""

    __slots__ = (
        "seq",
        "sender",
        "index",
        "sent_ms",
        "arrive_ms",
        "body",
        "recipients",
        "partition",
        "group",
        "_net",
    )

    def __init__(
        self,
        seq: int,
        sender: str,
        index: int,
        sent_ms: float,
        arrive_ms: float,
        body: Any,
        recipients: tuple[str, ...] | None,
        partition: int | None,
        group: int,
        net: NetworkModel,
    ) -> None:
        self.seq = seq
        self.sender = sender
        #: Position among the messages of ``sender`` (0, 1, ...).
        self.index = index
        self.sent_ms = sent_ms
        self.arrive_ms = arrive_ms
        self.body = body
        #: The recipients it still reaches (partition applied), or None for a broadcast.
        self.recipients = recipients
        #: The partition active at send time (broadcasts only) and the sender's group in it.
        self.partition = partition
        self.group = group
        self._net = net

    def reaches(self, agent_id: str) -> bool:
        """Whether this message gets to ``agent_id`` (partition and recipient list)."""
        if self.recipients is not None:
            return agent_id in self.recipients
        if self.partition is None:
            return True
        return self._net.group_of(self.partition, agent_id) == self.group

    def __repr__(self) -> str:
        return (
            f"Packet(seq={self.seq}, sender={self.sender!r}, index={self.index}, "
            f"sent_ms={self.sent_ms}, arrive_ms={self.arrive_ms})"
        )


@dataclass(slots=True)
class _Counters:
    sent: int = 0
    dropped: int = 0
    delivered: int = 0
    partition_events: int = 0
    partition_lost: int = 0
    reordered: int = 0
    late: int = 0
    latencies: array = field(default_factory=lambda: array("d"))


class NetworkModel:
    """Send and deliver-by-time over a :class:`NetworkPolicy` (see the module docstring).

    ``rng`` is the only source of randomness (draws are taken in blocks of ``block``).
    ``agent_sites`` maps agent ids to site ids so partitions may name sites.
    """

    def __init__(
        self,
        policy: NetworkPolicy,
        rng: np.random.Generator,
        *,
        agent_sites: Mapping[str, str] | None = None,
        block: int = 4096,
    ) -> None:
        self.policy = policy
        self.rng = rng
        self.agent_sites: Mapping[str, str] = dict(agent_sites or {})
        self._mu = policy.mu
        self._sigma = policy.sigma
        self._window = policy.reorder_window
        self._block = int(block)
        self._z = np.empty(0)
        self._u = np.empty(0)
        self._k = 0
        self._heap: list[tuple[float, int, Packet]] = []
        self._seq = 0
        self._order: dict[str, list[Any]] = {}  # sender -> [floor_ms, deque of recent arrivals]
        self._sent_by: dict[str, int] = {}
        self._max_delivered: dict[str, int] = {}
        self._groups: list[dict[str, int]] = [{} for _ in policy.partitions]
        self._has_spikes = bool(policy.drop_spikes)
        self._has_partitions = bool(policy.partitions)
        self.counters = _Counters()
        self.last_status = ""

    # ----------------------------------------------------------------- helpers -------
    def _draw(self) -> tuple[float, float]:
        k = self._k
        if k >= len(self._u):
            self._u = self.rng.random(self._block)
            self._z = self.rng.standard_normal(self._block)
            k = 0
        self._k = k + 1
        return float(self._u[k]), float(self._z[k])

    def group_of(self, partition: int, agent_id: str) -> int:
        """The group index of ``agent_id`` in partition ``partition`` (listed by agent id or
        by its site; the unlisted form the last group)."""
        memo = self._groups[partition]
        g = memo.get(agent_id)
        if g is None:
            groups = self.policy.partitions[partition].groups
            site = self.agent_sites.get(agent_id)
            g = len(groups)
            for i, members in enumerate(groups):
                if agent_id in members or (site is not None and site in members):
                    g = i
                    break
            memo[agent_id] = g
        return g

    @property
    def in_flight(self) -> int:
        return len(self._heap)

    def now_ms(self, step: int) -> float:
        """Episode time (ms) at the start of env step ``step``."""
        return step * self.policy.step_ms

    # ----------------------------------------------------------------- send ----------
    def send(
        self,
        sender: str,
        t_ms: float,
        body: Any,
        recipients: Iterable[str] | None = None,
    ) -> int:
        """Put a message on the wire; returns its sequence number.

        ``last_status`` says what happened: ``queued``, ``dropped`` (lost), or
        ``partitioned`` (every listed recipient is cut off).
        """
        c = self.counters
        seq = self._seq
        self._seq = seq + 1
        c.sent += 1
        index = self._sent_by.get(sender, 0)
        self._sent_by[sender] = index + 1
        u, z = self._draw()
        rate = self.policy.drop_rate_at(t_ms) if self._has_spikes else self.policy.drop_rate
        if u < rate:
            c.dropped += 1
            self.last_status = "dropped"
            return seq
        rcpt = None if recipients is None else tuple(recipients)
        pidx: int | None = None
        group = 0
        if self._has_partitions:
            pidx = self.policy.partition_at(t_ms)
            if pidx is not None:
                group = self.group_of(pidx, sender)
                if rcpt is None:
                    c.partition_events += 1
                else:
                    kept = tuple(r for r in rcpt if self.group_of(pidx, r) == group)
                    if len(kept) != len(rcpt):
                        c.partition_events += 1
                    rcpt = kept
                    pidx = None
                    if not kept:
                        c.partition_lost += 1
                        self.last_status = "partitioned"
                        return seq
        arrive = t_ms + math.exp(self._mu + self._sigma * z)
        st = self._order.get(sender)
        if st is None:
            st = self._order[sender] = [-math.inf, deque()]
        if arrive < st[0]:
            arrive = st[0]
        recent: deque[float] = st[1]
        recent.append(arrive)
        if len(recent) > self._window:
            old = recent.popleft()
            if old > st[0]:
                st[0] = old
        pkt = Packet(seq, sender, index, t_ms, arrive, body, rcpt, pidx, group, self)
        heapq.heappush(self._heap, (arrive, seq, pkt))
        self.last_status = "queued"
        return seq

    # ----------------------------------------------------------------- deliver -------
    def deliver_until(self, t_ms: float) -> list[Packet]:
        """Every message arriving at or before ``t_ms``, in arrival order (ties: send order)."""
        heap = self._heap
        if not heap or heap[0][0] > t_ms:
            return []
        c = self.counters
        step = self.policy.step_ms
        out: list[Packet] = []
        maxd = self._max_delivered
        while heap and heap[0][0] <= t_ms:
            pkt = heapq.heappop(heap)[2]
            lat = pkt.arrive_ms - pkt.sent_ms
            c.latencies.append(lat)
            if lat > step:
                c.late += 1
            prev = maxd.get(pkt.sender, -1)
            if pkt.index < prev:
                c.reordered += 1
            else:
                maxd[pkt.sender] = pkt.index
            out.append(pkt)
        c.delivered += len(out)
        return out

    # ----------------------------------------------------------------- telemetry -----
    def telemetry(self) -> dict[str, Any]:
        """``comm.msg_count`` messages sent; ``comm.delivered`` arrived; ``comm.dropped``
        lost by the link (drop rate, spikes) and ``comm.drop_rate`` = dropped / sent;
        ``comm.p50/p95_latency_ms`` over arrived messages; ``comm.partition_events``
        messages cut off from at least one recipient by an active partition (a broadcast
        sent during one counts once), ``comm.partition_lost`` those that reached nobody;
        ``comm.reordered`` messages delivered after a later-sent one of their sender;
        ``comm.late`` messages slower than a step; ``comm.in_flight`` not yet arrived."""
        c = self.counters
        return {
            "comm.msg_count": c.sent,
            "comm.delivered": c.delivered,
            "comm.dropped": c.dropped,
            "comm.drop_rate": (c.dropped / c.sent) if c.sent else 0.0,
            "comm.p50_latency_ms": percentile(c.latencies, 50),
            "comm.p95_latency_ms": percentile(c.latencies, 95),
            "comm.partition_events": c.partition_events,
            "comm.partition_lost": c.partition_lost,
            "comm.reordered": c.reordered,
            "comm.late": c.late,
            "comm.in_flight": len(self._heap),
        }
