"""The team's messages: site channels, what each audience received, and what it implies.

Every built-in method's coordination traffic is a message on the episode's signed bus, on
the channel of the sender's site (:func:`~labtrust_gym.coordination.identities.site_channel`),
through the seeded network model. Agents decide on what **reached** them:

* a :class:`Board` is what one *audience* has received: the agents of a site (team members
  and coordination identities) that the network treats alike. Delay and loss are drawn
  once per message and a partition splits agents into groups, so the agents of a site
  that fall in the same group of every partition window receive exactly the same
  messages at the same times; one board stands for all of them (an agent's own messages
  are in it too: it knows what it sent). Under a partition a site has one board per
  group, and the groups' boards diverge.
* A board folds the messages into who holds which tubes (CLAIM from runners, ASSIGN and
  AWARD from coordinators, RELEASE), the orders addressed to each runner, runners' bids,
  passage reservations (RESERVE), and keeps the other types (ORDER, REPORT, MARK) for the
  method. Two holders of one tube are settled the same way on every board: a
  coordinator's order beats a runner's claim, a later order beats an earlier one, and
  between claims the smaller ``(priority, agent id)`` wins. Holdings expire (claims after
  ``claim_ttl_s``, orders after ``order_ttl_s`` unless acknowledged by a CLAIM) and end
  when the tube no longer lies in the zone they name (it was picked up).
* A :class:`Knowledge` is an agent's view of the holdings: its board's, with its own trip
  on top (no copy per agent).
* :class:`TeamComms` builds the boards, reads the channels, publishes for the team, sends
  the beacons' heartbeats and the watchdogs' alerts
  (:mod:`labtrust_gym.coordination.watchdog`).

Within one env step (``dt``) coordinators decide at its start ``t`` and the agents at
``t + decide_ms``: what is delivered by then is known (a nominal 2-8 ms message is; a
seconds-long delay is not, and arrives for a later step).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from labtrust_gym.coordination.identities import site_channel
from labtrust_gym.coordination.watchdog import DetectionPolicy, Watchdog

__all__ = ["Board", "Entry", "Knowledge", "Order", "TeamComms", "CLAIM", "ASSIGN", "AWARD"]

CLAIM, ASSIGN, AWARD = 0, 1, 2  # kinds of holding
_AUTHORITY = {CLAIM: 0, ASSIGN: 1, AWARD: 1}
_DONE = frozenset({"REJECTED", "ALIQUOTED", "ANALYZED"})


@dataclass(slots=True)
class Entry:
    """A holding of one key (a specimen id, or ``con:<consignment id>``)."""

    owner: str
    zone: str
    kind: int
    prio: tuple[float, float]
    expires_ms: float


@dataclass(frozen=True, slots=True)
class Order:
    """A coordinator's order to a runner (ASSIGN: go now; AWARD: a contract to queue)."""

    zone: str
    sids: tuple[str, ...]
    cid: str | None
    stat: bool
    t_ms: float
    seq: int
    kind: int
    sender: str

    @property
    def keys(self) -> tuple[str, ...]:
        return self.sids + (("con:" + self.cid,) if self.cid else ())


def _order_rows(payload: Mapping[str, Any]) -> list[Any]:
    rows = payload.get("orders")
    return list(rows) if isinstance(rows, (list, tuple)) else []


class Board:
    """What one audience of a site has received (see the module docstring)."""

    def __init__(
        self,
        site: str,
        reader: str,
        members: list[str],
        watchdog: Watchdog,
        claim_ttl_ms: float,
        order_ttl_ms: float,
        award_ttl_ms: float,
    ) -> None:
        self.site = site
        self.channel = site_channel(site)
        self.reader = reader
        self.members = members
        self.watchdog = watchdog
        self.claim_ttl = claim_ttl_ms
        self.order_ttl = order_ttl_ms
        self.award_ttl = award_ttl_ms
        self.cursor = 0
        self.rej_cursor = 0
        self.entries: dict[str, Entry] = {}
        #: key -> holder (only live holdings)
        self.owner: dict[str, str] = {}
        self.held: dict[tuple[str, int], set[str]] = {}
        #: holder -> number of keys it holds (any kind)
        self.holders: dict[str, int] = {}
        self.orders: dict[str, list[Order]] = {}
        self.bids: dict[str, tuple[Mapping[str, Any], float]] = {}
        self.legs: dict[str, list[tuple[str, str, int, int]]] = {}
        self.res: dict[tuple[tuple[str, str], int], int] = {}
        self.inbox: dict[str, list[Any]] = {}
        #: runner -> (zone, expiry ms): trips to a zone with nothing reserved (a bench
        #: about to finish), ordered by a coordinator
        self.heading: dict[str, tuple[str, float]] = {}
        self._read: dict[tuple[str, str], int] = {}
        self.alerts_heard = 0
        self.version = 0
        self._zones: dict[str, int] | None = None

    # ----------------------------------------------------------------- holdings ------
    def holds(self, aid: str) -> bool:
        return aid in self.holders

    def _drop(self, key: str) -> None:
        e = self.entries.pop(key, None)
        if e is None:
            return
        self.owner.pop(key, None)
        s = self.held.get((e.owner, e.kind))
        if s is not None:
            s.discard(key)
        n = self.holders.get(e.owner, 0) - 1
        if n > 0:
            self.holders[e.owner] = n
        else:
            self.holders.pop(e.owner, None)

    def _drop_kind(self, owner: str, kind: int) -> None:
        for key in list(self.held.get((owner, kind), ())):
            self._drop(key)

    def _hold(self, key: str, new: Entry, now_ms: float) -> None:
        old = self.entries.get(key)
        if old is not None and old.expires_ms > now_ms and old.owner != new.owner:
            a_old, a_new = _AUTHORITY[old.kind], _AUTHORITY[new.kind]
            if a_old > a_new:
                return  # a live order beats a claim
            if a_old == a_new == 0 and (old.prio, old.owner) < (new.prio, new.owner):
                return  # the better claim stays
        self._drop(key)
        self.entries[key] = new
        self.owner[key] = new.owner
        self.held.setdefault((new.owner, new.kind), set()).add(key)
        self.holders[new.owner] = self.holders.get(new.owner, 0) + 1

    def prune(self, engine: Any, now_ms: float) -> None:
        """End holdings that expired or whose tube no longer lies where they name."""
        if self.heading:
            gone = [a for a, (_, exp) in self.heading.items() if exp <= now_ms]
            for a in gone:
                del self.heading[a]
            if gone:
                self._zones = None
        if not self.entries:
            return
        specs, cons = engine.specimens, engine.consignments
        dead = []
        for key, e in self.entries.items():
            if e.expires_ms <= now_ms:
                dead.append(key)
            elif key.startswith("con:"):
                c = cons.get(key[4:])
                if c is None or c.status == "RECEIVED":
                    dead.append(key)
            else:
                s = specs.get(key)
                if s is None or s.loc_kind != "zone" or s.loc_id != e.zone or s.status in _DONE:
                    dead.append(key)
        if dead:
            for key in dead:
                self._drop(key)
            self.version += 1
            self._zones = None

    def plan_zones(self) -> dict[str, int]:
        """Zones some holder is heading to (for 'nobody is going there')."""
        if self._zones is None:
            zones: dict[str, set[str]] = {}
            for e in self.entries.values():
                zones.setdefault(e.zone, set()).add(e.owner)
            for a, (z, _) in self.heading.items():
                zones.setdefault(z, set()).add(a)
            self._zones = {z: len(o) for z, o in zones.items()}
        return self._zones

    # ----------------------------------------------------------------- absorb --------
    def absorb(self, msg: Any) -> None:
        """Fold one message in."""
        now_ms = msg.t_delivered_ms
        self.watchdog.on_message(msg.sender_id, msg.nonce, msg.t_sent_ms, msg.t_delivered_ms)
        t, p, sender = msg.msg_type, msg.payload, msg.sender_id
        self.version += 1
        self._zones = None
        if t == "CLAIM":
            zone = str(p.get("zone", ""))
            prio_raw = p.get("prio") or (0.0, 0.0)
            prio = (float(prio_raw[0]), float(prio_raw[1]))
            self._drop_kind(sender, CLAIM)
            self.heading.pop(sender, None)
            exp = msg.t_sent_ms + self.claim_ttl
            for key in p.get("keys") or ():
                k = str(key)
                e = self.entries.get(k)
                if e is not None and e.owner == sender:
                    self._drop(k)  # the claim acknowledges (replaces) its own order
                self._hold(k, Entry(sender, zone, CLAIM, prio, exp), now_ms)
        elif t == "RELEASE":
            self.heading.pop(sender, None)
            for key in p.get("keys") or ():
                e = self.entries.get(str(key))
                if e is not None and e.owner == sender:
                    self._drop(str(key))
        elif t in ("ASSIGN", "AWARD"):
            kind = ASSIGN if t == "ASSIGN" else AWARD
            exp = msg.t_sent_ms + (self.order_ttl if kind == ASSIGN else self.award_ttl)
            for row in _order_rows(p):
                runner, zone, sids, cid, stat = row[0], row[1], row[2], row[3], row[4]
                order = Order(
                    str(zone),
                    tuple(str(s) for s in sids),
                    None if cid is None else str(cid),
                    bool(stat),
                    msg.t_sent_ms,
                    msg.seq,
                    kind,
                    sender,
                )
                if kind == ASSIGN:
                    self._drop_kind(runner, ASSIGN)
                    if order.keys:
                        self.heading.pop(runner, None)
                    else:
                        self.heading[runner] = (order.zone, exp)
                for k in order.keys:
                    self._hold(k, Entry(runner, order.zone, kind, (-1.0, 0.0), exp), now_ms)
                self.orders.setdefault(runner, []).append(order)
        elif t == "BID":
            self.bids[sender] = (p, msg.t_sent_ms)
        elif t == "RESERVE":
            self._set_legs(sender, p.get("legs") or ())
        elif t == "ALERT":
            self.alerts_heard += 1
        elif t not in ("HEARTBEAT", "STATUS"):
            self.inbox.setdefault(t, []).append(msg)

    def _set_legs(self, owner: str, legs: Any) -> None:
        res = self.res
        for a, b, dep, arr in self.legs.pop(owner, ()):
            for s in range(dep, arr):
                k = ((a, b), s)
                n = res.get(k, 0) - 1
                if n > 0:
                    res[k] = n
                else:
                    res.pop(k, None)
        new = [(str(a), str(b), int(dep), int(arr)) for a, b, dep, arr in legs]
        if new:
            self.legs[owner] = new
            for a, b, dep, arr in new:
                for s in range(dep, arr):
                    res[((a, b), s)] = res.get(((a, b), s), 0) + 1

    def read(self, msg_type: str, reader: str) -> list[Any]:
        """The kept messages of ``msg_type`` (ORDER, REPORT, MARK...) that ``reader`` (a
        name: several readers may share a board) has not read yet."""
        msgs = self.inbox.get(msg_type)
        if not msgs:
            return []
        k = (msg_type, reader)
        start = self._read.get(k, 0)
        self._read[k] = len(msgs)
        return msgs[start:]


class Knowledge(MutableMapping[str, str]):
    """An agent's view of the holdings: ``own`` entries over its board's, without copying
    the board (deleting a board entry only hides it from this view)."""

    __slots__ = ("base", "own", "hidden")

    def __init__(self, base: Mapping[str, str], own: dict[str, str] | None = None) -> None:
        self.base = base
        self.own: dict[str, str] = own if own is not None else {}
        self.hidden: set[str] = set()

    def __getitem__(self, key: str) -> str:
        v = self.own.get(key)
        if v is not None:
            return v
        if key in self.hidden:
            raise KeyError(key)
        return self.base[key]

    def get(self, key: str, default: Any = None) -> Any:
        v = self.own.get(key)
        if v is not None:
            return v
        if key in self.hidden:
            return default
        return self.base.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.own or (key not in self.hidden and key in self.base)

    def __setitem__(self, key: str, value: str) -> None:
        self.own[key] = value
        self.hidden.discard(key)

    def __delitem__(self, key: str) -> None:
        found = self.own.pop(key, None) is not None
        if key in self.base and key not in self.hidden:
            self.hidden.add(key)
            found = True
        if not found:
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield from self.own
        for k in self.base:
            if k not in self.own and k not in self.hidden:
                yield k

    def __len__(self) -> int:
        return sum(1 for _ in self)


class TeamComms:
    """The boards of a team, its publishing and its heartbeats and alerts."""

    def __init__(
        self,
        bus: Any,
        *,
        decide_ms: float = 1000.0,
        claim_ttl_s: float = 300.0,
        order_ttl_s: float = 30.0,
        award_ttl_s: float = 300.0,
        detection: DetectionPolicy | None = None,
    ) -> None:
        self.bus = bus
        self.decide_ms = float(decide_ms)
        self.claim_ttl_ms = float(claim_ttl_s) * 1000.0
        self.order_ttl_ms = float(order_ttl_s) * 1000.0
        self.award_ttl_ms = float(award_ttl_s) * 1000.0
        self.detection = detection or DetectionPolicy()
        self.sent: dict[str, int] = {}
        self.alerts_sent: dict[str, int] = {}
        #: The time (ms) of what the team is doing now: messages are stamped with it.
        self.clock_ms = 0.0

    def reset(
        self,
        members: Mapping[str, str],
        beacons: Mapping[str, list[str]],
    ) -> None:
        """``members``: every agent and coordination identity of the team -> its site;
        ``beacons``: per site, the senders whose silence means a partition."""
        net = self.bus.network
        n_parts = len(net.policy.partitions)
        groups: dict[tuple[str, tuple[int, ...]], list[str]] = {}
        for aid in sorted(members):
            sig = tuple(net.group_of(i, aid) for i in range(n_parts))
            groups.setdefault((members[aid], sig), []).append(aid)
        self.site_of = dict(members)
        self.boards: list[Board] = []
        self.board_of: dict[str, Board] = {}
        self.last_sent: dict[str, float] = {}
        self.beacons = {s: list(b) for s, b in beacons.items()}
        for (site, _), ids in sorted(groups.items()):
            publishers = [a for a in ids if self.bus.can_publish(a)]
            coords = [a for a in publishers if a.startswith("C_")]
            reader = (coords or publishers or ids)[0]
            board = Board(
                site,
                reader,
                ids,
                Watchdog(self.detection, frozenset(self.beacons.get(site, ()))),
                self.claim_ttl_ms,
                self.order_ttl_ms,
                self.award_ttl_ms,
            )
            self.boards.append(board)
            for a in ids:
                self.board_of[a] = board
        self._rej = 0

    # ----------------------------------------------------------------- read ----------
    def sync(self, now_ms: float, engine: Any = None) -> None:
        """Read everything delivered by now into the boards (and prune them)."""
        bus = self.bus
        for b in self.boards:
            msgs, b.cursor = bus.channel_since(b.channel, b.cursor, b.reader)
            for m in msgs:
                b.absorb(m)
        rej = bus.rejections
        if len(rej) > self._rej:
            for r in rej[self._rej :]:
                for b in self.boards:
                    if (r.channel is None or r.channel == b.channel) and r.packet.reaches(b.reader):
                        b.watchdog.on_rejected(r.t_ms)
            self._rej = len(rej)
        if engine is not None:
            for b in self.boards:
                b.prune(engine, now_ms)

    def sync_board(self, b: Board) -> None:
        """Read what reached one board since it last read (no pruning)."""
        msgs, b.cursor = self.bus.channel_since(b.channel, b.cursor, b.reader)
        for m in msgs:
            b.absorb(m)

    def deliver(self, t_ms: float) -> None:
        self.bus.deliver_until(t_ms)

    # ----------------------------------------------------------------- send ----------
    def publish(
        self, sender: str, msg_type: str, payload: dict[str, Any], t_ms: float | None = None
    ) -> None:
        """Publish on the sender's site channel at ``t_ms`` (default: :attr:`clock_ms`)."""
        if t_ms is None:
            t_ms = self.clock_ms
        self.bus.publish(
            sender, msg_type, payload, t_ms, channel=site_channel(self.site_of[sender])
        )
        self.last_sent[sender] = t_ms
        self.sent[msg_type] = self.sent.get(msg_type, 0) + 1

    def tick(self, t_ms: float) -> None:
        """Beacons that have been quiet for ``heartbeat_s`` send a HEARTBEAT; readers whose
        watchdog suspects something report it by an ALERT."""
        hb = self.detection.heartbeat_s * 1000.0
        for ids in self.beacons.values():
            for aid in ids:
                last = self.last_sent.get(aid)
                if last is None or t_ms - last >= hb:
                    self.publish(aid, "HEARTBEAT", {}, t_ms)
        for b in self.boards:
            for kind, n in b.watchdog.check(t_ms):
                self.publish(b.reader, "ALERT", {"kind": kind, "evidence": n}, t_ms)
                self.alerts_sent[kind] = self.alerts_sent.get(kind, 0) + 1

    def telemetry(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"sent_{t.lower()}": n for t, n in sorted(self.sent.items())}
        out["alerts"] = sum(self.alerts_sent.values())
        for k, n in sorted(self.alerts_sent.items()):
            out[f"alerts_{k}"] = n
        out["boards"] = len(self.boards)
        return out
