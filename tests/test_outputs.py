"""Atomic, pre-checked output writing (labtrust_gym.outputs)."""

from __future__ import annotations

import errno
import json
import multiprocessing as mp
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.errors import OutputPathError
from labtrust_gym.outputs import (
    TMP_PREFIX,
    atomic_write_bytes,
    atomic_write_json,
    atomic_writer,
    check_output_dir,
    check_output_file,
)


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.json"
    atomic_write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_failure_inside_writer_removes_temp_and_keeps_old(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_writer(target) as f:
        f.write(b"partial new content")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_failing_write_removes_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.txt"

    def boom(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, b"x" * 12_000)
    assert list(tmp_path.iterdir()) == []


def test_written_file_has_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "perm.txt"
    atomic_write_bytes(target, b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def _writer(path: str, tag: int, n: int) -> None:
    body = {"writer": tag, "payload": "y" * 20_000}
    for _ in range(n):
        atomic_write_json(path, body, fsync=False)


def test_concurrent_writers_never_expose_partial_json(tmp_path: Path) -> None:
    target = tmp_path / "shared.json"
    atomic_write_json(target, {"writer": -1, "payload": ""})
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(target), k, 150)) for k in range(2)]
    for p in procs:
        p.start()
    partial = reads = 0
    while any(p.is_alive() for p in procs):
        try:
            json.loads(target.read_bytes())
        except ValueError:
            partial += 1
        reads += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert reads > 0
    assert partial == 0
    assert json.loads(target.read_bytes())["writer"] in (0, 1)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_check_output_file_rejects_directory_and_readonly(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match="is a directory"):
        check_output_file(tmp_path)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(OutputPathError, match="is a file"):
        check_output_file(blocker / "deeper" / "out.json")
    assert check_output_file(tmp_path / "new" / "out.json") == tmp_path / "new" / "out.json"


def test_check_output_dir_rejects_readonly(
    tmp_path: Path, readonly_dir: Callable[[Path], Path]
) -> None:
    # Holds for root too: the check creates and removes a probe file instead of trusting
    # os.access, which says yes to root for any directory.
    ro = readonly_dir(tmp_path / "ro")
    with pytest.raises(OutputPathError, match="not writable") as exc:
        check_output_dir(ro)
    assert str(ro) in str(exc.value)
    with pytest.raises(OutputPathError, match="not writable"):
        check_output_dir(ro / "child")
    with pytest.raises(OutputPathError, match="not writable"):
        check_output_file(ro / "out.json")
    assert not [p for p in ro.iterdir()]  # no probe left behind


def test_check_output_file_rejects_a_file_marked_read_only_even_for_root(tmp_path: Path) -> None:
    f = tmp_path / "results.json"
    f.write_text("{}")
    f.chmod(0o444)
    with pytest.raises(OutputPathError, match="read-only"):
        check_output_file(f)
    f.chmod(0o644)
    assert check_output_file(f) == f


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null")
def test_check_output_file_rejects_a_device() -> None:
    with pytest.raises(OutputPathError, match="not a regular file"):
        check_output_file("/dev/null")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_directory_where_nothing_can_be_created_is_rejected() -> None:
    # /proc exists and os.access says root may write it, yet no file can be created there.
    with pytest.raises(OutputPathError, match="/proc"):
        check_output_file("/proc/labtrust-results.json")
    with pytest.raises(OutputPathError, match="/proc"):
        check_output_dir("/proc/labtrust-run")


def test_a_write_failing_half_way_leaves_no_temp_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.json"
    target.write_bytes(b"old")
    real_fdopen = os.fdopen

    class _DiskFills:
        """A file object whose disk fills after 4 KB (the first half is written)."""

        def __init__(self, f: Any) -> None:
            self.f = f

        def write(self, data: bytes) -> int:
            self.f.write(data[:4096])
            self.f.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name: str) -> Any:
            return getattr(self.f, name)

        def __enter__(self) -> _DiskFills:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: _DiskFills(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, b"z" * 12_000)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_check_output_dir_rejects_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(OutputPathError, match="not a directory"):
        check_output_dir(f)
