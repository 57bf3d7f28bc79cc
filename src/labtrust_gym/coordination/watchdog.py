"""What a receiver can tell about the network from the messages it gets, and when it
raises an alarm.

A :class:`Watchdog` sits with one reader of a channel (an agent, or the group of agents a
partition treats alike) and sees every message that reaches it, every envelope its
verifier refuses, and the clock. From the signed fields alone (sender, per-sender nonce,
send time) it counts:

* **lost** messages: a gap in a sender's nonces not filled within ``loss_grace_s``
  (nonces of one sender are consecutive; every message of a coordination agent goes to
  its site's channel, so a gap is a message that never came);
* **reordered** ones: a gap filled later (a message overtaken by a later one);
* **late** ones: delivered more than ``late_ms`` after they were sent;
* **silence**: a beacon (a sender that sends at least every ``heartbeat_s``) heard
  before and silent for ``silence_s``: the reader is cut off from it;
* **forgery**: refused envelopes (bad signature, unknown sender, replay, other bus...).

:meth:`Watchdog.check` returns the suspicions whose evidence within its window reached the
policy's threshold (``detection`` section of the network policy), each at most once per
``alert_cooldown_s``: ``partition`` (silence), ``loss``, ``delay``, ``reorder``,
``forgery``. The method then publishes an ``ALERT`` with that kind: the team's report,
which risk injections score as detection (``injection.detected``,
``injection.detection_latency_s``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from labtrust_gym.coordination.network import load_network_document
from labtrust_gym.errors import ConfigError

__all__ = ["DetectionPolicy", "Watchdog", "ALERT_KINDS", "load_detection_policy"]

#: The kinds of suspicion an ALERT may report.
ALERT_KINDS = ("partition", "loss", "delay", "reorder", "forgery")
_MAX_GAP = 256  # nonces tracked per gap (a longer gap is counted, not itemized)


@dataclass(frozen=True, slots=True)
class DetectionPolicy:
    """The ``detection`` section of the network policy (see the module docstring)."""

    heartbeat_s: float = 20.0
    silence_s: float = 70.0
    loss_grace_s: float = 20.0
    loss_alert: int = 4
    loss_window_s: float = 60.0
    late_ms: float = 2500.0
    late_alert: int = 3
    late_window_s: float = 60.0
    reorder_alert: int = 3
    reorder_window_s: float = 60.0
    forgery_alert: int = 1
    alert_cooldown_s: float = 300.0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DetectionPolicy:
        known = {f.name for f in fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise ConfigError(
                f"network policy: detection: unknown field(s) {bad}; known: {sorted(known)}"
            )
        out: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise ConfigError(
                    f"network policy: detection.{f.name} must be a positive number, got {v!r}"
                )
            out[f.name] = int(v) if f.type == "int" else float(v)
        return cls(**out)


def load_detection_policy(repo_root: Path | str | None = None) -> DetectionPolicy:
    return DetectionPolicy.from_dict(load_network_document(repo_root).get("detection") or {})


class Watchdog:
    """The network evidence of one reader (see the module docstring)."""

    def __init__(self, policy: DetectionPolicy, beacons: frozenset[str] = frozenset()) -> None:
        self.p = policy
        self.beacons = beacons
        self._hi: dict[str, int] = {}
        self._missing: dict[str, dict[int, float]] = {}
        self.heard: dict[str, float] = {}
        self.events: dict[str, deque[float]] = {k: deque() for k in ALERT_KINDS}
        self.totals: dict[str, int] = {k: 0 for k in ALERT_KINDS}
        self._last_alert: dict[str, float] = {}
        self._silent: set[str] = set()

    def _event(self, kind: str, t_ms: float, n: int = 1) -> None:
        q = self.events[kind]
        for _ in range(min(n, 64)):
            q.append(t_ms)
        self.totals[kind] += n

    def on_message(self, sender: str, nonce: int, t_sent_ms: float, t_now_ms: float) -> None:
        """A message from ``sender`` sent at ``t_sent_ms`` reached the reader at
        ``t_now_ms`` (its delivery time)."""
        self.heard[sender] = max(self.heard.get(sender, t_now_ms), t_now_ms)
        self._silent.discard(sender)
        hi = self._hi.get(sender)
        if hi is None:
            self._hi[sender] = nonce  # the first message heard: no history to compare
        elif nonce > hi:
            if nonce > hi + 1:
                miss = self._missing.setdefault(sender, {})
                for k in range(max(hi + 1, nonce - _MAX_GAP), nonce):
                    miss[k] = t_now_ms
                if nonce - hi - 1 > _MAX_GAP:  # too long to wait for: counted lost now
                    self._event("loss", t_now_ms, nonce - hi - 1 - _MAX_GAP)
            self._hi[sender] = nonce
        else:
            gaps = self._missing.get(sender)
            if gaps is not None and gaps.pop(nonce, None) is not None:
                self._event("reorder", t_now_ms)
        if t_now_ms - t_sent_ms > self.p.late_ms:
            self._event("delay", t_now_ms)

    def on_rejected(self, t_ms: float) -> None:
        self._event("forgery", t_ms)

    def check(self, now_ms: float) -> list[tuple[str, int]]:
        """Suspicions to report now: ``[(kind, evidence count in its window)]``."""
        p = self.p
        grace = p.loss_grace_s * 1000.0
        for miss in self._missing.values():
            old = [k for k, t in miss.items() if now_ms - t > grace]
            for k in old:
                del miss[k]
            if old:
                self._event("loss", now_ms, len(old))
        silence = p.silence_s * 1000.0
        for b in self.beacons:
            t = self.heard.get(b)
            if t is not None and now_ms - t > silence and b not in self._silent:
                self._silent.add(b)
                self._event("partition", now_ms)
        out = []
        windows = {
            "partition": (p.silence_s, 1),
            "loss": (p.loss_window_s, p.loss_alert),
            "delay": (p.late_window_s, p.late_alert),
            "reorder": (p.reorder_window_s, p.reorder_alert),
            "forgery": (p.loss_window_s, p.forgery_alert),
        }
        cooldown = p.alert_cooldown_s * 1000.0
        for kind, (win_s, threshold) in windows.items():
            q = self.events[kind]
            while q and now_ms - q[0] > win_s * 1000.0:
                q.popleft()
            if len(q) >= threshold:
                last = self._last_alert.get(kind)
                if last is None or now_ms - last >= cooldown:
                    self._last_alert[kind] = now_ms
                    out.append((kind, len(q)))
        return out
