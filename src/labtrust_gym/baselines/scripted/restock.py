"""Reagent restocking: which agent fetches which pack, and its steps.

A restock is a trip (see the engine's RESTOCK_REAGENT): fetch a pack at a stores zone of
the analyzer's site, carry it, load it at the analyzer. Once per step the team looks at
every analyzer's on-board stock (plus packs already on their way). A reagent that would
fall below ``reorder_level + restock_margin_runs`` runs' worth becomes a *job* (if the
site's stores still hold some) and goes to a carrier that may restock: the nearest runner
of the site with a free hand (one pack per hand, ``max_packs_carried``), preferring one
with nothing aboard; an operator of the site only when the site has no such runner. Jobs
live in the team's memory until the pack is loaded (or the need goes away).

Team parameters: ``restock`` (False: never restock, an ablation), ``restock_margin_runs``
(negative: only once the reagent is out or nearly so, i.e. late).
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.scripted.common import act
from labtrust_gym.baselines.scripted.view import INF, StepView

__all__ = ["plan_restock", "restock_step", "Job"]

#: A restock job: (device id, reagent id).
Job = tuple[str, str]
_OUT = ("FAULT", "MAINT")


def _needs(v: StepView, d: Any, margin: int) -> list[str]:
    w = v.st.world
    out = []
    for rid in sorted(d.reagents):
        spec = w.reagents[rid]
        per = int(spec["per_run"])
        if d.reagents[rid] - per < int(spec["reorder_level"]) + margin * per:
            out.append(rid)
    return out


def plan_restock(team: Any, v: StepView) -> None:
    """Update the team's restock jobs for this step (``v.mem.restock``: job -> agent)."""
    p = team.params
    mem = v.mem
    if not p["restock"] or not team.restockers:
        mem.restock.clear()
        return
    margin = int(p["restock_margin_runs"])
    e, st = v.e, v.st
    agents = e.agents
    # Drop finished or obsolete jobs: loaded (need gone, pack gone) or assignee gone.
    for job in sorted(mem.restock):
        aid = mem.restock[job]
        a = agents.get(aid)
        carrying = a is not None and any(r == job[1] for r, _ in a.packs)
        d = e.devices[job[0]]
        if a is None or (job[1] not in _needs(v, d, margin) and not carrying):
            del mem.restock[job]
        elif not carrying and e.inventory.get(d.site_id, {}).get(job[1], 0) <= 0:
            del mem.restock[job]  # the stores ran dry before it got there
    load: dict[str, int] = {}
    for aid in mem.restock.values():
        load[aid] = load.get(aid, 0) + 1
    limit = int(st.world.max_packs_carried)
    for site, zones in sorted(st.world.stores_zones.items()):
        store = e.inventory.get(site, {})
        for did in st.world.stores_devices.get(zones[0], ()):
            d = e.devices[did]
            if d.state == "FAULT":
                continue
            for rid in _needs(v, d, margin):
                job = (did, rid)
                if job in mem.restock or store.get(rid, 0) <= 0:
                    continue
                best: tuple[Any, ...] | None = None
                for m in team.restockers.get(site, ()):
                    a = agents.get(m.aid)
                    if a is None or a.zone is None or load.get(m.aid, 0) + len(a.packs) >= limit:
                        continue
                    to_store = min((m.dist(v, a.zone, z) for z in zones), default=INF)
                    if to_store == INF or m.dist(v, zones[0], d.zone) == INF:
                        continue
                    busy = (
                        not m.is_runner,
                        any(v.rank(e.specimens[s]) == 0 for s in a.carrying),
                        len(a.carrying) > 0,
                    )
                    key = (*busy, to_store, m.aid)
                    if best is None or key < best:
                        best = key
                if best is not None:
                    mem.restock[job] = best[-1]
                    load[best[-1]] = load.get(best[-1], 0) + 1


def restock_step(m: Any, v: StepView, a: Any, *, move: bool) -> dict[str, Any] | None:
    """The restock action of agent ``m`` this step: fetch or load here, else (``move``)
    head for the stores (a pack still to fetch) or the analyzer (packs in hand)."""
    jobs = [job for job, aid in v.mem.restock.items() if aid == m.aid]
    if not jobs:
        return None
    z, e = a.zone, v.e
    if z in v.frozen:
        return None
    carried = {r for r, _ in a.packs}
    stores = v.st.world.stores_zones.get(m.site, ())
    for did, rid in sorted(jobs):
        d = e.devices[did]
        if rid in carried and d.zone == z and v.claim(f"restock:{did}:{rid}"):
            return act("RESTOCK_REAGENT", device_id=did, reagent_id=rid)
        if rid not in carried and z in stores and v.claim(f"restock:{did}:{rid}"):
            return act("RESTOCK_REAGENT", device_id=did, reagent_id=rid)
    if not move:
        return None
    fetch = [job for job in jobs if job[1] not in carried]
    if fetch:
        target = min(stores, key=lambda s: (m.dist(v, z, s), s), default=None)
    else:
        target = min(
            (e.devices[did].zone for did, _ in jobs),
            key=lambda zone: (m.dist(v, z, zone), zone),
        )
    if target is None or target == z:
        return None
    return m.move_toward(v, z, target)
