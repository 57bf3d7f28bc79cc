"""Seeded specimen arrival streams for tasks (Poisson arrivals per site and window)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from labtrust_gym.errors import ConfigError

__all__ = ["generate_arrivals", "validate_arrival_streams", "DEFECTS", "STREAM_FIELDS"]

#: Fields of an ``arrivals`` entry: required ones, then optional ones.
STREAM_FIELDS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("site_id", "rate_per_min", "end_s", "priority_mix", "panel_mix"),
    ("start_s",),
)

#: Acceptance defects a tube may carry, and the tube types where each makes sense.
DEFECTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("id_mismatch", ("SST", "EDTA", "CITRATE")),
    ("leak", ("SST", "EDTA", "CITRATE")),
    ("haemolysed", ("SST",)),
    ("insufficient_volume", ("SST", "EDTA", "CITRATE")),
    ("clotted", ("EDTA", "CITRATE")),
    ("citrate_underfill", ("CITRATE",)),
)


class _Picker:
    """Draws a key of a weight mix: what ``rng.choice(len(keys), p=p / p.sum())`` draws,
    from the same one uniform number and the same cumulative table, without redoing the
    table and choice's checks for every specimen."""

    def __init__(self, mix: Mapping[str, Any]) -> None:
        self.keys = list(mix)
        p = np.asarray([float(mix[k]) for k in self.keys])
        cdf = (p / p.sum()).cumsum()
        cdf /= cdf[-1]
        self.cdf: list[float] = cdf.tolist()

    def __call__(self, rng: np.random.Generator) -> str:
        return self.keys[bisect.bisect_right(self.cdf, rng.random())]


def _defect_hidden(defect: str, tube: str, min_volume: float) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = {
        "id_mismatch": {"id_match": False},
        "leak": {"leak": True},
        "haemolysed": {"haemolysis_index": 250},
        "insufficient_volume": {"volume_ml": round(min_volume * 0.4, 2)},
        "clotted": {"clotted": True},
        "citrate_underfill": {"fill_ratio": 0.75},
    }
    return table[defect]


def _number(where: str, field: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{where}: {field} must be a finite number, got {v!r}")
    return float(v)


def _mix(where: str, field: str, mix: Any, known: Mapping[str, Any] | None) -> None:
    if not isinstance(mix, Mapping) or not mix:
        raise ConfigError(f"{where}: {field} must be a non-empty mapping of weights, got {mix!r}")
    total = 0.0
    for key, w in mix.items():
        weight = _number(where, f"{field}.{key}", w)
        if weight < 0:
            raise ConfigError(f"{where}: {field}.{key} must be >= 0, got {w!r}")
        total += weight
        if known is not None:
            for panel in str(key).split("+"):
                if panel not in known:
                    raise ConfigError(
                        f"{where}: {field}: unknown panel {panel!r} in {key!r}; known panels: "
                        f"{', '.join(sorted(known))}"
                    )
    if total <= 0:
        raise ConfigError(f"{where}: {field} weights sum to 0; give at least one positive weight")


def validate_arrival_streams(
    streams: Any, *, panels: Mapping[str, Any], sites: Mapping[str, Any]
) -> None:
    """Raise :class:`ConfigError` naming the entry (``arrivals[i]``) and the field when an
    arrivals entry is not a mapping, misses a field (:data:`STREAM_FIELDS`), has an
    unknown one, names an unknown site or panel, or has a bad number or mix."""
    if not isinstance(streams, list):
        raise ConfigError(f"arrivals must be a list of entries, got {type(streams).__name__}")
    required, optional = STREAM_FIELDS
    for i, st in enumerate(streams):
        where = f"arrivals[{i}]"
        if not isinstance(st, Mapping):
            raise ConfigError(f"{where}: must be a mapping with {', '.join(required)}")
        missing = [f for f in required if f not in st]
        if missing:
            raise ConfigError(
                f"{where}: missing field{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(f) for f in missing)} (an arrivals entry needs "
                f"{', '.join(required)}; optional: {', '.join(optional)})"
            )
        for key in st:
            if key not in required and key not in optional:
                import difflib  # only to word an error

                close = difflib.get_close_matches(str(key), [*required, *optional], n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(
                    f"{where}: unknown field {key!r}{hint}; fields: "
                    f"{', '.join((*required, *optional))}"
                )
        if st["site_id"] not in sites:
            raise ConfigError(
                f"{where}: unknown site_id {st['site_id']!r}; known sites: "
                f"{', '.join(sorted(map(str, sites)))}"
            )
        if _number(where, "rate_per_min", st["rate_per_min"]) < 0:
            raise ConfigError(f"{where}: rate_per_min must be >= 0, got {st['rate_per_min']!r}")
        start = _number(where, "start_s", st.get("start_s", 0.0))
        end = _number(where, "end_s", st["end_s"])
        if end < start:
            raise ConfigError(f"{where}: end_s ({end:g}) is before start_s ({start:g})")
        _mix(where, "priority_mix", st["priority_mix"], None)
        _mix(where, "panel_mix", st["panel_mix"], panels)


def generate_arrivals(
    streams: list[dict[str, Any]],
    rng: np.random.Generator,
    *,
    panels: dict[str, Any],
    tube_types: dict[str, Any],
    sites: dict[str, Any],
    defect_rate: float,
    collection_lag_s: tuple[float, float],
    id_prefix: str = "S",
) -> list[dict[str, Any]]:
    """Arrival schedule entries ``{t_s, specimen}`` sorted by time, ids unique.

    ``streams`` are checked first (:func:`validate_arrival_streams`)."""
    validate_arrival_streams(streams, panels=panels, sites=sites)
    out: list[tuple[float, int, dict[str, Any]]] = []
    n = 0
    for si, st in enumerate(streams):
        site = st["site_id"]
        tag = "".join(ch for ch in site.split("_", 1)[-1] if ch.isalnum())[:6]
        rate = float(st["rate_per_min"]) / 60.0
        t = float(st.get("start_s", 0.0))
        end = float(st["end_s"])
        pick_panels, pick_priority = _Picker(st["panel_mix"]), _Picker(st["priority_mix"])
        while rate > 0:
            t += float(rng.exponential(1.0 / rate))
            if t >= end:
                break
            combo = pick_panels(rng)
            plist = combo.split("+")
            tube = panels[plist[0]]["tube_type"]
            prio = pick_priority(rng)
            lag = float(rng.uniform(*collection_lag_s))
            hidden: dict[str, Any] = {}
            u = float(rng.random())
            if u < defect_rate:
                options = [d for d, tubes in DEFECTS if tube in tubes]
                d = options[int(rng.integers(len(options)))]
                hidden = _defect_hidden(d, tube, float(tube_types[tube]["min_volume_ml"]))
            n += 1
            ts = round(t, 1)
            spec = {
                "specimen_id": f"{id_prefix}{tag}{n:05d}",
                "site_id": site,
                "zone": sites[site]["reception_zone"],
                "panels": plist,
                "priority": prio,
                "collected_t": round(ts - lag, 1),
                "hidden": hidden,
            }
            out.append((ts, si * 10**7 + n, {"t_s": ts, "specimen": spec}))
    out.sort(key=lambda x: (x[0], x[1]))
    return [x[2] for x in out]
