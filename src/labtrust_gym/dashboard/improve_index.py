"""Finding the orchestrator's improvement runs and knowledge pages under the root (the
on-disk format of ``docs/improve.md``, read without importing the orchestrator)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labtrust_gym.dashboard.entries import Entry, entry_id

__all__ = ["scan_improve", "IMPROVE_MANIFEST_SCHEMA", "PAGE_TYPES", "read_front_matter"]

IMPROVE_MANIFEST_SCHEMA = "labtrust.improve.manifest.v1"
PAGE_TYPES = ("task", "policy", "experiment")
_MAX_PAGE = 1 << 20


def read_front_matter(path: Path) -> tuple[dict[str, Any], str] | None:
    """``(front matter, body)`` of a knowledge page, or None when the file is not one
    (no ``---`` front matter, not a YAML mapping, or no known ``type``)."""
    import yaml

    try:
        if path.stat().st_size > _MAX_PAGE:
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("---\n"):
        return None
    end = text.find("\n---\n", 4)
    if end < 0:
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
    try:
        meta = yaml.load(text[4:end], Loader=loader)
    except yaml.YAMLError:
        return None
    if not isinstance(meta, dict) or meta.get("type") not in PAGE_TYPES:
        return None
    return meta, text[end + 5 :]


def scan_improve(root: Path, files: list[Path]) -> list[Entry]:
    out: list[Entry] = []
    for p in files:
        if p.name == "manifest.json" and (p.parent / "store.sqlite").is_file():
            try:
                doc = json.loads(p.read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict) and doc.get("schema") == IMPROVE_MANIFEST_SCHEMA:
                rel = p.parent.relative_to(root).as_posix() or "."
                cfg = doc.get("config") or {}
                out.append(
                    Entry(
                        entry_id("improve", rel),
                        "improve",
                        rel,
                        {
                            "run_id": doc.get("run_id"),
                            "name": cfg.get("name") if isinstance(cfg, dict) else None,
                            "cycles": cfg.get("cycles") if isinstance(cfg, dict) else None,
                        },
                    )
                )
        elif p.suffix == ".md":
            fm = read_front_matter(p)
            if fm is None:
                continue
            meta = fm[0]
            rel = p.relative_to(root).as_posix()
            prov = meta.get("provenance")
            out.append(
                Entry(
                    entry_id("knowledge", rel),
                    "knowledge",
                    rel,
                    {
                        "name": str(meta.get("name")),
                        "type": meta.get("type"),
                        "status": meta.get("status"),
                        "observations": len(prov) if isinstance(prov, list) else 0,
                    },
                )
            )
    return out
