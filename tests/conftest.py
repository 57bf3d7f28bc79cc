"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import run as _run  # bound now: tests may patch subprocess.run

import pytest


def _can_create_in(directory: Path) -> bool:
    try:
        fd, name = tempfile.mkstemp(dir=directory)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


@pytest.fixture
def readonly_dir() -> Iterator[Callable[[Path], Path]]:
    """``readonly_dir(path)`` makes the directory ``path`` (created if missing) really
    read-only for this process and returns it; undone at teardown.

    ``chmod 500`` is enough for an ordinary user; root ignores permission bits, so for
    root the directory is also made immutable (``chattr +i``, ext4/xfs/btrfs/tmpfs). The
    result is verified by trying to create a file there; the test is skipped when neither
    way works (no ``chattr``, a file system without the attribute)."""
    made: list[tuple[Path, bool]] = []

    def make(path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o500)
        immutable = False
        if _can_create_in(path) and shutil.which("chattr"):
            immutable = (
                _run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode == 0
            )
        made.append((path, immutable))
        if _can_create_in(path):
            pytest.skip("cannot make a read-only directory here (root without chattr +i)")
        return path

    yield make
    for path, immutable in reversed(made):
        if immutable:
            _run(["chattr", "-i", str(path)], capture_output=True, check=False)
        path.chmod(0o700)
