"""``llm_dispatcher``: a language model assigns the transport jobs every K steps."""

from __future__ import annotations

import time
from typing import Any

from labtrust_gym.baselines.coordination.bus_dispatch import DeskDispatcher, order_row
from labtrust_gym.baselines.coordination.jobs import Job, site_jobs
from labtrust_gym.baselines.coordination.team_method import TeamMethod
from labtrust_gym.baselines.scripted.hooks import Dispatcher
from labtrust_gym.baselines.scripted.view import INF, StepView
from labtrust_gym.coordination.identities import coordinator_id

__all__ = ["LLMDispatcher", "LLMJobDispatcher"]


class LLMJobDispatcher(DeskDispatcher):
    """Every ``every_steps`` steps, per site with idle runners and open jobs, the model
    gets the runners its site desk (``C_<SITE>``) knows to be idle (with their travel
    time to each job they may take) and the jobs (most urgent first, at most
    ``max_jobs``; at most ``max_runners`` runners) and answers ``{"assignments":
    [{"runner", "job"}], "reason"}``. Valid pairs go out as the desk's ASSIGN orders over
    the bus (runners act on the orders that reach them, like every bus method); an
    invalid answer assigns nobody that round (counted). A site with exactly one possible
    pair gets it without a call. When a call gets no reply, or the budget is spent, the
    site's desk dispatches by the scripted team's greedy rule (:class:`DeskDispatcher`).
    """

    def __init__(self, method: LLMDispatcher) -> None:
        super().__init__(method.team_comms(), method.order_wait_s)
        self.m = method

    def reset(self, team: Any, engine: Any, seed: int) -> None:
        super().reset(team, engine, seed)
        self.prio = {int(v["rank"]): k for k, v in engine.world.priorities.items()}
        self.fallback_sites: set[str] = set()
        self.assignments = 0

    def coordinate(self, v: StepView, t_ms: float, sites: set[str] | None = None) -> None:
        m = self.m
        all_sites = set(self.team.runners_by_site)
        if m.stats.budget_exhausted:
            self.fallback_sites = all_sites
        step = m.env.step_count if m.env is not None else 0
        if m.stats.budget_exhausted or step % m.every_steps:
            # Between the model's rounds, sites it could not serve have the desk's dispatch.
            if self.fallback_sites:
                super().coordinate(v, t_ms, self.fallback_sites)
            return
        t0 = time.perf_counter()
        self.fallback_sites = set()
        asks = []
        rows: dict[str, list[list[Any]]] = {}
        for site in sorted(all_sites):
            own: dict[str, str] = {}
            board = self.coordinator_view(v, site, own)
            free = self.idle_runners(board, site)[: m.max_runners]
            if not free:
                continue
            load = max(v.e.agents[r.aid].capacity for r, _ in free)
            jobs = site_jobs(v, site, load)[: m.max_jobs]
            if not jobs:
                continue
            ids = {f"J{i + 1}": j for i, j in enumerate(jobs)}
            options: dict[str, dict[str, float]] = {}
            for r, a in free:
                opts = {}
                for jid, j in ids.items():
                    if j.custody and not r.custody:
                        continue
                    d = r.dist(v, a.zone, j.zone)
                    if d < INF:
                        opts[jid] = round(d, 1)
                if opts:
                    options[r.aid] = opts
            n_pairs = sum(len(o) for o in options.values())
            if n_pairs == 0:
                continue
            if n_pairs == 1:
                ((rid, opts),) = options.items()
                rows.setdefault(site, []).append(self._row(rid, ids[next(iter(opts))]))
                m.stats.forced += 1
                continue
            asks.append((site, ids, options, m.request(v, site, ids, options, self.prio)))
        m.stats.overhead_s += time.perf_counter() - t0
        for site, ids, _options, pairs in m.ask(v, step, asks) if asks else ():
            if pairs is None:
                self.fallback_sites.add(site)
                continue
            rows.setdefault(site, []).extend(self._row(rid, ids[jid]) for rid, jid in pairs)
        if self.fallback_sites:
            super().coordinate(v, t_ms, self.fallback_sites)
        for site, rs in sorted(rows.items()):
            self.send_orders(coordinator_id(site), "ASSIGN", rs, t_ms)

    def _row(self, runner_id: str, job: Job) -> list[Any]:
        self.assignments += 1
        return order_row(runner_id, job.plan(), job.rank == 0)

    def telemetry(self) -> dict[str, Any]:
        out = super().telemetry()
        out["assignments"] = self.assignments
        return out


class LLMDispatcher(TeamMethod):
    """LLM dispatcher: a language model assigns runners to transport jobs every K steps.

    Description: the role skills run the lab (as in ``scripted_team``); transport is
    dispatched by a model. Every ``every_steps`` steps, for each site, the model reads the
    ``transport_dispatcher`` playbook (or ``playbook``) and a JSON state of the site's free
    runners (zone, capacity, custody, travel time to each job it may take) and open jobs
    (tubes lying where their next device is not, batches due to ship, consignments at a
    dock: zone, tubes, priority, time to due), and returns assignments; the sites' calls
    of a round go out together. Replies are validated (an invalid one assigns nobody
    that round); budgets and failed calls fall back to the team's greedy dispatch
    (``llm.*`` metrics, ``llm`` records in the episode log).
    Agents: every agent of the task's team, plus the site desks. Observation: the lab
    (read-only) and the messages received. Actions: engine actions in the contract
    form. Messages: ASSIGN (the model's assignments, sent by the site desk), CLAIM,
    RELEASE, HEARTBEAT, ALERT.
    Params: ``llm`` (a backend spec, default from the catalogue; the runner's ``--llm``
    replaces it), ``every_steps`` (K), ``max_runners``, ``max_jobs``, ``playbook``,
    ``max_calls``, ``max_tokens``.
    """

    method_id = "llm_dispatcher"

    def __init__(
        self,
        policy: Any = None,
        repo_root: Any = None,
        scale_config: Any = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(policy, repo_root, scale_config, params)
        from labtrust_gym.errors import ConfigError

        p = self.params
        self.every_steps = int(p.get("every_steps", 3))
        self.max_runners = int(p.get("max_runners", 24))
        self.max_jobs = int(p.get("max_jobs", 24))
        if min(self.every_steps, self.max_runners, self.max_jobs) < 1:
            raise ConfigError("llm_dispatcher: every_steps, max_runners and max_jobs must be >= 1")
        self._session: Any = None
        self._owned = False

    def make_dispatcher(self) -> Dispatcher:
        return LLMJobDispatcher(self)

    def reset(self, seed: int, policy: Any, scale_config: Any) -> None:
        from labtrust_gym.llm import LLMConfig, as_session
        from labtrust_gym.llm.playbook import DISPATCHER_PLAYBOOK
        from labtrust_gym.llm.stats import Budget, LLMStats

        if self._session is None:
            llm = self.params.get("llm", "offline")
            if isinstance(llm, str):
                llm = LLMConfig(
                    spec=llm,
                    playbook=self.params.get("playbook"),
                    max_calls=self.params.get("max_calls"),
                    max_tokens=self.params.get("max_tokens"),
                )
            self._session, self._owned = as_session(llm)
        s = self._session
        self.config = s.config
        self.playbook = s.playbook(self.params.get("playbook") or DISPATCHER_PLAYBOOK)
        self.budget = Budget(self.config.max_calls, self.config.max_tokens)
        self.stats = LLMStats()
        self._records: list[dict[str, Any]] = []
        self._failures_in_row = 0
        super().reset(seed, policy, scale_config)

    # ------------------------------------------------------------------ model calls ----
    def request(
        self,
        v: StepView,
        site: str,
        ids: dict[str, Job],
        options: dict[str, dict[str, float]],
        prio: dict[int, str],
    ) -> Any:
        from labtrust_gym.llm.prompt import dispatcher_output_schema, make_request

        agents = v.e.agents
        state = {
            "site": site,
            "t_s": v.now,
            "runners": [
                {
                    "runner_id": rid,
                    "zone": agents[rid].zone,
                    "capacity": agents[rid].capacity,
                    "travel_s": opts,
                }
                for rid, opts in options.items()
            ],
            "jobs": [
                {
                    "job_id": jid,
                    "zone": j.zone,
                    "tubes": len(j.sids),
                    "consignment": j.cid is not None,
                    "priority": prio.get(j.rank, str(j.rank)),
                    "due_in_s": round(j.due - v.now, 1) if j.due < INF else None,
                    "custody": j.custody,
                }
                for jid, j in ids.items()
            ],
            "output_schema": dispatcher_output_schema(),
        }
        return make_request(
            model=self._session.backend.model,
            playbook=self.playbook.text,
            instruction=(
                f"You dispatch the transport runners of site {site}. Answer with one JSON "
                "object matching output_schema."
            ),
            state=state,
            schema_name="dispatch",
            schema=dispatcher_output_schema(),
            config=self.config,
            label=f"llm_dispatcher site {site} at t={v.now:g} s",
        )

    def ask(self, v: StepView, step: int, asks: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """``[(site, ids, options, pairs | None)]``: None sends the site to the fallback."""
        from labtrust_gym.errors import LLMBackendError
        from labtrust_gym.llm.exchange import CallFailure
        from labtrust_gym.llm.reply import check_dispatch_reply

        st = self.stats
        left = self.budget.calls_left(st)
        out: list[tuple[Any, ...]] = []
        if left is not None and left < len(asks):
            for site, ids, options, _ in asks[left:]:
                out.append((site, ids, options, None))
                st.fallbacks += 1
            asks = asks[:left]
            st.budget_exhausted = True
            self._records.append(
                {
                    "type": "llm",
                    "kind": "event",
                    "event": "LLM_BUDGET_EXHAUSTED",
                    "step": step,
                    "t_s": v.now,
                    "calls": st.calls + len(asks),
                }
            )
        if not asks:
            return out
        results = self._session.backend.complete_many([a[3] for a in asks])
        for (site, ids, options, req), res in zip(asks, results, strict=True):
            st.calls += 1
            st.latencies_ms.append(res.latency_ms)
            st.retries += res.retries
            rec: dict[str, Any] = {
                "type": "llm",
                "kind": "call",
                "step": step,
                "t_s": v.now,
                "agent_id": f"dispatcher:{site}",
                "model": req.model,
                "request_sha256": req.key,
            }
            if isinstance(res, CallFailure):
                st.failures += 1
                st.fallbacks += 1
                self._failures_in_row += 1
                rec.update(response_sha256=None, tokens_in=0, tokens_out=0)
                rec["outcome"] = f"failure:{res.code}"
                self._records.append(rec)
                out.append((site, ids, options, None))
                if self._failures_in_row >= self.config.max_consecutive_failures:
                    raise LLMBackendError(
                        f"{self._session.backend.name}: {self._failures_in_row} calls in a row "
                        f"got no reply (last: {res.code}, {res.detail}; {req.label})"
                    )
                continue
            self._failures_in_row = 0
            st.tokens_in += res.tokens_in
            st.tokens_out += res.tokens_out
            chk = check_dispatch_reply(res.text, options)
            if not chk.ok:
                st.invalid_outputs += 1
            rec.update(
                response_sha256=res.sha256,
                tokens_in=res.tokens_in,
                tokens_out=res.tokens_out,
                outcome="valid" if chk.ok else f"invalid:{chk.error}",
                assignments=len(chk.value) if chk.ok else 0,
            )
            self._records.append(rec)
            out.append((site, ids, options, chk.value if chk.ok else []))
        return out

    # ------------------------------------------------------------------ outputs --------
    def drain_log_records(self) -> list[dict[str, Any]]:
        out, self._records = self._records, []
        return out

    def episode_extras(self) -> dict[str, Any]:
        return self.stats.metrics(self._session.prices if self._session else None)

    def on_episode_end(self, metrics: dict[str, Any]) -> None:
        if self._owned and self._session is not None:
            self._session.close()
            self._session = None
