"""Who runs a study directory, and what became of the runs before.

A study manifest says ``running`` while its run is going. A run killed without a chance to
write anything (``kill -9``, a power cut, an out-of-memory kill) leaves it saying
``running`` for ever. So the manifest records the running process (:func:`this_process`:
pid, host, start time and, on Linux, the kernel's start time of the process, which tells a
recycled pid from the same process); the next run of the same directory
(:func:`claim_study_dir`) checks it:

* the process is gone: the old manifest is rewritten with status ``interrupted`` (and when
  and by whom that was found), then the new run starts;
* the process is alive: the directory is in use; :class:`~labtrust_gym.errors.ConfigError`
  (exit 2) names the process, nothing is touched;
* the run was on another host: this process cannot tell, and says so (the fix: remove the
  manifest once that run is known to be gone; the finished cells are kept either way).

The new manifest keeps a short history of the runs before it (``previous_runs``).
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.outputs import atomic_write_json

__all__ = [
    "this_process",
    "process_alive",
    "describe_run",
    "claim_study_dir",
    "stale_run",
    "MAX_HISTORY",
]

#: Runs kept in a manifest's ``previous_runs``.
MAX_HISTORY = 20


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _start_token(pid: int) -> str | None:
    """The kernel's start time of process ``pid`` (Linux ``/proc/<pid>/stat`` field 22),
    or None where there is no ``/proc``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def this_process() -> dict[str, Any]:
    """The record of the running process: ``{pid, host, started_at, process_start}``."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "started_at": _now(),
        "process_start": _start_token(pid),
    }


def process_alive(rec: Any) -> bool | None:
    """Is the process of a :func:`this_process` record still running? True, False, or None
    when this process cannot tell (another host, no pid recorded)."""
    if not isinstance(rec, dict) or not isinstance(rec.get("pid"), int):
        return None
    if rec.get("host") != socket.gethostname():
        return None
    pid = rec["pid"]
    if pid == os.getpid():
        # This process wrote "running" and is here again: that run ended without finishing
        # (an exception escaped run_study), it is not running concurrently.
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    except OSError:
        return None
    recorded = rec.get("process_start")
    if recorded is not None:
        now = _start_token(pid)
        if now is not None and now != recorded:
            return False  # the pid was recycled by another process
    return True


def describe_run(rec: Any) -> str:
    if not isinstance(rec, dict):
        return "a run with no process record"
    return f"pid {rec.get('pid')} on host {rec.get('host')}, started {rec.get('started_at')}"


def stale_run(manifest: Any) -> dict[str, Any] | None:
    """The process record of a manifest that says ``running`` while its process is gone
    (so the run was interrupted), else None."""
    if not isinstance(manifest, dict) or manifest.get("status") != "running":
        return None
    rec = manifest.get("run")
    if process_alive(rec) is False:
        return rec if isinstance(rec, dict) else {}
    return None


def _history_entry(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        k: manifest.get(k)
        for k in ("run", "status", "started_at", "finished_at", "interrupted", "counts")
        if k in manifest
    }


def claim_study_dir(out_dir: Path, manifest_path: Path, manifest: Any) -> list[dict[str, Any]]:
    """Check the previous manifest (``manifest``, read from ``manifest_path``) before a new
    run of ``out_dir`` starts; return the ``previous_runs`` history for the new manifest.

    A previous run still ``running`` is marked ``interrupted`` (rewritten at once) when its
    process is gone; when it is alive, or on another host, :class:`ConfigError`."""
    if not isinstance(manifest, dict):
        return []
    history = [h for h in manifest.get("previous_runs") or [] if isinstance(h, dict)]
    if manifest.get("status") == "running":
        rec = manifest.get("run")
        alive = process_alive(rec)
        if alive is True:
            raise ConfigError(
                f"study directory {out_dir} is in use by a running study ({describe_run(rec)}); "
                "wait for it to finish or stop it, then re-run to resume"
            )
        if alive is None:
            raise ConfigError(
                f"study directory {out_dir}: its manifest says a run is going "
                f"({describe_run(rec)}) and this process cannot check that run from here; "
                f"if it is no longer running, remove {manifest_path} and re-run (finished "
                "cells are kept)"
            )
        manifest["status"] = "interrupted"
        manifest["interrupted"] = {
            "found_at": _now(),
            "found_by": {"pid": os.getpid(), "host": socket.gethostname()},
            "reason": f"the run's process ({describe_run(rec)}) is gone; it stopped "
            "without finishing (killed or crashed)",
        }
        atomic_write_json(manifest_path, manifest)
    history.append(_history_entry(manifest))
    return history[-MAX_HISTORY:]
