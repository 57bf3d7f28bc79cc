"""Seeded specimen arrival streams for tasks (Poisson arrivals per site and window)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["generate_arrivals", "DEFECTS"]

#: Acceptance defects a tube may carry, and the tube types where each makes sense.
DEFECTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("id_mismatch", ("SST", "EDTA", "CITRATE")),
    ("leak", ("SST", "EDTA", "CITRATE")),
    ("haemolysed", ("SST",)),
    ("insufficient_volume", ("SST", "EDTA", "CITRATE")),
    ("clotted", ("EDTA", "CITRATE")),
    ("citrate_underfill", ("CITRATE",)),
)


def _pick(rng: np.random.Generator, mix: dict[str, float]) -> str:
    keys = list(mix)
    p = np.asarray([float(mix[k]) for k in keys])
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


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
    """Arrival schedule entries ``{t_s, specimen}`` sorted by time, ids unique."""
    out: list[tuple[float, int, dict[str, Any]]] = []
    n = 0
    for si, st in enumerate(streams):
        site = st["site_id"]
        tag = "".join(ch for ch in site.split("_", 1)[-1] if ch.isalnum())[:6]
        rate = float(st["rate_per_min"]) / 60.0
        t = float(st.get("start_s", 0.0))
        end = float(st["end_s"])
        while rate > 0:
            t += float(rng.exponential(1.0 / rate))
            if t >= end:
                break
            combo = _pick(rng, st["panel_mix"])
            plist = combo.split("+")
            tube = panels[plist[0]]["tube_type"]
            prio = _pick(rng, st["priority_mix"])
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
