"""The lab env: the PettingZoo parallel API over the lab engine, without the base class.

:class:`LabEnvCore` is all of :class:`~labtrust_gym.envs.LabTrustParallelEnv` but its
``pettingzoo.ParallelEnv`` base (and so ``isinstance`` checks of PettingZoo and SuperSuit
wrappers): importing PettingZoo and Gymnasium costs a short run more than its episode, so
the benchmark runner, whose controllers read the engine, steps this class; everyone else
gets the subclass from :func:`~labtrust_gym.envs.make_env`. The Gymnasium spaces are
built on first use.

One env step is ``dt_s`` seconds of lab time. At step ``k`` (time ``k * dt_s``) the action
of every live agent is applied in the fixed order of ``possible_agents`` (NOOP submits
nothing, so idle agents cost nothing), then the clock advances to ``(k + 1) * dt_s``: runs
complete, specimens arrive, escalations and alarms fire. Observations describe the lab at
the new time.

Rewards (``task.reward_config``): every agent shares the team's reward for the step —
``release`` per released result, ``on_time_release`` extra when it met its turnaround
target, the ``violation`` penalty of each violation's severity and, for reward shaping,
``emit[kind]`` per emit of that kind (e.g. the rl_tutorial task's) — and adds its own
``blocked`` penalty for each of its actions the engine BLOCKED.

Termination: none (a lab does not finish); truncation when ``max_steps`` is reached.
Infos: ``engine_id``, ``step_result`` of the agent's action (agents that acted), and with
``action_masks`` an ``action_mask`` (int8, 1 = plausible; read-only, shared by agents with
the same role, zone and load) and with ``rich_infos`` a structured ``view`` (see
:meth:`LabView.agent_view`). Both default to on for teams of at most 64 agents and off
above; :meth:`LabTrustParallelEnv.action_mask` computes one agent's mask on demand.
Without masks and views ("lean" infos), an agent that did not act this step gets the
same info dict as in its previous such step (the env never changes it, and replaces one
a caller changed): per-agent infos cost no allocation.

Observations (see :mod:`labtrust_gym.envs.observation` for the layout) are read-only rows
of one array per step: an observation returned at step ``t`` never changes later. A driver
whose controllers read the engine, not the observations (the benchmark runner's scripted
and random teams), builds the env with ``observations=False``: ``reset`` and ``step`` then
return an empty observation dict, :meth:`state` raises, and the trajectory hash covers the
audit chain only. Nothing else changes: the same actions give the same audit log.

Actions (see :mod:`labtrust_gym.envs.codec` and docs/actions.md): an index, the contract's
``{"action_index", "action_info"}``, a raw engine action or ``None``. A step is atomic:
the call as a whole is checked first — ``actions`` must be a dict whose keys are live
agents, each named once (PettingZoo name or engine id) — and an invalid call raises
:class:`~labtrust_gym.errors.ActionError` naming the agent, with the env untouched (same
``step_count``, audit log, state). Then every agent's action is decoded; one that is not a
valid action becomes a BLOCKED step result with an ``ACTION_*`` reason code, recorded in
the audit log (:meth:`LabEngine.reject`), never an exception. Should anything still raise
while the actions are applied (a plugin's bug), the env refuses further steps until
:meth:`reset`, so no event id is ever reused.

Pickling: ``pickle``, ``cloudpickle`` and ``copy.deepcopy`` of an env give an env that
continues identically (signing keys travel as raw bytes).

Cost: a step does work for the agents that act, move or carry specimens, plus O(agents)
numpy and dict construction; idle agents cost (almost) nothing. Engine state that did not
change since the last step (no accepted action, no internal event) is not re-indexed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from labtrust_gym.engine.core_env import CUSTODY_ACTIONS, LabEngine
from labtrust_gym.engine.signatures import (
    private_key_bytes,
    private_key_from_bytes,
    sign_event,
)
from labtrust_gym.engine.world import compile_world
from labtrust_gym.envs.codec import ActionCodec, Rejection, describe
from labtrust_gym.envs.masks import ActionMasks
from labtrust_gym.envs.observation import ObservationBuilder
from labtrust_gym.envs.view import LabView
from labtrust_gym.errors import ActionError, ConfigError
from labtrust_gym.evidence.episode_log import EpisodeLog

__all__ = ["LabEnvCore", "pz_name"]


def pz_name(engine_id: str) -> str:
    """PettingZoo name of an engine agent id: ``A_RECEPTION_01`` -> ``reception_01``."""
    body = engine_id[2:] if engine_id.startswith("A_") else engine_id
    head, _, num = body.rpartition("_")
    if not num.isdigit() or not head:
        head, num = body, "0"
    return "".join(ch for ch in head.lower() if ch.isalnum()) + "_" + num


_RELEASE_EMITS = ("RESULT_RELEASED", "RESULT_RELEASED_WITH_DISCLAIMER")


_RENDER_MODES = ("ansi", "human")


class LabEnvCore(ActionMasks):
    """The lab env of a task: steps, rewards, infos, observations, actions and pickling
    are documented in the module docstring (:mod:`labtrust_gym.envs.core`)."""

    metadata = {
        "name": "labtrust_v0",
        "render_modes": list(_RENDER_MODES),
        "is_parallelizable": True,
    }

    def __init__(
        self,
        task: Any,
        *,
        render_mode: str | None = None,
        rich_infos: bool | None = None,
        action_masks: bool | None = None,
        record_log: bool = False,
        full_rebuild: bool = False,
        engine: LabEngine | None = None,
        observations: bool = True,
    ) -> None:
        if render_mode is not None and render_mode not in _RENDER_MODES:
            raise ValueError(f"render_mode {render_mode!r}; use one of {_RENDER_MODES}")
        self.task = task
        self.render_mode = render_mode
        # ``engine``: the adapter of the run's domain (labtrust_gym.domain.dispatch).
        self.engine = engine if engine is not None else LabEngine(task.policy)
        self.world = compile_world(task.policy, task.effective_policy_probe())
        self.engine_ids: list[str] = list(task.agent_ids())
        self.possible_agents: list[str] = [pz_name(e) for e in self.engine_ids]
        if len(set(self.possible_agents)) != len(self.possible_agents):
            raise ConfigError(
                f"task {task.name}: agent ids map to clashing PettingZoo names; "
                "make the part before the number unique"
            )
        self.engine_id = dict(zip(self.possible_agents, self.engine_ids, strict=True))
        self.pz_id = dict(zip(self.engine_ids, self.possible_agents, strict=True))
        self.agents: list[str] = []
        roles = sorted({r for r in self.world.roles})
        self.codec = ActionCodec(self.world)
        self.obs_builder = ObservationBuilder(
            self.world, roles, task.max_steps, task.dt_s, full_rebuild=full_rebuild
        )
        self._spaces: dict[str, Any] | None = None
        small = len(self.possible_agents) <= 64
        self.rich_infos = small if rich_infos is None else bool(rich_infos)
        self.action_masks = small if action_masks is None else bool(action_masks)
        self.record_log = record_log
        self.full_rebuild = full_rebuild
        self.observations = bool(observations)
        # Either name of an agent -> its row in possible_agents.
        self._order: dict[str, int] = {e: i for i, e in enumerate(self.engine_ids)}
        self._order.update({a: i for i, a in enumerate(self.possible_agents)})
        self._live_tmpl: dict[str, bool] = {}
        self._sig_fallback = 0
        self._idle_infos: list[dict[str, Any]] = []
        self._idle_ref: list[dict[str, Any]] = []
        self._init_masks()
        self.view = LabView(self.engine)
        self.step_count = 0
        self.seed: int | None = None
        self._seed_rng: np.random.Generator | None = None
        self._consignment_seq = 0
        self._keys_cache: dict[str, Any] | None = None
        self._obs: np.ndarray | None = None
        # The trajectory hash chains one digest per step (hashlib objects do not pickle).
        self._traj_head = hashlib.sha256().digest()
        self._traj = hashlib.sha256()
        self._broken: str | None = None
        self.episode_log = EpisodeLog()
        self.counters: dict[str, Any] = {}
        self.last_results: dict[str, dict[str, Any]] = {}
        self.last_events: dict[str, dict[str, Any]] = {}

    # ----------------------------------------------------------------- spaces ----------
    def _space(self, name: str) -> Any:
        if self._spaces is None:
            from gymnasium import spaces

            obs = spaces.Box(0.0, 1.0, (self.obs_builder.dim,), np.float32)
            act = spaces.Discrete(self.codec.n)
            self._spaces = {
                "observation_spaces": {a: obs for a in self.possible_agents},
                "action_spaces": {a: act for a in self.possible_agents},
                "state_space": spaces.Box(
                    0.0, 1.0, (len(self.possible_agents) * self.obs_builder.dim,), np.float32
                ),
            }
        return self._spaces[name]

    @property
    def observation_spaces(self) -> dict[str, Any]:
        return self._space("observation_spaces")

    @property
    def action_spaces(self) -> dict[str, Any]:
        return self._space("action_spaces")

    @property
    def state_space(self) -> Any:
        return self._space("state_space")

    def observation_space(self, agent: str) -> Any:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> Any:
        return self.action_spaces[agent]

    @property
    def num_agents(self) -> int:
        return len(self.agents)

    @property
    def max_num_agents(self) -> int:
        return len(self.possible_agents)

    @property
    def unwrapped(self) -> LabEnvCore:
        return self

    # ----------------------------------------------------------------- reset -----------
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is None:
            if self._seed_rng is None:
                self._seed_rng = np.random.default_rng()
            seed = int(self._seed_rng.integers(0, 2**31 - 1))
        else:
            self._seed_rng = np.random.default_rng(seed)
        self.seed = int(seed)
        init = self.task.get_initial_state(self.seed)
        self.initial_state = init
        self.engine.reset(init, seed=self.seed)
        self._keys_cache = None
        self.agents = list(self.possible_agents)
        self._live_tmpl = dict.fromkeys(self.agents, False)
        self._idle_infos = [{"engine_id": e} for e in self.engine_ids]
        self._idle_ref = [{"engine_id": e} for e in self.engine_ids]
        self.step_count = 0
        self._consignment_seq = 0
        self.view.reset()
        self._state_changed()
        self._obs = None
        self._traj = hashlib.sha256()
        self._broken = None
        self.episode_log = EpisodeLog.start(self.task, self.engine, self.seed)
        self.counters = {
            "blocked_by_reason_code": {},
            "violations": [],
            "released": 0,
            "released_on_time": 0,
            "actions": 0,
            "blocked": 0,
            "blocked_by_agent": {},
            "emits": {},
        }
        self.last_results = {}
        self.last_events = {}
        obs = self._observe(None, True)
        self._fold_traj()
        infos = self._infos()
        return obs, infos

    def _fold_traj(self) -> None:
        """End the step's part of the trajectory hash: keep its digest, start afresh."""
        self._traj_head = self._traj.digest()
        self._traj = hashlib.sha256(self._traj_head)

    # ----------------------------------------------------------------- pickling --------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_traj", None)  # rebuilt from _traj_head (steps end folded)
        keys = state.pop("_keys_cache", None)
        state["_keys_raw"] = (
            None
            if keys is None
            else {aid: (kid, private_key_bytes(pk)) for aid, (kid, pk) in keys.items()}
        )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        raw = state.pop("_keys_raw", None)
        self.__dict__.update(state)
        self._keys_cache = (
            None
            if raw is None
            else {aid: (kid, private_key_from_bytes(b)) for aid, (kid, b) in raw.items()}
        )
        self._traj = hashlib.sha256(self._traj_head)
        # Arrays come back writeable; those handed out must stay read-only.
        for m in self._mask_cache.values():
            m.flags.writeable = False
        if self._obs is not None:
            self._obs.flags.writeable = False

    @property
    def _keys(self) -> dict[str, Any]:
        """The agents' signing keys, derived on first use (only signers need them)."""
        if self._keys_cache is None:
            self._keys_cache = self.task.agent_keys(self.seed if self.seed is not None else 0)
        return self._keys_cache

    def _state_changed(self) -> None:
        """Engine state may have changed: drop the view and the cached action masks."""
        self.view.invalidate()
        self._masks_stale()

    def _engine_sig(self) -> tuple[int, int]:
        """Changes whenever an internal event runs or is scheduled: the size of the
        engine's event heap and its count of scheduled events (an event that runs leaves
        the heap; one that is scheduled bumps the count). Should the engine not expose
        them, every call differs, so every step counts as a change (always correct)."""
        eng = self.engine
        heap = getattr(eng, "_heap", None)
        counters = getattr(eng, "_counters", None)
        if heap is None or not isinstance(counters, dict):
            self._sig_fallback += 1
            return -1, self._sig_fallback
        return len(heap), counters.get("sched", 0)

    def _plan(self, actions: Any) -> list[tuple[int, Any, Any]]:
        """Check the call as a whole and decode every action; changes nothing.

        Returns ``(row, decoded, action)`` of the agents that act, in the fixed order of
        ``possible_agents`` (``decoded`` as :meth:`ActionCodec.decode`). Raises
        :class:`ActionError` if ``actions`` is not a dict, names something that is not a
        live agent of this env, or names an agent twice (both of its names)."""
        if type(actions) is not dict and not isinstance(actions, Mapping):
            raise ActionError(
                f"env.step takes a dict {{agent: action}}; got a {type(actions).__name__}"
            )
        if not actions:
            return []
        order = self._order
        pz_names = self.possible_agents
        live = None if len(self.agents) == len(pz_names) else set(self.agents)
        named: dict[int, Any] = {}
        sel: dict[int, Any] = {}
        for k, act in actions.items():
            i = order.get(k) if isinstance(k, str) else None
            if i is None:
                raise ActionError(
                    f"actions names {describe(k, 60)}, which is not an agent of this env; "
                    f"name agents by their PettingZoo name ({pz_names[0]!r}) or engine id "
                    f"({self.engine_ids[0]!r})"
                )
            if i in named:
                raise ActionError(
                    f"agent {pz_names[i]!r} is named twice in actions ({named[i]!r} and "
                    f"{k!r}); give one action per agent"
                )
            named[i] = k
            if live is not None and pz_names[i] not in live:
                raise ActionError(
                    f"agent {k!r} is not live"
                    + (": the episode has ended; call reset()" if not self.agents else "")
                )
            if act is not None:
                sel[i] = act
        decode = self.codec.decode
        return [(i, decode(sel[i]), sel[i]) for i in sorted(sel)]

    # ----------------------------------------------------------------- step ------------
    def step(self, actions: dict[str, Any]):
        if self._broken is not None:
            raise RuntimeError(
                f"a previous env.step raised ({self._broken}) after applying part of its "
                "actions; the episode cannot go on: call reset()"
            )
        plan = self._plan(actions)
        try:
            return self._apply(plan)
        except BaseException as exc:
            self._broken = f"{type(exc).__name__}: {exc}"[:200]
            raise

    def _apply(self, plan: list[tuple[int, Any, Any]]) -> tuple[Any, ...]:
        eng = self.engine
        t = self.step_count * self.task.dt_s
        team_reward = 0.0
        rc = self.task.reward_config
        pen = rc.get("violation", {})
        shaping = rc.get("emit") or None
        own: dict[str, float] = {}
        self.last_results = {}
        self.last_events = {}
        strict = eng.strict_signatures
        c = self.counters
        acted: list[int] = []
        changed = False
        sig = self._engine_sig()
        codec = self.codec
        for i, dec, raw in plan:
            if dec is None:
                continue
            aid = self.engine_ids[i]
            pz = self.possible_agents[i]
            event_id = f"{self.step_count}:{aid}"
            if type(dec) is Rejection:
                event: dict[str, Any] = {
                    "event_id": event_id,
                    "t_s": t,
                    "agent_id": aid,
                    "rejected_action": describe(raw),
                    "problem": dec.problem,
                }
                res = eng.reject(event, dec.code)
                reject_code: str | None = dec.code
            else:
                reject_code = None
                if type(dec) is tuple:
                    a, p = dec
                    args, refs = codec.fill(self, aid, a, p)
                    eng_action: dict[str, Any] = {
                        "action_type": a,
                        "args": args,
                        "token_refs": refs,
                    }
                else:
                    eng_action = dec
                event = {
                    "event_id": event_id,
                    "t_s": t,
                    "agent_id": aid,
                    "action_type": eng_action["action_type"],
                    "args": eng_action["args"],
                    "token_refs": eng_action["token_refs"],
                }
                if "sign_with" in eng_action:
                    # The agent's own device signs with the key it holds (maybe a stolen one).
                    kid, pk = eng_action["sign_with"]
                    event["key_id"] = kid
                    event["signature"] = sign_event(
                        pk, event, eng.world.fingerprint, eng.audit.head_hash
                    )
                elif "signature" in eng_action or "key_id" in eng_action:
                    event["key_id"] = eng_action.get("key_id")
                    event["signature"] = eng_action.get("signature")
                elif (strict or event["action_type"] in CUSTODY_ACTIONS) and aid in self._keys:
                    kid, pk = self._keys[aid]
                    event["key_id"] = kid
                    event["signature"] = sign_event(
                        pk, event, eng.world.fingerprint, eng.audit.head_hash
                    )
                res = eng.step(event)
                acted.append(i)
                sig2 = self._engine_sig()
                if res["status"] != "BLOCKED" or sig2 != sig:
                    # A BLOCKED action changes nothing, but the clock may have run events.
                    changed = True
                    sig = sig2
                    self._state_changed()
            self.last_results[aid] = res
            self.last_events[aid] = event
            c["actions"] += 1
            if res["status"] == "BLOCKED":
                code = res["blocked_reason_code"]
                c["blocked"] += 1
                c["blocked_by_reason_code"][code] = c["blocked_by_reason_code"].get(code, 0) + 1
                c["blocked_by_agent"][aid] = c["blocked_by_agent"].get(aid, 0) + 1
                own[pz] = own.get(pz, 0.0) + float(rc.get("blocked", 0.0))
            else:
                team_reward += self._release_reward(res, eng)
            team_reward += self._account(res, pen, shaping)
            self.episode_log.event(self.step_count, event, res, eng, rejected=reject_code)
            self._traj.update(res["hashchain"]["head_hash"].encode())
        before = eng.audit.length
        res = eng.tick(t + self.task.dt_s)
        if self._engine_sig() != sig:
            changed = True
            self._state_changed()
        team_reward += self._account(res, pen, shaping)
        if eng.audit.length != before:
            self.episode_log.tick(self.step_count, t + self.task.dt_s, res)
        self.step_count += 1
        obs = self._observe(acted, changed)
        self._fold_traj()
        # O(agents) dicts, built from a template of the live agents (C-speed copies).
        live = self._live_tmpl if len(self._live_tmpl) == len(self.agents) else None
        if live is None:
            live = dict.fromkeys(self.agents, False)
        rewards = dict.fromkeys(live, team_reward)
        for pz, r in own.items():
            rewards[pz] += r
        done = self.step_count >= self.task.max_steps
        terminations = live.copy()
        truncations = dict.fromkeys(live, True) if done else live.copy()
        infos = self._infos()
        if done:
            self.agents = []
        if self.render_mode == "human":
            print(self.render())
        return obs, rewards, terminations, truncations, infos

    def _release_reward(self, res: dict[str, Any], eng: LabEngine) -> float:
        rid = eng.step_ctx.get("released")
        if rid is None:
            return 0.0
        rc = self.task.reward_config
        r = eng.results[rid]
        assert r.released_t is not None
        self.counters["released"] += 1
        reward = float(rc.get("release", 0.0))
        if r.released_t - r.arrival_t <= eng.world.priorities[r.priority]["target_tat_s"]:
            self.counters["released_on_time"] += 1
            reward += float(rc.get("on_time_release", 0.0))
        return reward

    def _account(
        self, res: dict[str, Any], pen: dict[str, float], shaping: dict[str, float] | None
    ) -> float:
        r = 0.0
        em = self.counters["emits"]
        for e in res["emits"]:
            em[e] = em.get(e, 0) + 1
            if shaping is not None:
                r += float(shaping.get(e, 0.0))
            if e == "QC_FAIL" and "first_qc_fail_t" not in self.counters:
                self.counters["first_qc_fail_t"] = self.engine.now
        for v in res["violations"]:
            self.counters["violations"].append(
                {
                    "invariant_id": v["invariant_id"],
                    "severity": v["severity"],
                    "t_s": self.engine.now,
                }
            )
            r += float(pen.get(v["severity"], 0.0))
        return r

    # ----------------------------------------------------------------- observations ----
    def _observe(self, acted: list[int] | None, changed: bool) -> dict[str, np.ndarray]:
        """Observations after a step (``acted`` None: a full build, at reset)."""
        if not self.agents or not self.observations:
            return {}
        ob = self.obs_builder
        if acted is None:
            buf = ob.bind(self.engine, self.view, self.engine_ids)
        else:
            buf = ob.update(acted, changed)
        cur = buf.copy()
        cur.flags.writeable = False
        ob.digest(self._traj, cur, self._obs)
        self._obs = cur
        if len(self.agents) == len(self.possible_agents):
            return dict(zip(self.agents, cur, strict=True))
        row = self._order
        return {a: cur[row[a]] for a in self.agents}

    def _infos(self) -> dict[str, dict[str, Any]]:
        agents = self.agents
        if not agents:
            return {}
        pz_id = self.pz_id
        rich = self.action_masks or self.rich_infos
        infos: dict[str, dict[str, Any]]
        if rich or len(agents) != len(self.possible_agents):
            infos = {a: {"engine_id": self.engine_id[a]} for a in agents}
        else:
            # Lean infos: an agent without news gets its episode's idle info dict, which
            # the env never changes (no allocation per agent and step). One a caller has
            # changed is replaced by a fresh copy.
            idle, ref = self._idle_infos, self._idle_ref
            if idle != ref:
                for k, (d, r) in enumerate(zip(idle, ref, strict=True)):
                    if d != r:
                        idle[k] = dict(r)
            infos = dict(zip(agents, idle, strict=True))
        for eid, r in self.last_results.items():
            a = pz_id[eid]
            if a in infos:
                infos[a] = {
                    "engine_id": eid,
                    "step_result": {
                        "status": r["status"],
                        "blocked_reason_code": r["blocked_reason_code"],
                    },
                }
        if rich:
            eng_agents = self.engine.agents
            for info in infos.values():
                eid = info["engine_id"]
                if self.action_masks:
                    info["action_mask"] = self._cached_mask(eng_agents[eid])
                if self.rich_infos:
                    info["view"] = self.view.agent_view(eid)
        return infos

    # ----------------------------------------------------------------- misc ------------
    def state(self) -> np.ndarray:
        """Every agent's observation, in ``possible_agents`` order, concatenated."""
        if not self.observations:
            raise ConfigError(
                "this env was built with observations=False, so it keeps no state vector; "
                "build it with observations=True (the default)"
            )
        if self._obs is None or not self.agents:
            return np.zeros(self.state_space.shape, dtype=np.float32)
        return self._obs.reshape(-1).copy()

    def trajectory_hash(self) -> str:
        """SHA-256 over every step's audit head hashes and observations so far (the first
        observations whole, then what changed: :meth:`ObservationBuilder.digest`), chained
        step by step."""
        return self._traj_head.hex()

    def render(self) -> str | None:
        eng = self.engine
        lines = [
            f"t={eng.now:.0f}s step={self.step_count}/{self.task.max_steps} "
            f"released={self.counters.get('released', 0)} "
            f"blocked={self.counters.get('blocked', 0)} "
            f"frozen={sorted(eng.frozen_zones) or '-'}"
        ]
        self.view.ensure()
        in_zone: dict[str | None, int] = {}
        for a in eng.agents.values():
            in_zone[a.zone] = in_zone.get(a.zone, 0) + 1
        for z in sorted(eng.world.zones):
            n_ags = in_zone.get(z, 0)
            specs = self.view.zone_specimens(z)
            devs = [
                f"{d.device_id}:{d.state}/q{len(d.queue)}"
                for d in (eng.devices[did] for did in self.view.zone_devices(z))
            ]
            if n_ags or specs or devs:
                lines.append(f"  {z:<20} agents={n_ags} specimens={len(specs)} " + " ".join(devs))
        moving = [a.agent_id for a in eng.agents.values() if a.zone is None]
        if moving:
            lines.append(f"  in transit: {', '.join(moving)}")
        text = "\n".join(lines)
        if self.render_mode == "ansi":
            return text
        return text

    def close(self) -> None:
        pass

    @property
    def log(self) -> list[dict[str, Any]]:
        """The episode log's records so far, parsed (``env.episode_log`` holds the lines;
        see :mod:`labtrust_gym.evidence.episode_log`)."""
        return self.episode_log.records()

    # The lab ids of the BenchmarkEnv protocol (labtrust_gym.domain.BenchmarkEnv).
    def get_device_ids(self) -> list[str]:
        return sorted(self.world.devices)

    def get_zone_ids(self) -> list[str]:
        return sorted(self.world.zones)

    def get_dt_s(self) -> float:
        return float(self.task.dt_s)
