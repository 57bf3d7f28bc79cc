"""Playbooks: the Markdown skill documents that open every prompt.

A playbook is given by path (anything naming an existing ``.md`` file, or containing a
path separator) or by name: an artifact of kind ``skills``, i.e.
``<root>/policy/skills/<name>.md`` in the artifact roots (current directory,
``LABTRUST_EXTRA_ROOTS``, the package). The package ships ``lab_agent`` (agents under
LLM control) and ``transport_dispatcher`` (the ``llm_dispatcher`` method).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from labtrust_gym.errors import ConfigError

__all__ = ["Playbook", "load_playbook", "AGENT_PLAYBOOK", "DISPATCHER_PLAYBOOK"]

AGENT_PLAYBOOK = "lab_agent"
DISPATCHER_PLAYBOOK = "transport_dispatcher"


@dataclass(frozen=True)
class Playbook:
    """A loaded playbook: ``name`` (artifact name or file name, never an absolute path),
    its ``text`` and the SHA-256 of the text."""

    name: str
    text: str
    sha256: str

    def record(self) -> dict[str, str]:
        return {"name": self.name, "sha256": self.sha256}


def _is_path(ref: str) -> bool:
    return ref.endswith(".md") or os.sep in ref or "/" in ref


def load_playbook(ref: str) -> Playbook:
    """The playbook ``ref`` (a path or a ``skills`` artifact name, see the module doc)."""
    if _is_path(ref):
        path = Path(ref).expanduser()
        name = path.name
    else:
        from labtrust_gym.artifacts import resolve_artifact

        found = resolve_artifact("skills", ref)
        assert found is not None
        path, name = found, ref
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"playbook {ref!r}: cannot read {path} ({exc.strerror}); give an existing "
            "Markdown file or a skills artifact name (labtrust artifacts list --kind skills)"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"playbook {path}: not UTF-8 text") from None
    if not text.strip():
        raise ConfigError(f"playbook {path}: empty")
    return Playbook(name, text, hashlib.sha256(text.encode("utf-8")).hexdigest())
