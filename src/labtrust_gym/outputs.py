"""Writing outputs: checked before a run starts, atomic, safe under concurrent writers.

Every file LabTrust-Gym writes (results, episode logs, study cells, reports, bundles) goes
through :func:`atomic_write_bytes` (or its text/JSON forms): the bytes go to a temporary
file with a name unique to this writer, in the target directory, are fsynced, and replace
the target with :func:`os.replace`. A reader therefore sees the old file or the new one,
never a partial one; two processes writing the same path never share a temporary file; and
on any failure (a full disk, a kill signal turned into an exception) the temporary file is
removed and the target is left as it was.

Output paths are checked before any work (:func:`check_output_file`,
:func:`check_output_dir`), so a read-only directory or a path of the wrong kind is an
:class:`~labtrust_gym.errors.OutputPathError` naming the path before the first episode,
not a traceback after the last one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from labtrust_gym.errors import OutputPathError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_writer",
    "check_output_file",
    "check_output_dir",
    "TMP_PREFIX",
]

#: Prefix of the temporary files of :func:`atomic_writer` (hidden, so globs skip them).
TMP_PREFIX = ".labtrust-tmp-"


def _existing_ancestor(path: Path) -> Path:
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def _check_dir_creatable(directory: Path, what: str) -> None:
    """``directory`` exists as a writable directory or can be created."""
    if directory.exists():
        if not directory.is_dir():
            raise OutputPathError(
                f"{what} {directory}: exists and is not a directory; choose another path "
                "or remove the file"
            )
        if not os.access(directory, os.W_OK | os.X_OK):
            raise OutputPathError(
                f"{what} {directory}: directory is not writable; choose a writable directory"
            )
        return
    anc = _existing_ancestor(directory)
    if not anc.is_dir():
        raise OutputPathError(
            f"{what} {directory}: {anc} is a file, so the directory cannot be created; "
            "choose another path"
        )
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputPathError(
            f"{what} {directory}: cannot create it, {anc} is not writable; choose a "
            "writable location"
        )


def check_output_file(path: Path | str, what: str = "output file") -> Path:
    """Check, before any work, that ``path`` can be written as a file; return it.

    Raises :class:`OutputPathError` naming the path when it is a directory, when an
    existing file is not writable, or when its directory cannot be created or written.
    """
    p = Path(path)
    if p.is_dir():
        raise OutputPathError(f"{what} {p}: is a directory; give a file path")
    if p.exists() and not os.access(p, os.W_OK):
        # os.replace would still succeed in a writable directory, but the user marked the
        # file read-only: respect that rather than silently replacing it.
        raise OutputPathError(f"{what} {p}: file is read-only; choose another path")
    _check_dir_creatable(p.parent if str(p.parent) else Path("."), what)
    return p


def check_output_dir(path: Path | str, what: str = "output directory") -> Path:
    """Check, before any work, that ``path`` is (or can be created as) a writable
    directory; return it."""
    p = Path(path)
    _check_dir_creatable(p, what)
    return p


@contextlib.contextmanager
def atomic_writer(path: Path | str, *, fsync: bool = True) -> Iterator[IO[bytes]]:
    """A binary file object whose content replaces ``path`` when the block exits cleanly.

    The temporary file lives in the target directory under a name unique to this writer
    (``tempfile.mkstemp``); it is removed if the block raises (including
    ``KeyboardInterrupt``) or if the write, fsync or rename fails.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{p.name}.", dir=p.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if fsync:
        _fsync_dir(p.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path | str, data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path, fsync=fsync) as f:
        f.write(data)


def atomic_write_text(path: Path | str, text: str, *, fsync: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_write_json(
    path: Path | str, doc: Any, *, indent: int | None = 2, fsync: bool = True
) -> None:
    """Write ``doc`` as JSON (with a final newline) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(doc, indent=indent) + "\n", fsync=fsync)
