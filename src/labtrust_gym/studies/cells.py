"""Grid expansion: a :class:`~labtrust_gym.studies.spec.StudySpec` -> its cells.

A cell is one (task, scale, method, injection) point of the grid, run for
``episodes_per_cell`` episodes. Its id is readable and made of its identity only
(``coord_risk__small_8__market_auction__INJ-NET-DROP-SPIKE-001``), never of its position in
the grid, and so is its seed:

* ``seeding: paired`` (default): ``derive_seed(base_seed, "cell", task, scale)``. Every
  method and injection of one task and scale sees the same episode seeds, hence the same
  arrivals and scenario (common random numbers): differences between cells are the
  method's or the injection's, and the resilience score compares like with like.
* ``seeding: independent``: ``derive_seed(base_seed, "cell", cell_id)``, one stream per cell.

Either way adding or removing a method, an injection or a scale leaves every other cell's
seed, and so its results, unchanged. Episode ``i`` of a cell uses
``episode_seed(cell.seed, i)`` (the benchmark runner's rule), so raising
``episodes_per_cell`` keeps the episodes already run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.errors import ConfigError
from labtrust_gym.rng import derive_seed
from labtrust_gym.studies.scales import DEFAULT_SCALE, ScalePoint, scale_points
from labtrust_gym.studies.spec import CONTROLLER_METHODS, NO_INJECTION, StudySpec

if TYPE_CHECKING:
    pass

__all__ = [
    "ScalePoint",
    "Cell",
    "expand_cells",
    "scale_points",
    "cell_id_for",
    "active_profile_record",
    "DEFAULT_SCALE",
]

_MAX_ID = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")


def cell_id_for(task: str, scale_label: str, method: str, injection: str) -> str:
    """``task__scale__method__injection``, file-name safe; long ids end in a digest."""
    raw = "__".join((task, scale_label, method, injection))
    safe = _UNSAFE.sub("_", raw)
    if len(safe) > _MAX_ID:
        digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12]
        safe = f"{safe[: _MAX_ID - 13]}-{digest}"
    return safe


@dataclass(frozen=True)
class Cell:
    """One cell of a study: everything a worker needs to run it (picklable)."""

    cell_id: str
    task: str
    scale_label: str
    scale: ScalePoint | None
    method: str
    injection: str
    episodes: int
    seed: int
    timing: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    #: The lab profile active where the study was expanded (``profile_id``, ``source``
    #: file, ``sha256`` of it), applied again in the worker that runs the cell.
    lab_profile: Mapping[str, str] | None = None

    @property
    def controller(self) -> str:
        return self.method if self.method in CONTROLLER_METHODS else "scripted"

    @property
    def coord_method(self) -> str | None:
        return None if self.method in CONTROLLER_METHODS else self.method

    def run_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`labtrust_gym.benchmarks.runner.run_benchmark`."""
        return {
            "episodes": self.episodes,
            "seed": self.seed,
            "controller": self.controller,
            "coord_method": self.coord_method,
            "timing": self.timing,
            "scale": self.scale.run_arg() if self.scale is not None else None,
            "params": dict(self.params) or None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell_id": self.cell_id,
            "task": self.task,
            "scale": self.scale_label,
            "scale_point": self.scale.to_dict() if self.scale is not None else None,
            "method": self.method,
            "injection": self.injection,
            "episodes": self.episodes,
            "seed": self.seed,
            "timing": self.timing,
            "params": dict(self.params),
            "lab_profile": dict(self.lab_profile) if self.lab_profile else None,
        }

    @property
    def fingerprint(self) -> str:
        """SHA-256 of everything that determines the cell's results; a finished cell whose
        recorded fingerprint differs (the spec changed it) is run again."""
        return hashlib.sha256(canonical_json(self.to_dict())).hexdigest()


def active_profile_record() -> dict[str, str] | None:
    """The lab profile active in this process (``labtrust --profile``), if any: its id,
    file and the file's SHA-256 (a changed profile changes the cells' fingerprints)."""
    try:
        from labtrust_gym.profiles import active_lab_profile
    except ImportError:  # a build without lab profiles
        return None
    prof = active_lab_profile()
    if prof is None:
        return None
    src = Path(prof.source)
    return {
        "profile_id": prof.profile_id,
        "source": str(src),
        "sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
    }


def expand_cells(spec: StudySpec) -> list[Cell]:
    """Every cell of the spec: tasks x scales x methods x injections (spec order). The lab
    profile active in this process, if any, goes with every cell."""
    from labtrust_gym.benchmarks.tasks import get_task

    profile = active_profile_record()
    cells: list[Cell] = []
    seen: dict[str, tuple[str, ...]] = {}
    points = scale_points(spec)
    for task in spec.tasks:
        takes_injection = bool(getattr(get_task(task), "supports_injections", False))
        for label, point in points:
            pair_seed = derive_seed(spec.base_seed, "cell", task, label)
            for method in spec.methods:
                for inj in spec.injections:
                    cid = cell_id_for(task, label, method, inj)
                    ident = (task, label, method, inj)
                    if cid in seen and seen[cid] != ident:
                        raise ConfigError(
                            f"cells {seen[cid]} and {ident} have the same id {cid!r}; rename "
                            "a method, injection or scale value"
                        )
                    seen[cid] = ident
                    params: dict[str, Any] = dict(spec.params)
                    if takes_injection:
                        params["injection"] = inj
                        if inj in spec.injection_params:
                            params["injection_params"] = dict(spec.injection_params[inj])
                    seed = (
                        pair_seed
                        if spec.seeding == "paired"
                        else derive_seed(spec.base_seed, "cell", cid)
                    )
                    cells.append(
                        Cell(
                            cell_id=cid,
                            task=task,
                            scale_label=label,
                            scale=point,
                            method=method,
                            injection=inj if takes_injection else NO_INJECTION,
                            episodes=spec.episodes_per_cell,
                            seed=seed,
                            timing=spec.timing,
                            params=params,
                            lab_profile=profile,
                        )
                    )
    return cells
