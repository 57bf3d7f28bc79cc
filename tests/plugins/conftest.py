from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _dists import fresh_loader, sandbox


@pytest.fixture
def sites(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Isolated registries and plugin state; test distributions go in the yielded list."""
    monkeypatch.delenv("LABTRUST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("LABTRUST_PROFILE", raising=False)
    with sandbox() as s:
        fresh_loader()
        yield s
