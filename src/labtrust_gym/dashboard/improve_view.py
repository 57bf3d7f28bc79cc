"""Improvement-run and knowledge views (the orchestrator's on-disk format)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labtrust_gym.dashboard.index import DashboardIndex

__all__ = ["add_routes"]


def add_routes(app: Any, index: DashboardIndex, entry: Callable[..., Any], *, allow_approve: bool) -> None:
    return None
