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
Infos: ``action_mask`` (int8, 1 = plausible), ``step_result`` of the agent's action, and
with ``rich_infos`` a structured ``view`` (see :meth:`LabView.agent_view`).
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
        action_masks: bool = True,
        record_log: bool = False,
    ) -> None:
        if render_mode is not None and render_mode not in _RENDER_MODES:
            raise ValueError(f"render_mode {render_mode!r}; use one of {_RENDER_MODES}")
        self.task = task
        self.render_mode = render_mode
        self.engine = LabEngine(task.policy)
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
        self.obs_builder = ObservationBuilder(self.world, roles, task.max_steps, task.dt_s)
        self._obs_space = spaces.Box(0.0, 1.0, (self.obs_builder.dim,), np.float32)
        self._act_space = spaces.Discrete(self.codec.n)
        self.observation_spaces = {a: self._obs_space for a in self.possible_agents}
        self.action_spaces = {a: self._act_space for a in self.possible_agents}
        self.state_space = spaces.Box(
            0.0, 1.0, (len(self.possible_agents) * self.obs_builder.dim,), np.float32
        )
        self.rich_infos = len(self.possible_agents) <= 64 if rich_infos is None else rich_infos
        self.action_masks = action_masks
        self.record_log = record_log
        self.view = LabView(self.engine)
        self.step_count = 0
        self.seed: int | None = None
        self._seed_rng: np.random.Generator | None = None
        self._consignment_seq = 0
        self._keys: dict[str, Any] = {}
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
        self._keys = self.task.agent_keys(self.seed)
        self.agents = list(self.possible_agents)
        self.step_count = 0
        self._consignment_seq = 0
        self.view.reset()
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
        obs = self._observe()
        infos = self._infos()
        return obs, infos

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
        for pz in self.agents:
            aid = self.engine_id[pz]
            act = actions.get(pz, actions.get(aid))
            if act is None:
                continue
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
            self.view.invalidate()
            self.last_results[aid] = res
            self.last_events[aid] = event
            c["actions"] += 1
            if res["status"] == "BLOCKED":
                code = res["blocked_reason_code"]
                c["blocked"] += 1
                c["blocked_by_reason_code"][code] = c["blocked_by_reason_code"].get(code, 0) + 1
                c["blocked_by_agent"][aid] = c["blocked_by_agent"].get(aid, 0) + 1
                own[aid] = own.get(aid, 0.0) + float(rc.get("blocked", 0.0))
            else:
                team_reward += self._release_reward(res, eng)
            team_reward += self._account(res, pen)
            if self.record_log:
                self.log.append({"type": "event", "event": event, "result": _brief(res)})
            self._traj.update(res["hashchain"]["head_hash"].encode())
        before = eng.audit.length
        res = eng.tick(t + self.task.dt_s)
        self.view.invalidate()
        team_reward += self._account(res, pen)
        if self.record_log and eng.audit.length != before:
            self.log.append({"type": "tick", "t_s": t + self.task.dt_s, "result": _brief(res)})
        self.step_count += 1
        obs = self._observe()
        self._traj.update(self._obs.tobytes() if self._obs is not None else b"")
        rewards = {a: team_reward + own.get(a, 0.0) for a in self.agents}
        done = self.step_count >= self.task.max_steps
        terminations = {a: False for a in self.agents}
        truncations = {a: done for a in self.agents}
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
    def _observe(self) -> dict[str, np.ndarray]:
        if not self.agents:
            return {}
        self.view.ensure()
        self._obs = self.obs_builder.build(
            self.engine, self.view, [self.engine_id[a] for a in self.agents]
        )
        return {a: self._obs[i] for i, a in enumerate(self.agents)}

    def _infos(self) -> dict[str, dict[str, Any]]:
        infos: dict[str, dict[str, Any]] = {}
        for a in self.agents:
            eid = self.engine_id[a]
            info: dict[str, Any] = {"engine_id": eid}
            if self.action_masks:
                info["action_mask"] = self.action_mask(eid)
            r = self.last_results.get(eid)
            if r is not None:
                info["step_result"] = {
                    "status": r["status"],
                    "blocked_reason_code": r["blocked_reason_code"],
                }
            if self.rich_infos:
                info["view"] = self.view.agent_view(eid)
            infos[a] = info
        return infos

    def action_mask(self, agent: str) -> np.ndarray:
        """1 for actions that can plausibly be accepted now, else 0 (int8, ``Discrete(n)``).

        ``agent`` is a PettingZoo name or an engine agent id."""
        agent = self.engine_id.get(agent, agent)
        eng = self.engine
        a = eng.agents[agent]
        m = self.codec.static_mask(a.role, a.zone).copy()
        if a.zone is None or a.role is None:
            return m
        codec = self.codec
        idx = codec.index
        for z in eng.frozen_zones:
            i = idx.get(("MOVE", z))
            if i is not None:
                m[i] = 0
        for z in codec.zones:
            if z not in eng.frozen_zones:
                m[idx[("CLEAR_FREEZE", z)]] = 0
        for did in codec.doors:
            is_open = eng.doors[did].open
            m[idx[("OPEN_DOOR", did)]] &= 0 if is_open else 1
            m[idx[("CLOSE_DOOR", did)]] &= 1 if is_open else 0
        for did in eng.world.devices:
            if eng.world.devices[did]["zone"] != a.zone:
                continue
            d = eng.devices[did]
            usable = d.state not in ("FAULT", "MAINT") and did and d.zone not in eng.frozen_zones
            for act in DEVICE_ACTIONS:
                i = idx[(act, did)]
                if act == "REPAIR_DEVICE":
                    ok = d.state == "FAULT" and not d.repairing
                elif act == "START_RUN":
                    ok = bool(
                        usable and d.queue and (not d.runs if d.batch else len(d.runs) < d.capacity)
                    )
                elif act == "QUEUE_RUN":
                    ok = bool(usable) and self.view.best_specimen_for_device(agent, did) is not None
                else:
                    ok = bool(usable)
                m[i] &= 1 if ok else 0
        for act in SLOT_ACTIONS:
            start = codec.slot_start[act]
            if not m[start]:
                continue
            k = len(self.view.slot_list(agent, act))
            if k < codec.n_slots:
                m[start + k : start + codec.n_slots] = 0
        for r in codec.routes:
            i = idx[("RECEIVE_TRANSPORT", r)]
            if m[i] and not any(
                c.route_id == r and c.status == "ARRIVED" for c in eng.consignments.values()
            ):
                m[i] = 0
            i = idx[("DISPATCH_TRANSPORT", r)]
            if m[i] and not a.carrying:
                m[i] = 0
        return m

    # ----------------------------------------------------------------- misc ------------
    def state(self) -> np.ndarray:
        if self._obs is None or not self.agents:
            return np.zeros(self.state_space.shape, dtype=np.float32)
        full = np.zeros((len(self.possible_agents), self.obs_builder.dim), dtype=np.float32)
        pos = {a: i for i, a in enumerate(self.possible_agents)}
        for i, a in enumerate(self.agents):
            full[pos[a]] = self._obs[i]
        return full.reshape(-1)

    def trajectory_hash(self) -> str:
        """SHA-256 over every step's audit head hash and observations so far."""
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
        for z in sorted(eng.world.zones):
            ags = [a.agent_id for a in eng.agents.values() if a.zone == z]
            specs = self.view.zone_specimens(z)
            devs = [
                f"{d.device_id}:{d.state}/q{len(d.queue)}"
                for d in eng.devices.values()
                if d.zone == z
            ]
            if ags or specs or devs:
                lines.append(
                    f"  {z:<20} agents={len(ags)} specimens={len(specs)} " + " ".join(devs)
                )
        moving = [a.agent_id for a in eng.agents.values() if a.zone is None]
        if moving:
            lines.append(f"  in transit: {', '.join(moving)}")
        text = "\n".join(lines)
        if self.render_mode == "ansi":
            return text
        return text

    def close(self) -> None:
        pass


def _brief(res: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": res["status"],
        "blocked_reason_code": res["blocked_reason_code"],
        "emits": list(res["emits"]),
        "violations": [v["invariant_id"] for v in res["violations"]],
        "token_consumed": list(res["token_consumed"]),
        "head_hash": res["hashchain"]["head_hash"],
    }
