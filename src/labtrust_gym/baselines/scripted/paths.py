"""Shortest paths over the zone graph (Dijkstra on travel times), per role.

A role may only enter zones of its ``zone_kinds``; restricted doors are never used (the
team holds no entry tokens) and frozen zones cannot be entered. Trees are computed on
demand and memoised per (source, allowed kinds, frozen zones).
"""

from __future__ import annotations

import heapq
import math
from typing import Any

__all__ = ["ZonePaths"]

INF = math.inf


class ZonePaths:
    def __init__(self, world: Any) -> None:
        self._adj: dict[str, dict[str, float]] = world.adjacency
        self._kind = {z: d["kind"] for z, d in world.zones.items()}
        restricted = {d for d, spec in world.doors.items() if spec.get("kind") == "restricted"}
        self._closed = {edge for edge, d in world.edge_door.items() if d in restricted}
        self._cache: dict[tuple[Any, ...], tuple[dict[str, float], dict[str, str]]] = {}

    def _tree(
        self, src: str, kinds: frozenset[str] | None, frozen: frozenset[str]
    ) -> tuple[dict[str, float], dict[str, str]]:
        key = (src, kinds, frozen)
        tree = self._cache.get(key)
        if tree is not None:
            return tree
        if len(self._cache) > 20000:
            self._cache.clear()
        dist: dict[str, float] = {src: 0.0}
        first: dict[str, str] = {}
        done: set[str] = set()
        heap: list[tuple[float, str]] = [(0.0, src)]
        while heap:
            d, z = heapq.heappop(heap)
            if z in done:
                continue
            done.add(z)
            for nb, travel in self._adj.get(z, {}).items():
                if nb in done or nb in frozen or (z, nb) in self._closed:
                    continue
                if kinds is not None and self._kind[nb] not in kinds:
                    continue
                nd = d + travel
                if nd < dist.get(nb, INF):
                    dist[nb] = nd
                    first[nb] = nb if z == src else first[z]
                    heapq.heappush(heap, (nd, nb))
        tree = (dist, first)
        self._cache[key] = tree
        return tree

    def travel(
        self,
        a: str,
        b: str,
        kinds: frozenset[str] | None = None,
        frozen: frozenset[str] = frozenset(),
    ) -> float:
        """Shortest travel time from ``a`` to ``b`` (inf if unreachable)."""
        if a == b:
            return 0.0
        return self._tree(a, kinds, frozen)[0].get(b, INF)

    def next_hop(
        self,
        a: str,
        b: str,
        kinds: frozenset[str] | None = None,
        frozen: frozenset[str] = frozenset(),
    ) -> str | None:
        """The neighbour of ``a`` on a shortest path to ``b`` (None if unreachable)."""
        if a == b:
            return None
        return self._tree(a, kinds, frozen)[1].get(b)
