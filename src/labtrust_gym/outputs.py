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


def _probe_failure(directory: Path, make_dir: bool) -> OSError | None:
    """Create and remove a probe entry in ``directory``; the error if that fails.

    Permission bits do not answer "can this process write here": ``os.access`` says yes to
    root for a ``chmod 500`` directory and knows nothing of read-only mounts or immutable
    directories. Trying is the honest test. The probe has the temporary-file prefix, so a
    probe left by a killed process is cleaned up like any other temporary file.
    """
    try:
        if make_dir:
            os.rmdir(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}probe.", dir=directory))
        else:
            fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}probe.", dir=directory)
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        return exc
    return None


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _check_dir_creatable(directory: Path, what: str) -> None:
    """``directory`` exists as a writable directory or can be created."""
    if directory.exists():
        if not directory.is_dir():
            raise OutputPathError(
                f"{what} {directory}: exists and is not a directory; choose another path "
                "or remove the file"
            )
        err = _probe_failure(directory, make_dir=False)
        if err is not None:
            raise OutputPathError(
                f"{what} {directory}: directory is not writable ({_reason(err)}); choose a "
                "writable directory"
            )
        return
    anc = _existing_ancestor(directory)
    if not anc.is_dir():
        raise OutputPathError(
            f"{what} {directory}: {anc} is a file, so the directory cannot be created; "
            "choose another path"
        )
    err = _probe_failure(anc, make_dir=True)
    if err is not None:
        raise OutputPathError(
            f"{what} {directory}: cannot create it, {anc} is not writable ({_reason(err)}); "
            "choose a writable location"
        )


def _file_read_only(p: Path) -> bool:
    """The existing regular file ``p`` is marked read-only or cannot be opened to write.

    Root passes ``os.access`` for any file, so the mode bits are read too (a file nobody
    may write was marked read-only on purpose), and opening it for appending (which
    changes nothing) catches immutable files and read-only mounts."""
    if not os.access(p, os.W_OK) or not p.stat().st_mode & 0o222:
        return True
    try:
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    except OSError:
        return True
    os.close(fd)
    return False


def check_output_file(path: Path | str, what: str = "output file") -> Path:
    """Check, before any work, that ``path`` can be written as a file; return it.

    Raises :class:`OutputPathError` naming the path when it is a directory or another
    non-regular file, when an existing file is read-only, or when its directory cannot be
    created or written (tested by creating and removing a probe file there).
    """
    p = Path(path)
    if p.is_dir():
        raise OutputPathError(f"{what} {p}: is a directory; give a file path")
    if p.exists() and not p.is_file():
        raise OutputPathError(
            f"{what} {p}: exists and is not a regular file (a device, pipe or socket); "
            "give a file path"
        )
    if p.exists() and _file_read_only(p):
        # os.replace would still succeed in a writable directory, but the user marked the
        # file read-only: respect that rather than silently replacing it.
        raise OutputPathError(f"{what} {p}: file is read-only; choose another path")
    _check_dir_creatable(p.parent if str(p.parent) else Path("."), what)
    return p


def check_output_dir(path: Path | str, what: str = "output directory") -> Path:
    """Check, before any work, that ``path`` is (or can be created as) a writable
    directory (tested by creating and removing a probe entry); return it."""
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
