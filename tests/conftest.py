"""Fixtures shared by the whole test suite.

The compiled-policy cache of the session lives in a temporary directory, never in the
user's cache.

The audit signing key: tests never read or create a key under the real home directory.
``XDG_CONFIG_HOME`` points at a temporary directory (where a per-install key would be
generated) and ``LABTRUST_AUDIT_KEY`` at a key made for the session; child processes
inherit both.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import run as _run  # bound now: tests may patch subprocess.run

import pytest

from labtrust_gym.evidence.keys import AUDIT_KEY_ENV, generate_key_file


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


@pytest.fixture(scope="session", autouse=True)
def _isolated_audit_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("config_home")
    key = home / "session_audit_key.pem"
    generate_key_file(key)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CONFIG_HOME", str(home))
        mp.setenv(AUDIT_KEY_ENV, str(key))
        yield key


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
