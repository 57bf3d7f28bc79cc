"""The two places where a coordination method changes how the scripted team works.

* :class:`Dispatcher` decides which trip a free runner takes (and which runner answers a
  STAT call), and what each agent knows about the others' intentions. The default is the
  scripted team's own greedy, central dispatch.
* :class:`Router` turns "go to zone Z" into the next hop, respecting the capacity of
  narrow passages (``engine.edge_free``). The default takes the shortest path and waits
  when the passage is full, counting the moves already proposed this step so that no
  proposed move is refused for congestion.

Everything below the hooks (how a tube is accessioned, queued, spun, analysed and
released) stays the role scripts' business.
"""

from __future__ import annotations

import zlib
from typing import Any

from labtrust_gym.baselines.scripted.view import Plan, StepView

__all__ = ["Dispatcher", "Router", "ConventionRouter", "edge_key", "stable_index"]


def edge_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def stable_index(key: str, n: int) -> int:
    """A process-independent bucket of ``key`` among ``n`` (never the built-in hash)."""
    return zlib.crc32(key.encode()) % n if n > 1 else 0


class Dispatcher:
    """Runner dispatch and shared knowledge (the scripted team's central defaults)."""

    #: Decentralized dispatchers set this: agents do not see each other's plans and
    #: claims, only what the method lets them learn.
    private = False
    #: Whether idle runners with equal idle keys may be skipped after the first (see
    #: ``RoleAgent.idle_key``); a dispatcher with per-runner state adds it via
    #: :meth:`idle_extra`.
    memo_runners = True

    def idle_extra(self, v: StepView, aid: str) -> Any:
        """Per-runner dispatcher state that makes runners decide differently (None: never
        skip this runner)."""
        return ()

    def reset(self, team: Any, engine: Any, seed: int) -> None:
        self.team = team

    def begin_step(self, v: StepView) -> None:
        """Called once per step, after the view is built and before any agent decides."""

    def begin_member(self, v: StepView, m: Any) -> None:
        """Called before each agent decides (decentralized methods reset its knowledge)."""

    def stat_calls(self, v: StepView) -> dict[str, Plan]:
        """STAT fetches handed to runners this step (computed once, on first need)."""
        return self.team.stat_calls(v)

    def trip(self, runner: Any, v: StepView, a: Any, z: str) -> Plan | None:
        return runner.default_trip(v, a, z)

    def end_step(self, v: StepView, actions: dict[str, dict[str, Any]]) -> None:
        """Called with the step's proposed actions."""

    def telemetry(self) -> dict[str, Any]:
        return {}


class Router:
    """Shortest-path next hop; waits at a full passage (capacity known to the team)."""

    def reset(self, team: Any, engine: Any, seed: int) -> None:
        self.team = team

    def begin_step(self, v: StepView) -> None:
        self.used: dict[tuple[str, str], int] = {}

    def free(self, v: StepView, a: str, b: str) -> int | None:
        cap = v.e.edge_free(a, b)
        if cap is None:
            return None
        return cap - self.used.get(edge_key(a, b), 0)

    def take(self, a: str, b: str) -> None:
        k = edge_key(a, b)
        self.used[k] = self.used.get(k, 0) + 1

    def next_hop(self, m: Any, v: StepView, here: str, target: str) -> str | None:
        hop = v.st.paths.next_hop(here, target, m.kinds, v.frozen)
        if hop is None:
            return None
        free = self.free(v, here, hop)
        if free is not None:
            if free <= 0:
                return None  # wait for the passage to clear
            self.take(here, hop)
        return hop


class ConventionRouter(Router):
    """A traffic rule needing no communication, for decentralized methods.

    A capacitated passage is used in one direction on even steps and the other on odd
    steps, and of the agents standing in a zone (sorted by id, a fact each can see) only a
    window of ``free`` of them, sliding every step, may enter it. Co-located agents thus
    never over-fill a passage, and every agent gets its turn.
    """

    def begin_step(self, v: StepView) -> None:
        super().begin_step(v)
        self.step = int(round(v.now / max(v.dt, 1e-9)))
        self._present: dict[str, list[str]] | None = None

    def present(self, v: StepView) -> dict[str, list[str]]:
        if self._present is None:
            out: dict[str, list[str]] = {}
            for m in self.team.members:
                a = v.e.agents.get(m.aid)
                if a is not None and a.zone is not None:
                    out.setdefault(a.zone, []).append(m.aid)
            for ids in out.values():
                ids.sort()
            self._present = out
        return self._present

    def next_hop(self, m: Any, v: StepView, here: str, target: str) -> str | None:
        hop = v.st.paths.next_hop(here, target, m.kinds, v.frozen)
        if hop is None:
            return None
        cap = v.e.edge_free(here, hop)
        if cap is None:
            return hop
        forward = (here < hop) == (self.step % 2 == 0)
        if not forward or cap <= 0:
            return None
        ids = self.present(v).get(here, [m.aid])
        n = len(ids)
        rank = ids.index(m.aid) if m.aid in ids else 0
        if (rank - self.step * cap) % n >= min(cap, n):
            return None
        return hop
