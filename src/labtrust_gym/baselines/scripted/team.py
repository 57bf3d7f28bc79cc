"""The scripted baseline team: one role script per agent, coordinated through claims.

``ScriptedTeam.propose(engine, t_s)`` reads the engine (never writes it) and returns one
action for each agent that has something useful to do this step. Agents are consulted in
a fixed role order (supervisor, reception, QC, analytics, pre-analytics, scientists,
runners); a specimen, result, device or consignment acted on by one agent is claimed for
the step, so every action stays valid whatever order the environment applies them in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from labtrust_gym.baselines.scripted.analytics import Analytics
from labtrust_gym.baselines.scripted.common import RoleAgent
from labtrust_gym.baselines.scripted.hooks import Dispatcher, Router
from labtrust_gym.baselines.scripted.operator import Operator
from labtrust_gym.baselines.scripted.preanalytics import Preanalytics
from labtrust_gym.baselines.scripted.qc import QC
from labtrust_gym.baselines.scripted.reception import Reception
from labtrust_gym.baselines.scripted.restock import plan_restock
from labtrust_gym.baselines.scripted.runner import Runner
from labtrust_gym.baselines.scripted.scientist import Scientist
from labtrust_gym.baselines.scripted.security import AuditReview
from labtrust_gym.baselines.scripted.supervisor import Supervisor
from labtrust_gym.baselines.scripted.view import Memory, Plan, Static, StepView
from labtrust_gym.engine.actions_devices import specimen_stage
from labtrust_gym.errors import ConfigError

__all__ = ["ScriptedTeam", "DEFAULT_PARAMS", "ROLE_CLASSES"]

#: Tunables of the team (override any of them with ``params``).
DEFAULT_PARAMS: dict[str, Any] = {
    "centrifuge_max_wait_s": 60.0,  # batching: spin when the oldest tube waited this long
    "centrifuge_reserve": True,  # keep the last idle centrifuge of a bench for STAT tubes
    "centrifuge_reserve_wait_s": 240.0,  # ... unless its oldest tube waited this long
    "qc_interval_s": 1200.0,  # routine QC of every analyzer
    "audit_interval_s": 1800.0,  # supervisor's audit-chain verification
    "ship_batch": 4,  # inter-site consignments: batch size for non-STAT tubes
    "ship_max_wait_s": 300.0,  # ... or dispatch once the oldest tube is this old
    "restock": True,  # fetch reagent packs from the stores (False: never; an ablation)
    "restock_margin_runs": 2,  # restock when fewer than reorder level + this many runs left
    "stat_hold_s": 120.0,  # keep analyzer channels for STAT tubes due within this time
    # Priority tactics as a whole. False (an ablation): the team treats every tube alike
    # (arrival order everywhere, no STAT calls, no centrifuge reserve, no channel hold, no
    # just-in-time loading); only a priority-ordered device queue still favours STAT.
    "stat_tactics": True,
    # Just-in-time loading of first-come (fifo) devices: at most this many non-STAT tubes
    # wait in an analyzer's queue (a batch device keeps one seat free for a STAT tube); the
    # rest wait on the bench, so a STAT tube arriving later is loaded ahead of them.
    "jit_queue_depth": 1,
    # Action types the team never takes although its roles may (ablations, e.g.
    # ["REPAIR_DEVICE"] for a team that does not repair).
    "skip_actions": (),
    "linger_steps": 2,  # a runner waits at most this many steps for tubes about to appear
    "linger_s": 20.0,  # ... appearing within this many seconds
    "dt_hint_s": 10.0,  # step length assumed when timing arrivals at a dock
    "door_close_after_s": 20.0,  # close a door found open this long (none needs propping)
    "pbrtqc": True,  # patient-based QC: a biased run of results triggers a QC check
    "pbrtqc_z_single": 5.0,
    "pbrtqc_z_mean": 4.0,
    "pbrtqc_window": 8,
    "suspect_timeout_s": 120.0,
    "signers": None,  # agents able to sign custody actions (None: all)
    # The supervisor's audit review and key revocation (baselines/scripted/security.py).
    # On in the attack tasks (policy/tasks: team.audit_review). Off by default: it goes by
    # the identity an event claims, so an identity-spoofing attacker can get an innocent
    # colleague's key revoked (coord_risk's INJ-ID-SPOOF-001 does exactly that).
    "audit_review": False,
    "review_interval_s": 60.0,  # read the new audit records this often
    "review_flag_after": 2,  # security anomalies of one agent before its keys are revoked
    "review_code_prefixes": (
        "RBAC_",
        "TOKEN_",
        "SIG_",
        "QUEUE_PRIORITY_MISMATCH",
        "TRANSPORT_CUSTODY_UNSIGNED",
    ),
}

ROLE_CLASSES: dict[str, type[RoleAgent]] = {
    "ROLE_SUPERVISOR": Supervisor,
    "ROLE_RECEPTION": Reception,
    "ROLE_QC": QC,
    "ROLE_ANALYTICS": Analytics,
    "ROLE_PREANALYTICS": Preanalytics,
    "ROLE_CLINICAL_SCIENTIST": Scientist,
    "ROLE_RUNNER": Runner,
}
_ORDER = (Supervisor, Reception, QC, Analytics, Preanalytics, Scientist, Runner)


class ScriptedTeam:
    """Scripted agents per role that run the lab end to end (the benchmark baseline).

    ``agent_ids``: the engine agents this team drives (None: every agent with a role);
    ``params``: overrides of :data:`DEFAULT_PARAMS`, plus optionally ``role_classes``
    (role id -> :class:`RoleAgent` subclass) for roles of a custom policy.
    """

    def __init__(
        self, agent_ids: Iterable[str] | None = None, params: dict[str, Any] | None = None
    ) -> None:
        self.agent_ids = None if agent_ids is None else tuple(agent_ids)
        p = dict(params or {})
        self.role_classes = {**ROLE_CLASSES, **p.pop("role_classes", {})}
        self.dispatcher: Dispatcher = p.pop("dispatcher", None) or Dispatcher()
        self.router: Router = p.pop("router", None) or Router()
        unknown = sorted(set(p) - set(DEFAULT_PARAMS))
        if unknown:
            raise ConfigError(
                f"scripted team: unknown parameter(s) {unknown}; known: "
                f"{', '.join(sorted(DEFAULT_PARAMS))}"
            )
        self.params = {**DEFAULT_PARAMS, **p}
        self.seed = 0
        self._engine: Any = None
        self._world: Any = None
        self.members: list[RoleAgent] = []

    # ------------------------------------------------------------------ episode --------
    def reset(self, engine: Any, seed: int) -> None:
        self.seed = int(seed)
        self._engine, self._world = engine, engine.world
        self.static = st = Static(engine)
        self.mem = Memory()
        w = engine.world
        homes = {a["agent_id"]: a.get("home_zone") for a in w.policy_agents}
        ids = self.agent_ids
        if ids is None:
            ids = tuple(aid for aid, a in engine.agents.items() if a.role is not None)
        members = []
        for aid in ids:
            a = engine.agents.get(aid)
            cls = self.role_classes.get(a.role) if a is not None and a.role else None
            if cls is None:
                continue
            home = homes.get(aid)
            if home not in st.zone_kind:
                home = a.zone or a.transit_to or a.from_zone
            members.append(cls(aid, w.roles[a.role], home, self))
        order = {c: i for i, c in enumerate(_ORDER)}
        members.sort(key=lambda m: (order.get(type(m), len(_ORDER)), m.aid))
        self.members = members
        self.runners = [m for m in members if isinstance(m, Runner)]
        self.runners_by_site: dict[str, list[Runner]] = {}
        for r in self.runners:
            self.runners_by_site.setdefault(r.site, []).append(r)
        self.runner_ids = [m.aid for m in self.runners]
        self.carrier_ids = [m.aid for m in members if engine.agents[m.aid].capacity > 0]
        # Who fetches reagent packs, per site: runners; operators only where no runner can.
        self.restockers: dict[str, list[RoleAgent]] = {}
        for site in sorted(w.stores_zones):
            able = [
                m
                for m in members
                if m.site == site
                and m.can("RESTOCK_REAGENT")
                and engine.agents[m.aid].capacity > 0
                and "stores" in m.kinds
            ]
            runners = [m for m in able if m.is_runner]
            if runners or able:
                self.restockers[site] = runners or able
        self._cover(engine)
        self.review = AuditReview(self.params)
        self.reviewers = [m for m in members if isinstance(m, Supervisor) and m.can("REVOKE_KEY")]
        self._result_sites: dict[tuple[str, type], frozenset[str]] = {}
        self.dispatcher.reset(self, engine, self.seed)
        self.router.reset(self, engine, self.seed)

    def _cover(self, engine: Any) -> None:
        """Which operator looks after which device zone; what supervisors / QC must cover."""
        st = self.static
        ops = [m for m in self.members if isinstance(m, Operator) and m.can("START_RUN")]
        self.uncovered_repairs: dict[str, list[str]] = {}
        self.self_calibrate: set[str] = set()
        for did in sorted(st.dev_zone):
            zone, dtype = st.dev_zone[did], engine.devices[did].device_type
            site = st.zone_site[zone]
            cands = [
                m
                for m in ops
                if m.site == site and dtype in m.types and st.zone_kind[zone] in m.kinds
            ]
            cover = [m for m in cands if m.home == zone]
            if not cover and cands:
                m = min(cands, key=lambda m: (st.paths.travel(m.home, zone, m.kinds), m.aid))
                if st.paths.travel(m.home, zone, m.kinds) < math.inf:
                    if zone not in m.zones:
                        m.zones.append(zone)
                    cover = [m]
            if not any(m.can("REPAIR_DEVICE") for m in cover):
                self.uncovered_repairs.setdefault(site, []).append(did)
            if st.dev_kind[did] == "analyzer" and not any(m.can("CALIBRATE") for m in cover):
                self.self_calibrate.add(did)
        self.qc_devices: dict[str, list[str]] = {}
        self.qc_sites: set[str] = set()
        for q in self.members:
            if isinstance(q, QC):
                self.qc_sites.add(q.site)
                self.qc_devices[q.aid] = [
                    d
                    for d in st.by_site.get(q.site, ())
                    if st.dev_kind[d] == "analyzer"
                    and st.zone_kind[st.dev_zone[d]] in q.kinds
                    and engine.devices[d].device_type in q.types
                ]

    # ------------------------------------------------------------------ step -----------
    def propose(self, engine: Any, t_s: float) -> dict[str, dict[str, Any]]:
        """This step's actions ``{agent_id: {action_type, args, token_refs}}``."""
        if engine is not self._engine or engine.world is not self._world:
            self.reset(engine, self.seed)
        self.mem.sync(engine)
        v = StepView(self, engine, max(float(t_s), engine.now))
        disp = self.dispatcher
        v.private = disp.private
        self._patient_qc(v)
        self.router.begin_step(v)
        plan_restock(self, v)
        if self.reviewers and self.review.due(v.now):
            self.review.review(engine, v.now)
        disp.begin_step(v)
        out: dict[str, dict[str, Any]] = {}
        agents = engine.agents
        idle: set[tuple[Any, ...]] = set()
        private = disp.private
        for m in self.members:
            a = agents.get(m.aid)
            if a is None or a.zone is None:
                continue
            key = m.idle_key(v, a)
            if key is not None and key in idle:
                continue
            if private:
                disp.begin_member(v, m)
            action = m.decide(v, a)
            if action is not None:
                out[m.aid] = action
            elif key is not None:
                idle.add(key)
        disp.end_step(v, out)
        return out

    def result_sites(self, m: RoleAgent) -> frozenset[str]:
        """Sites whose results agent ``m`` signs off when nothing is shared between sites:
        its own, plus sites with no agent of its role (a duty roster everyone knows)."""
        key = (m.site, type(m))
        out = self._result_sites.get(key)
        if out is None:
            staffed = {x.site for x in self.members if type(x) is type(m)}
            orphan = set(self.static.site_dispatch) - staffed
            out = frozenset({m.site} | (orphan if m.site == min(staffed) else set()))
            self._result_sites[key] = out
        return out

    def stat_call(self, v: StepView, aid: str) -> Plan | None:
        """The STAT fetch the dispatcher gives runner ``aid`` this step, if any."""
        calls = v._cache.get("stat_map")
        if calls is None:
            calls = v._cache["stat_map"] = self.dispatcher.stat_calls(v)
        return calls.get(aid)

    def trip_for(self, runner: Any, v: StepView, a: Any, z: str) -> Plan | None:
        """The trip the dispatcher gives a free runner (None: nothing to fetch)."""
        return self.dispatcher.trip(runner, v, a, z)

    def _patient_qc(self, v: StepView) -> None:
        """Patient-based QC: flag an analyzer whose results drift from the population."""
        mem, p = v.mem, self.params
        timeout = float(p["suspect_timeout_s"])
        for did in [d for d, t in mem.suspect.items() if v.now - t > timeout]:
            del mem.suspect[did]
        if not p["pbrtqc"] or not self.qc_sites:
            return
        zs, zm, n = float(p["pbrtqc_z_single"]), float(p["pbrtqc_z_mean"]), int(p["pbrtqc_window"])
        st = self.static
        for rid in mem.new_results:
            r = v.e.results[rid]
            if r.status != "READY" or st.zone_site[st.dev_zone[r.device_id]] not in self.qc_sites:
                continue
            stats = st.analyte_stats.get(r.panel, {})
            for analyte, value in sorted(r.values.items()):
                mean, sd = stats.get(analyte, (0.0, 0.0))
                if sd <= 0:
                    continue
                z = (value - mean) / sd
                win = mem.pb_window.setdefault((r.device_id, analyte), [])
                win.append(z)
                del win[:-n]
                if abs(z) > zs or (len(win) >= n // 2 and abs(sum(win)) / math.sqrt(len(win)) > zm):
                    mem.suspect.setdefault(r.device_id, v.now)

    # ------------------------------------------------------------------ helpers --------
    def incoming(self, v: StepView, zone: str, kind: str, *, here_only: bool = False) -> int:
        """Tubes carried into (or lying unqueued in) ``zone`` that need a ``kind`` device
        (``here_only``: only those carried by agents standing in the zone)."""
        key = ("incoming", zone, kind, here_only)
        n = v._cache.get(key)
        if n is None:
            specs, n = v.e.specimens, 0
            for aid in self.carrier_ids:
                a = v.e.agents[aid]
                if a.carrying and (a.zone == zone or (a.transit_to == zone and not here_only)):
                    n += sum(1 for s in a.carrying if specimen_stage(specs[s]) == kind)
            if not here_only:
                n += sum(1 for s in v.zone_work(zone).inzone if specimen_stage(s) == kind)
            v._cache[key] = n
        return n

    def outputs_leave(self, v: StepView, d: Any) -> bool:
        """Whether tubes coming out of the device's current runs go to another zone."""
        st = self.static
        site = st.zone_site[d.zone]
        for run in d.runs.values():
            for it in run.work:
                s = v.e.specimens[it.specimen_id]
                if d.kind == "centrifuge" and s.needs_aliquot:
                    nxt = st.by_site_kind.get((site, "aliquoter"), ())
                else:
                    nxt = st.by_site_type.get((site, s.analyzer_type), ())
                if not nxt or st.dev_zone[nxt[0]] != d.zone:
                    return True
        return False

    def stat_calls(self, v: StepView) -> dict[str, Plan]:
        """Unreserved STAT tubes waiting for a carrier, each given to the nearest runner of
        its site with room that is not already carrying a STAT tube."""
        calls = v._cache.get("stat_calls")
        if calls is not None:
            return calls
        calls = {}
        agents, specs = v.e.agents, v.e.specimens
        for site in sorted({self.static.zone_site[z] for z in v.lying}):
            for zone in v.lying_zones(site):
                for s, tgt in v.zone_work(zone).movable:
                    if v.rank(s) != 0 or s.specimen_id in v.claims:
                        continue
                    owner = v.reserved.get(s.specimen_id)
                    if owner is not None:  # already fetched by someone: keep the call
                        calls.setdefault(owner, Plan(zone, (s.specimen_id,)))
                        continue
                    best = None
                    for m in self.runners_by_site.get(site, ()):
                        a = agents[m.aid]
                        if (
                            a.zone is None
                            or m.aid in calls
                            or len(a.carrying) >= a.capacity
                            or any(v.rank(specs[x]) == 0 for x in a.carrying)
                        ):
                            continue
                        d = m.dist(v, a.zone, zone)
                        if (
                            d < math.inf
                            and m.dist(v, zone, tgt[1]) < math.inf
                            and (best is None or (d, m.aid) < best)
                        ):
                            best = (d, m.aid)
                    if best is not None:
                        calls[best[1]] = Plan(zone, (s.specimen_id,))
        v._cache["stat_calls"] = calls
        return calls

    def site_quiet(self, v: StepView, site: str) -> bool:
        """No tube lying, no consignment coming and no bench run ending soon on the site."""
        key = ("quiet", site)
        quiet = v._cache.get(key)
        if quiet is None:
            horizon = v.now + 600.0
            quiet = (
                not v.lying_zones(site)
                and not v.incoming_consignments(site)
                and not any(
                    d.runs
                    and d.kind != "analyzer"
                    and min(r.end_t for r in d.runs.values()) <= horizon
                    for d in (v.e.devices[x] for x in self.static.by_site.get(site, ()))
                )
            )
            v._cache[key] = quiet
        return quiet

    def alternative_analyzer(self, v: StepView, d: Any) -> bool:
        """Another analyzer of the same type on the site that can take work now."""
        for did in self.static.by_site_type.get((d.site_id, d.device_type), ()):
            o = v.e.devices[did]
            if (
                did != d.device_id
                and o.state not in ("FAULT", "MAINT")
                and not o.qc_failed
                and o.zone not in v.frozen
            ):
                return True
        return False
