"""Partner overlays: ``partners/<partner_id>/`` in the artifact roots."""

from __future__ import annotations

from pathlib import Path

from labtrust_gym.artifacts import discover_artifacts, resolve_artifact
from labtrust_gym.errors import PolicyError

__all__ = ["partner_overlay_dir"]


def partner_overlay_dir(pdir: Path, partner_id: str | None) -> Path | None:
    """The overlay directory ``partners/<partner_id>/`` in the artifact roots (None
    without a partner); PolicyError listing the known partners if there is none."""
    if not partner_id:
        return None
    overlay = resolve_artifact("partners", partner_id, pdir, required=False)
    if overlay is None:
        known = sorted(discover_artifacts("partners", pdir))
        raise PolicyError(
            f"partner overlay {partner_id!r} not found (looked for partners/{partner_id}/ in "
            f"the artifact roots); known partners: {', '.join(known) or '(none)'}"
        )
    return Path(overlay)
