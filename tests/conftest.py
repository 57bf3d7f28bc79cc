"""Session-wide test settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_policy_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The compiled-policy cache of the test session lives in a temporary directory (also
    for the subprocesses the tests start), never in the user's cache."""
    d = tmp_path_factory.mktemp("policy_cache")
    before = os.environ.get("LABTRUST_CACHE_DIR")
    os.environ["LABTRUST_CACHE_DIR"] = str(d)
    try:
        yield d
    finally:
        if before is None:
            os.environ.pop("LABTRUST_CACHE_DIR", None)
        else:
            os.environ["LABTRUST_CACHE_DIR"] = before
