"""The scale dimensions of a study: preset ids crossed with field overrides."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from labtrust_gym.errors import ConfigError

if TYPE_CHECKING:
    from labtrust_gym.benchmarks.coordination_scale import CoordinationScaleConfig
    from labtrust_gym.studies.spec import StudySpec

__all__ = ["DEFAULT_SCALE", "ScalePoint", "scale_points"]

#: Scale label of the cells of a task run at its own default scale.
DEFAULT_SCALE = "default"


def _fmt(v: Any) -> str:
    return "null" if v is None else str(v)


@dataclass(frozen=True)
class ScalePoint:
    """A scale preset with optional field overrides (one point of the scale dimensions)."""

    preset: str
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        return self.preset + "".join(f"+{k}={_fmt(v)}" for k, v in self.overrides)

    def build(self) -> CoordinationScaleConfig:
        """The scale config: the preset with the overrides applied (config_id = label)."""
        from labtrust_gym.benchmarks.coordination_scale import load_scale_config_by_id

        cfg = load_scale_config_by_id(None, self.preset)
        if self.overrides:
            cfg = replace(cfg, **dict(self.overrides), config_id=self.label)
        return cfg

    def run_arg(self) -> Any:
        """What ``run_benchmark(scale=...)`` gets: the preset id, or the built config."""
        return self.preset if not self.overrides else self.build()

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "overrides": dict(self.overrides)}


def scale_points(spec: StudySpec) -> list[tuple[str, ScalePoint | None]]:
    """``(label, point)`` for the cross product of the spec's scale dimensions, in spec
    order; ``[("default", None)]`` without scales (the task's own default)."""
    if not spec.scales:
        return [(DEFAULT_SCALE, None)]
    presets = next(d.values for d in spec.scales if d.name == "scale_preset")
    others = [d for d in spec.scales if d.name != "scale_preset"]
    combos: list[tuple[tuple[str, Any], ...]] = [()]
    for d in others:
        combos = [(*c, (d.name, v)) for c in combos for v in d.values]
    out: list[tuple[str, ScalePoint | None]] = []
    for p in presets:
        if not isinstance(p, str):
            raise ConfigError(f"scale_preset values must be preset ids (strings), got {p!r}")
        for c in combos:
            pt = ScalePoint(p, c)
            out.append((pt.label, pt))
    return out
