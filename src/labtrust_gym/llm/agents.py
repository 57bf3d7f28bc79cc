"""LLM-controlled agents: ``run-benchmark --controller llm``.

:func:`attach_llm_controller` splits the task's scripted team: agents of the chosen
roles go under LLM control (:class:`LLMAgents`), the rest stay with a scripted team.

Each step, for each LLM agent standing in a zone:

* its allowed actions are named from the env's action mask (:mod:`.menu`); with no
  useful action (only NOOP) it waits, with exactly one it takes it without a call
  (``llm.forced``);
* otherwise it is at a **decision point** and the model is asked — unless its allowed
  actions and zone are the same as at its last call, fewer than ``requery_steps`` steps
  ago, in which case it waits (the model already decided about this situation). Calls
  per episode are therefore at most (LLM agents x steps) and in practice far fewer;
* the step's calls go out together (concurrently on the openai backend); replies are
  validated (:mod:`.reply`): an invalid one is a NOOP, counted, never repaired;
* a call with no reply after the retries, or any decision after a budget ran out, goes to
  the agent's scripted role (a separate scripted team of the LLM agents; it does not share
  the other team's per-step claims), counted in ``llm.fallbacks`` with an event.

Every call leaves an ``llm`` record in the episode log (request and response SHA-256,
tokens, outcome, action; no wall-clock values, so a replayed episode logs the same bytes)
via :meth:`LLMAgents.drain_log_records`; budget exhaustion and fallbacks leave event
records. :attr:`LLMAgents.decisions` lists every model decision with the free text its
prompt carried and, after the step, the engine's verdict (the prompt-injection task reads
it through ``task.bind_llm_controller``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from labtrust_gym.errors import ConfigError, LLMBackendError, UnknownIdError
from labtrust_gym.llm.exchange import CallFailure, LLMRequest
from labtrust_gym.llm.menu import MenuItem, agent_menu, free_text_entries, menu_action
from labtrust_gym.llm.playbook import AGENT_PLAYBOOK
from labtrust_gym.llm.prompt import agent_request
from labtrust_gym.llm.reply import check_agent_reply
from labtrust_gym.llm.session import LLMSession
from labtrust_gym.llm.stats import Budget, LLMStats

__all__ = ["LLMAgents", "Decision", "attach_llm_controller", "resolve_roles"]


@dataclass
class Decision:
    """One model decision: ``free_text`` is what its prompt carried (``(ref, field)``);
    ``status`` / ``blocked_reason_code`` / ``emits`` are the engine's verdict on the
    submitted action (None for NOOP or before the step)."""

    step: int
    t_s: float
    agent_id: str
    action: str
    valid: bool
    free_text: tuple[tuple[str, str], ...]
    status: str | None = None
    blocked_reason_code: str | None = None
    emits: tuple[str, ...] = ()


def _short(role: str) -> str:
    return role[5:].lower() if role.startswith("ROLE_") else role.lower()


def resolve_roles(names: Any, known: list[str]) -> set[str]:
    """Role ids for ``names`` (role ids, short names like ``qc``, or ``all``)."""
    names = [names] if isinstance(names, str) else list(names)
    if any(n == "all" for n in names):
        return set(known)
    by_short = {_short(r): r for r in known}
    out = set()
    for n in names:
        n = str(n).strip()
        r = n if n in known else by_short.get(n.lower())
        if r is None:
            raise UnknownIdError(
                f"unknown role {n!r} for --llm-roles; known: {', '.join(sorted(by_short))}, all"
            )
        out.add(r)
    return out


class LLMAgents:
    """The LLM-controlled agents of an episode (see the module docstring)."""

    def __init__(self, env: Any, session: LLMSession, agent_ids: list[str], fallback: Any) -> None:
        self.env = env
        self.session = session
        self.config = session.config
        self.backend = session.backend
        self.playbook = session.playbook(AGENT_PLAYBOOK)
        self.agent_ids = list(agent_ids)
        self.fallback = fallback
        self.budget = Budget(self.config.max_calls, self.config.max_tokens)
        self.reset(env.engine, 0)

    def reset(self, engine: Any, seed: int) -> None:
        self.stats = LLMStats()
        self.decisions: list[Decision] = []
        self._records: list[dict[str, Any]] = []
        self._last: dict[str, tuple[tuple[Any, ...], int]] = {}
        self._screen: dict[str, tuple[tuple[Any, ...], str]] = {}
        self._pending: list[Decision] = []
        self._failures_in_row = 0
        self._fallback_ready = False
        self._seed = seed

    # ------------------------------------------------------------------ step -----------
    def propose(self, engine: Any, t_s: float) -> dict[str, Any]:
        t0 = time.perf_counter()
        env = self.env
        step = env.step_count
        notes = getattr(env.task, "free_text", None)
        version = self._state_version
        out: dict[str, Any] = {}
        to_fallback: list[tuple[str, str]] = []
        asks: list[tuple[str, list[MenuItem], tuple[Any, ...], LLMRequest, Any]] = []
        sigs: dict[str, tuple[Any, ...]] = {}
        for aid in self.agent_ids:
            a = engine.agents.get(aid)
            if a is None or a.zone is None:
                continue
            ta = time.perf_counter()
            self.stats.screened += 1
            if self.stats.budget_exhausted:
                to_fallback.append((aid, "budget"))
                continue
            # Unchanged engine state (the env rebuilds its view only after a change) and
            # the same place and load: the menu would be the same as last step.
            sig = (a.zone, tuple(a.carrying), version())
            seen = self._screen.get(aid)
            if seen is not None and seen[0] == sig and seen[0][2] is not None:
                if seen[1] == "idle":
                    continue
                last = self._last.get(aid)
                if last is not None and step - last[1] < self.config.requery_steps:
                    continue
            menu = agent_menu(env, aid)
            if len(menu) == 1:
                self._screen[aid] = (sig, "idle")
                continue
            if len(menu) == 2:
                self._screen.pop(aid, None)
                self.stats.forced += 1
                out[aid] = menu_action(env, aid, menu[1])
                continue
            ctx = (a.zone, tuple(m.id for m in menu))
            last = self._last.get(aid)
            if last is not None and last[0] == ctx and step - last[1] < self.config.requery_steps:
                self._screen[aid] = (sig, "wait")
                continue
            self._screen.pop(aid, None)
            view = env.view.agent_view(aid)
            free = free_text_entries(engine, notes, view, menu)
            req = agent_request(
                model=self.backend.model,
                playbook=self.playbook.text,
                agent_id=aid,
                role=a.role or "",
                view=view,
                free_text=free,
                allowed=[m.id for m in menu],
                config=self.config,
                label=f"agent {aid} at t={t_s:g} s (step {step})",
            )
            asks.append((aid, menu, ctx, req, tuple((f["ref"], f["field"]) for f in free)))
            sigs[aid] = sig
            self.stats.decide_s += time.perf_counter() - ta
        left = self.budget.calls_left(self.stats)
        exhausted = left is not None and left < len(asks)
        if exhausted:
            for aid, *_ in asks[left:]:
                to_fallback.append((aid, "budget"))
            asks = asks[:left]
        t_model = 0.0
        if asks:
            tm = time.perf_counter()
            outcomes = self.backend.complete_many([x[3] for x in asks])
            t_model = time.perf_counter() - tm
            for (aid, menu, ctx, req, free), res in zip(asks, outcomes, strict=True):
                ta = time.perf_counter()
                act = self._apply(aid, menu, ctx, req, free, res, step, t_s, to_fallback)
                if act is not None:
                    out[aid] = act
                if self._last.get(aid, (None, -1))[1] == step:  # answered: wait for a change
                    self._screen[aid] = (sigs[aid], "wait")
                self.stats.decide_s += time.perf_counter() - ta
        if exhausted:
            self._exhaust(step, t_s)
        t_fb = 0.0
        if to_fallback:
            tf = time.perf_counter()
            if not self._fallback_ready:
                self.fallback.reset(engine, self._seed)
                self._fallback_ready = True
            fb = self.fallback.propose(engine, t_s)
            t_fb = time.perf_counter() - tf
            for aid, why in to_fallback:
                self.stats.fallbacks += 1
                if aid in fb:
                    out[aid] = fb[aid]
                if why != "budget":
                    self._event(step, t_s, "LLM_FALLBACK", agent_id=aid, reason=why)
        self.stats.overhead_s += time.perf_counter() - t0 - t_model - t_fb
        return out

    def _state_version(self) -> int | None:
        """A number that changes whenever engine state may have changed: the count of
        view rebuilds after bringing the view up to date (None: unknown, never equal)."""
        view = self.env.view
        view.ensure()
        return getattr(view, "builds", None)

    def _apply(
        self,
        aid: str,
        menu: list[MenuItem],
        ctx: tuple[Any, ...],
        req: LLMRequest,
        free: tuple[tuple[str, str], ...],
        res: Any,
        step: int,
        t_s: float,
        to_fallback: list[tuple[str, str]],
    ) -> Any:
        st = self.stats
        st.calls += 1
        st.latencies_ms.append(res.latency_ms)
        st.retries += res.retries
        rec: dict[str, Any] = {
            "type": "llm",
            "kind": "call",
            "step": step,
            "t_s": t_s,
            "agent_id": aid,
            "model": req.model,
            "request_sha256": req.key,
        }
        if isinstance(res, CallFailure):
            st.failures += 1
            self._failures_in_row += 1
            rec.update(
                response_sha256=None, tokens_in=0, tokens_out=0, outcome=f"failure:{res.code}"
            )
            self._records.append(rec)
            to_fallback.append((aid, f"failure:{res.code}"))
            if self._failures_in_row >= self.config.max_consecutive_failures:
                raise LLMBackendError(
                    f"{self.backend.name}: {self._failures_in_row} calls in a row got no reply "
                    f"(last: {res.code}, {res.detail}; {req.label}); is the server up? "
                    "(--llm-timeout, --llm-max-retries)"
                )
            return None
        self._failures_in_row = 0
        st.tokens_in += res.tokens_in
        st.tokens_out += res.tokens_out
        by_id = {m.id: m for m in menu}
        chk = check_agent_reply(res.text, by_id)
        self._last[aid] = (ctx, step)
        if chk.ok:
            item = by_id[chk.value]
            outcome = "valid"
        else:
            st.invalid_outputs += 1
            item = menu[0]
            outcome = f"invalid:{chk.error}"
        rec.update(
            response_sha256=res.sha256,
            tokens_in=res.tokens_in,
            tokens_out=res.tokens_out,
            outcome=outcome,
            action=item.id,
        )
        self._records.append(rec)
        d = Decision(step, t_s, aid, item.id, chk.ok, free)
        self.decisions.append(d)
        if item.index != 0:
            self._pending.append(d)
        return menu_action(self.env, aid, item)

    def _exhaust(self, step: int, t_s: float) -> None:
        if self.stats.budget_exhausted:
            return
        self.stats.budget_exhausted = True
        self._event(
            step,
            t_s,
            "LLM_BUDGET_EXHAUSTED",
            calls=self.stats.calls,
            tokens=self.stats.tokens_in + self.stats.tokens_out,
            max_calls=self.config.max_calls,
            max_tokens=self.config.max_tokens,
        )

    def _event(self, step: int, t_s: float, event: str, **detail: Any) -> None:
        self._records.append(
            {"type": "llm", "kind": "event", "event": event, "step": step, "t_s": t_s, **detail}
        )

    def on_step(self, env: Any) -> None:
        """Record the engine's verdict on the actions the model chose this step."""
        results = env.last_results
        for d in self._pending:
            r = results.get(d.agent_id)
            if r is not None:
                d.status = r["status"]
                d.blocked_reason_code = r["blocked_reason_code"]
                d.emits = tuple(r["emits"])
        self._pending = []

    # ------------------------------------------------------------------ outputs --------
    def drain_log_records(self) -> list[dict[str, Any]]:
        """Episode-log records since the last call (the runner appends them)."""
        out, self._records = self._records, []
        return out

    def episode_extras(self) -> dict[str, Any]:
        """The ``llm.*`` metrics of the episode."""
        return self.stats.metrics(self.session.prices)


def attach_llm_controller(
    task: Any, env: Any, policies: list[Any], session: LLMSession
) -> tuple[list[Any], LLMAgents]:
    """Put the configured roles of the task's scripted team under LLM control.

    Returns the new controller list (the scripted team of the other agents, the task's
    other controllers unchanged, then the LLM agents) and the LLM controller.
    """
    from labtrust_gym.baselines.scripted import ScriptedTeam

    teams = [p for p in policies if isinstance(p, ScriptedTeam)]
    if len(teams) != 1:
        raise ConfigError(
            f"task {task.name}: --controller llm needs exactly one scripted team among the "
            f"task's controllers, found {len(teams)}"
        )
    team = teams[0]
    ids = list(team.agent_ids) if team.agent_ids is not None else list(task.scripted_agents)
    role_of = {a["agent_id"]: a["role"] for a in task.agents}
    known = sorted({role_of[a] for a in ids if role_of.get(a)})
    wanted = session.config.roles
    if wanted is None:
        wanted = tuple((task.params.get("llm") or {}).get("roles") or ("all",))
    roles = resolve_roles(wanted, known)
    llm_ids = [a for a in ids if role_of.get(a) in roles]
    if not llm_ids:
        raise ConfigError(
            f"task {task.name}: no agent has the LLM role(s) {sorted(roles)}; agents' roles: "
            f"{', '.join(known)}"
        )
    rest = [a for a in ids if a not in set(llm_ids)]
    params = {**team.params, "role_classes": team.role_classes}
    ctl = LLMAgents(env, session, llm_ids, ScriptedTeam(llm_ids, params=dict(params)))
    new = [ScriptedTeam(rest, params=dict(params)) if p is team else p for p in policies]
    if not rest:
        new = [p for p in new if not (isinstance(p, ScriptedTeam) and not p.agent_ids)]
    new.append(ctl)
    bind = getattr(task, "bind_llm_controller", None)
    if bind is not None:
        bind(ctl)
    return new, ctl
