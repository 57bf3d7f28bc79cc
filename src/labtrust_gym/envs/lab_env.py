"""The PettingZoo ParallelEnv over the lab engine.

One env step is ``dt_s`` seconds of lab time. At step ``k`` (time ``k * dt_s``) the action
of every live agent is applied in the fixed order of ``possible_agents`` (NOOP submits
nothing, so idle agents cost nothing), then the clock advances to ``(k + 1) * dt_s``: runs
complete, specimens arrive, escalations and alarms fire. Observations describe the lab at
the new time.

Rewards (``task.reward_config``): every agent shares the team's reward for the step —
``release`` per released result, ``on_time_release`` extra when it met its turnaround
target, and the ``violation`` penalty of each violation's severity — and adds its own
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
of one array per step: an observation returned at step ``t`` never changes later.

Cost: a step does work for the agents that act, move or carry specimens, plus O(agents)
numpy and dict construction; idle agents cost (almost) nothing. Engine state that did not
change since the last step (no accepted action, no internal event) is not re-indexed.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from labtrust_gym.engine.core_env import CUSTODY_ACTIONS, LabEngine
from labtrust_gym.engine.signatures import sign_event
from labtrust_gym.engine.world import compile_world
from labtrust_gym.envs.codec import DEVICE_ACTIONS, SLOT_ACTIONS, ActionCodec
from labtrust_gym.envs.observation import ObservationBuilder
from labtrust_gym.envs.view import LabView
from labtrust_gym.errors import ConfigError

__all__ = ["LabTrustParallelEnv", "pz_name"]


def pz_name(engine_id: str) -> str:
    """PettingZoo name of an engine agent id: ``A_RECEPTION_01`` -> ``reception_01``."""
    body = engine_id[2:] if engine_id.startswith("A_") else engine_id
    head, _, num = body.rpartition("_")
    if not num.isdigit() or not head:
        head, num = body, "0"
    return "".join(ch for ch in head.lower() if ch.isalnum()) + "_" + num


_RELEASE_EMITS = ("RESULT_RELEASED", "RESULT_RELEASED_WITH_DISCLAIMER")


_RENDER_MODES = ("ansi", "human")


class LabTrustParallelEnv(ParallelEnv):
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
    ) -> None:
        if render_mode is not None and render_mode not in _RENDER_MODES:
            raise ValueError(f"render_mode {render_mode!r}; use one of {_RENDER_MODES}")
        self.task = task
        self.render_mode = render_mode
        # ``engine``: the adapter of the run's domain (labtrust_gym.domain.dispatch).
        self.engine = engine if engine is not None else LabEngine(task.policy)
        probe = task.get_initial_state(0)
        self.world = compile_world(task.policy, probe.get("effective_policy"))
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
        self._obs_space = spaces.Box(0.0, 1.0, (self.obs_builder.dim,), np.float32)
        self._act_space = spaces.Discrete(self.codec.n)
        self.observation_spaces = {a: self._obs_space for a in self.possible_agents}
        self.action_spaces = {a: self._act_space for a in self.possible_agents}
        self.state_space = spaces.Box(
            0.0, 1.0, (len(self.possible_agents) * self.obs_builder.dim,), np.float32
        )
        small = len(self.possible_agents) <= 64
        self.rich_infos = small if rich_infos is None else bool(rich_infos)
        self.action_masks = small if action_masks is None else bool(action_masks)
        self.record_log = record_log
        self.full_rebuild = full_rebuild
        # Either name of an agent -> its row in possible_agents.
        self._order: dict[str, int] = {e: i for i, e in enumerate(self.engine_ids)}
        self._order.update({a: i for i, a in enumerate(self.possible_agents)})
        self._live_tmpl: dict[str, bool] = {}
        self._sig_fallback = 0
        self._idle_infos: list[dict[str, Any]] = []
        self._idle_ref: list[dict[str, Any]] = []
        self._mask_cache: dict[tuple[Any, ...], np.ndarray] = {}
        self._gmask: np.ndarray | None = None
        idx = self.codec.index
        self._clear_idx = np.array(
            [idx[("CLEAR_FREEZE", z)] for z in self.codec.zones], dtype=np.int64
        )
        self._dispatch_idx = np.array(
            [idx[("DISPATCH_TRANSPORT", r)] for r in self.codec.routes], dtype=np.int64
        )
        self.view = LabView(self.engine)
        self.step_count = 0
        self.seed: int | None = None
        self._seed_rng: np.random.Generator | None = None
        self._consignment_seq = 0
        self._keys_cache: dict[str, Any] | None = None
        self._obs: np.ndarray | None = None
        self._traj = hashlib.sha256()
        self.log: list[dict[str, Any]] = []
        self.counters: dict[str, Any] = {}
        self.last_results: dict[str, dict[str, Any]] = {}
        self.last_events: dict[str, dict[str, Any]] = {}

    # ----------------------------------------------------------------- spaces ----------
    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

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
        self.log = []
        if self.record_log:
            self.log.append(
                {
                    "type": "header",
                    "task": self.task.name,
                    "seed": self.seed,
                    "policy_fingerprint": self.task.policy.fingerprint,
                    "initial_state": init,
                }
            )
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
        infos = self._infos()
        return obs, infos

    @property
    def _keys(self) -> dict[str, Any]:
        """The agents' signing keys, derived on first use (only signers need them)."""
        if self._keys_cache is None:
            self._keys_cache = self.task.agent_keys(self.seed if self.seed is not None else 0)
        return self._keys_cache

    def _state_changed(self) -> None:
        """Engine state may have changed: drop the view and the cached action masks."""
        self.view.invalidate()
        if self._mask_cache:
            self._mask_cache = {}
        self._gmask = None

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

    def _acting(self, actions: Any) -> list[tuple[int, Any]]:
        """``(row, action)`` of the live agents named in ``actions``, in the fixed order.

        An agent may be named by its PettingZoo name or its engine id; the PettingZoo
        name wins when both are given. ``None`` means no action."""
        if not self.agents or not actions:
            return []
        order = self._order
        pz_names = self.possible_agents
        sel: dict[int, Any] = {}
        for k, act in actions.items():
            i = order.get(k) if isinstance(k, str) else None
            if i is None:
                continue
            pz = pz_names[i]
            if k != pz and pz in actions:
                continue
            if act is not None:
                sel[i] = act
        if len(self.agents) != len(pz_names):
            live = set(self.agents)
            sel = {i: a for i, a in sel.items() if pz_names[i] in live}
        return sorted(sel.items(), key=lambda x: x[0])

    # ----------------------------------------------------------------- step ------------
    def step(self, actions: dict[str, Any]):
        eng = self.engine
        t = self.step_count * self.task.dt_s
        team_reward = 0.0
        rc = self.task.reward_config
        pen = rc.get("violation", {})
        own: dict[str, float] = {}
        self.last_results = {}
        self.last_events = {}
        strict = eng.strict_signatures
        c = self.counters
        acted: list[int] = []
        changed = False
        sig = self._engine_sig()
        for i, act in self._acting(actions):
            aid = self.engine_ids[i]
            pz = self.possible_agents[i]
            eng_action = self.codec.to_engine(self, aid, act)
            if eng_action is None:
                continue
            event = {
                "event_id": f"{self.step_count}:{aid}",
                "t_s": t,
                "agent_id": aid,
                "action_type": eng_action["action_type"],
                "args": eng_action["args"],
                "token_refs": eng_action["token_refs"],
            }
            if "sign_with" in eng_action:
                # The agent's own device signs with the key it holds (possibly a stolen one).
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
            team_reward += self._account(res, pen)
            if self.record_log:
                self.log.append({"type": "event", "event": event, "result": _brief(res)})
            self._traj.update(res["hashchain"]["head_hash"].encode())
        before = eng.audit.length
        res = eng.tick(t + self.task.dt_s)
        if self._engine_sig() != sig:
            changed = True
            self._state_changed()
        team_reward += self._account(res, pen)
        if self.record_log and eng.audit.length != before:
            self.log.append({"type": "tick", "t_s": t + self.task.dt_s, "result": _brief(res)})
        self.step_count += 1
        obs = self._observe(acted, changed)
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

    def _account(self, res: dict[str, Any], pen: dict[str, float]) -> float:
        r = 0.0
        em = self.counters["emits"]
        for e in res["emits"]:
            em[e] = em.get(e, 0) + 1
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
        if not self.agents:
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

    def action_mask(self, agent: str) -> np.ndarray:
        """1 for actions that can plausibly be accepted now, else 0 (int8, ``Discrete(n)``).

        ``agent`` is a PettingZoo name or an engine agent id. Computed afresh (a new,
        writable array)."""
        agent = self.engine_id.get(agent, agent)
        return self._compute_mask(self.engine.agents[agent], self._global_mask(fresh=True))

    def _cached_mask(self, a: Any) -> np.ndarray:
        """The mask of agent state ``a`` (read-only), shared by agents with the same role,
        zone and load until engine state changes."""
        key = (a.role, a.zone, tuple(a.carrying))
        m = self._mask_cache.get(key)
        if m is None:
            m = self._compute_mask(a, self._global_mask())
            m.flags.writeable = False
            self._mask_cache[key] = m
        return m

    def _global_mask(self, fresh: bool = False) -> np.ndarray:
        """The part of the masks that is the same for every agent: frozen zones, doors,
        arrived consignments."""
        if self._gmask is not None and not fresh:
            return self._gmask
        eng = self.engine
        codec = self.codec
        idx = codec.index
        g = np.ones(codec.n, dtype=np.int8)
        g[self._clear_idx] = 0
        for z in eng.frozen_zones:
            i = idx.get(("MOVE", z))
            if i is not None:
                g[i] = 0
            i = idx.get(("CLEAR_FREEZE", z))
            if i is not None:
                g[i] = 1
        for did in codec.doors:
            g[idx[("CLOSE_DOOR", did)] if not eng.doors[did].open else idx[("OPEN_DOOR", did)]] = 0
        if codec.routes:
            arrived = {c.route_id for c in eng.consignments.values() if c.status == "ARRIVED"}
            for r in codec.routes:
                if r not in arrived:
                    g[idx[("RECEIVE_TRANSPORT", r)]] = 0
        if not fresh:
            self._gmask = g
        return g

    def _compute_mask(self, a: Any, g: np.ndarray) -> np.ndarray:
        codec = self.codec
        static = codec.static_mask(a.role, a.zone)
        if a.zone is None or a.role is None:
            return static.copy()
        m: np.ndarray = static & g
        eng = self.engine
        idx = codec.index
        agent = a.agent_id
        frozen = eng.frozen_zones
        for did in self.view.zone_devices(a.zone):
            d = eng.devices[did]
            usable = d.state not in ("FAULT", "MAINT") and d.zone not in frozen
            for act in DEVICE_ACTIONS:
                i = idx[(act, did)]
                if not m[i]:
                    continue
                if act == "REPAIR_DEVICE":
                    ok = d.state == "FAULT" and not d.repairing
                elif act == "START_RUN":
                    ok = bool(
                        usable and d.queue and (not d.runs if d.batch else len(d.runs) < d.capacity)
                    )
                elif act == "QUEUE_RUN":
                    ok = usable and self.view.best_specimen_for_device(agent, did) is not None
                else:
                    ok = usable
                if not ok:
                    m[i] = 0
        for act in SLOT_ACTIONS:
            start = codec.slot_start[act]
            if not m[start]:
                continue
            k = len(self.view.slot_list(agent, act))
            if k < codec.n_slots:
                m[start + k : start + codec.n_slots] = 0
        if not a.carrying and self._dispatch_idx.size:
            m[self._dispatch_idx] = 0
        if eng.world.edge_capacity:  # a full narrow passage cannot be entered now
            for nb in eng.world.adjacency.get(a.zone, ()):
                mi = idx.get(("MOVE", nb))
                if mi is not None and m[mi] and eng.edge_free(a.zone, nb) == 0:
                    m[mi] = 0
        return m

    # ----------------------------------------------------------------- misc ------------
    def state(self) -> np.ndarray:
        """Every agent's observation, in ``possible_agents`` order, concatenated."""
        if self._obs is None or not self.agents:
            return np.zeros(self.state_space.shape, dtype=np.float32)
        return self._obs.reshape(-1).copy()

    def trajectory_hash(self) -> str:
        """SHA-256 over every step's audit head hashes and observations so far (the first
        observations whole, then what changed: :meth:`ObservationBuilder.digest`)."""
        return self._traj.copy().hexdigest()

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

    # The lab ids of the BenchmarkEnv protocol (labtrust_gym.domain.BenchmarkEnv).
    def get_device_ids(self) -> list[str]:
        return sorted(self.world.devices)

    def get_zone_ids(self) -> list[str]:
        return sorted(self.world.zones)

    def get_dt_s(self) -> float:
        return float(self.task.dt_s)


def _brief(res: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": res["status"],
        "blocked_reason_code": res["blocked_reason_code"],
        "emits": list(res["emits"]),
        "violations": [v["invariant_id"] for v in res["violations"]],
        "token_consumed": list(res["token_consumed"]),
        "head_hash": res["hashchain"]["head_hash"],
    }
