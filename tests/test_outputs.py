"""Atomic, pre-checked output writing (labtrust_gym.outputs)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from pathlib import Path

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


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_check_output_dir_rejects_readonly(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(OutputPathError, match="not writable"):
            check_output_dir(ro)
        with pytest.raises(OutputPathError, match="not writable"):
            check_output_dir(ro / "child")
    finally:
        ro.chmod(0o700)


def test_check_output_dir_rejects_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(OutputPathError, match="not a directory"):
        check_output_dir(f)
