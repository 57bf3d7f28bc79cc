"""A small progress bar on stderr with an estimate of the time left."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    def __init__(self, total: int, label: str = "", *, enabled: bool = True) -> None:
        self.total = max(1, total)
        self.label = label
        self.t0 = time.perf_counter()
        self.enabled = enabled and total > 1

    def __call__(self, done: int, total: int | None = None) -> None:
        if not self.enabled:
            return
        total = total or self.total
        el = time.perf_counter() - self.t0
        eta = el / done * (total - done) if done else 0.0
        width = 24
        fill = int(width * done / total)
        sys.stderr.write(
            f"\r{self.label} [{'#' * fill}{'.' * (width - fill)}] {done}/{total} "
            f"elapsed {el:5.1f}s eta {eta:5.1f}s"
        )
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
