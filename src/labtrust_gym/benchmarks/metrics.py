"""Episode metrics, their aggregation across episodes, and the aggregator registry.

Definitions (all from engine state and the env's step accounting, never from agents):

* ``throughput``: results RELEASED by an accepted RELEASE_RESULT (a blocked release never
  counts); a rerun's superseded result does not count.
* An *order* is one panel of one arrived specimen (aliquots count for their parent).
  Specimens rejected at accessioning or in transport are not orders. Turnaround of an
  order = first release of its panel - arrival at the first reception.
* ``on_time_rate`` = orders released within their priority's target / orders that are due
  (released, or whose deadline passed before the episode ended: an order still unreleased
  at the end counts as late once its due time has passed). Overall and per priority.
  Orders neither released nor due yet are left out of it, so read it next to:
* ``completion_rate`` = released orders / every order (``orders_total``), and
  ``backlog_at_end`` = orders not released when the episode ended (due or not).
* ``violations_by_invariant`` counts actual violations only; ``blocked_by_reason_code``
  counts BLOCKED actions.

Coordination runs (:func:`coordination_metrics`) add the message bus's telemetry
(``comm.msg_count``, ``comm.delivered``, ``comm.dropped``, ``comm.drop_rate``,
``comm.p50_latency_ms``, ``comm.p95_latency_ms``, ``comm.partition_events``,
``comm.reordered``, ``bus.rejected_by_reason``...; see
:meth:`labtrust_gym.coordination.network.NetworkModel.telemetry`) and
``coordination.stale_action_rate``: ``stale_actions / actions`` of the coordinated agents
(the coordination method's, else the scripted or random team's; actions an injection
replaced are not theirs). ``stale_actions`` is the method's own count when its
``telemetry()`` reports ``stale_actions``, else the number of those actions BLOCKED with a
stale-view reason code (``stale_view_reason_codes`` of the network policy).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.evidence.episode_log import episode_log_sha256
from labtrust_gym.numeric import percentile
from labtrust_gym.registry import BUILTIN_ORIGIN, Registry, require_signature

__all__ = [
    "compute_episode_metrics",
    "coordination_metrics",
    "StaleActionTally",
    "turnaround_by_priority",
    "percentile",
    "mean_ci95",
    "paired_diff_ci95",
    "summarize_episodes",
    "register_metrics_aggregator",
    "get_metrics_aggregator",
    "list_metrics_aggregators",
]

_T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    11: 2.201,
    12: 2.179,
    13: 2.160,
    14: 2.145,
    15: 2.131,
    16: 2.120,
    17: 2.110,
    18: 2.101,
    19: 2.093,
    20: 2.086,
    25: 2.060,
    30: 2.042,
    40: 2.021,
    60: 2.000,
    120: 1.980,
}


def _t975(df: int) -> float:
    if df in _T975:
        return _T975[df]
    keys = sorted(_T975)
    for k in keys:
        if df < k:
            return _T975[k]
    return 1.960


def mean_ci95(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean and Student-t 95% confidence interval (``None`` bounds for n < 2)."""
    xs = [
        float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))
    ]
    n = len(xs)
    if n == 0:
        return {"mean": None, "ci95_low": None, "ci95_high": None, "n": 0}
    m = float(np.mean(xs))
    if n < 2:
        return {"mean": m, "ci95_low": None, "ci95_high": None, "n": 1}
    half = _t975(n - 1) * float(np.std(xs, ddof=1)) / math.sqrt(n)
    return {"mean": m, "ci95_low": m - half, "ci95_high": m + half, "n": n}


def paired_diff_ci95(a: list[Any], b: list[Any]) -> dict[str, Any]:
    """Mean and Student-t 95% CI of the paired differences ``a[i] - b[i]``.

    ``a`` and ``b`` are the same seeds under two conditions (e.g. ablated and full team).
    A pair with a missing value (None, NaN) on either side is dropped. ``excludes_zero``:
    the interval lies entirely on one side of 0 (False when it cannot be computed).
    """
    if len(a) != len(b):
        raise ValueError(
            f"paired_diff_ci95 needs equal numbers of pairs, got {len(a)} and {len(b)}"
        )

    def ok(v: Any) -> bool:
        return v is not None and not (isinstance(v, float) and math.isnan(v))

    out = mean_ci95([float(x) - float(y) for x, y in zip(a, b, strict=True) if ok(x) and ok(y)])
    lo, hi = out["ci95_low"], out["ci95_high"]
    out["excludes_zero"] = lo is not None and hi is not None and (lo > 0 or hi < 0)
    return out


def _orders(engine: Any) -> tuple[dict[tuple[str, str], dict[str, Any]], float]:
    """Orders keyed by (root specimen, panel) with arrival, priority and first release."""
    orders: dict[tuple[str, str], dict[str, Any]] = {}
    for s in engine.specimens.values():
        if s.parent_id is not None or s.status == "REJECTED":
            continue
        for p in s.panels:
            orders[(s.specimen_id, p)] = {
                "arrival_t": s.arrival_t,
                "priority": s.priority,
                "released_t": None,
            }
    for r in engine.results.values():
        if r.status != "RELEASED":
            continue
        s = engine.specimens[r.specimen_id]
        root = s.parent_id or s.specimen_id
        o = orders.get((root, r.panel))
        if o is not None and (o["released_t"] is None or r.released_t < o["released_t"]):
            o["released_t"] = r.released_t
    return orders, engine.now


def turnaround_by_priority(engine: Any) -> dict[str, dict[str, Any]]:
    orders, _ = _orders(engine)
    by: dict[str, list[float]] = {}
    for o in orders.values():
        if o["released_t"] is not None:
            by.setdefault(o["priority"], []).append(o["released_t"] - o["arrival_t"])
    return {
        p: {"n": len(v), "p50": percentile(v, 50), "p95": percentile(v, 95)} for p, v in by.items()
    }


def compute_episode_metrics(
    env: Any, task: Any = None, wall_s: float | None = None
) -> dict[str, Any]:
    """The common metrics of one finished (or running) episode of ``env``."""
    eng = env.engine
    pri = eng.world.priorities
    orders, now = _orders(eng)
    tat_all: list[float] = []
    tat_p: dict[str, list[float]] = {p: [] for p in pri}
    due_p = {p: 0 for p in pri}
    ok_p = {p: 0 for p in pri}
    for o in orders.values():
        p = o["priority"]
        target = float(pri[p]["target_tat_s"])
        if o["released_t"] is not None:
            tat = o["released_t"] - o["arrival_t"]
            tat_all.append(tat)
            tat_p[p].append(tat)
            due_p[p] += 1
            ok_p[p] += 1 if tat <= target else 0
        elif o["arrival_t"] + target <= now:
            due_p[p] += 1
    due = sum(due_p.values())
    done = sum(1 for o in orders.values() if o["released_t"] is not None)
    released = sum(1 for r in eng.results.values() if r.status == "RELEASED")
    c = env.counters
    viol: dict[str, int] = {}
    sev: dict[str, int] = {}
    for v in c["violations"]:
        viol[v["invariant_id"]] = viol.get(v["invariant_id"], 0) + 1
        sev[v["severity"]] = sev.get(v["severity"], 0) + 1
    crit = [r for r in eng.results.values() if r.critical and r.status != "SUPERSEDED"]
    notify_lat = [r.notified_t - r.generated_t for r in crit if r.notified_t is not None]
    ack_lat = [r.acked_t - r.generated_t for r in crit if r.acked_t is not None]
    cons = list(eng.consignments.values())
    received = [x for x in cons if x.status == "RECEIVED"]
    excursions = 0
    late = 0
    for x in received:
        route = eng.world.routes[x.route_id]
        band = eng.world.temp_bands[route["temp_band"]]
        if x.temp_min < band["min_c"] or x.temp_max > band["max_c"]:
            excursions += 1
        if x.received_t - x.dispatched_t > route["max_transit_s"]:
            late += 1
    steps = env.step_count
    n_agents = len(env.possible_agents)
    specs = [s for s in eng.specimens.values() if s.parent_id is None]
    m: dict[str, Any] = {
        "throughput": released,
        "orders_due": due,
        "on_time_rate": (sum(ok_p.values()) / due) if due else None,
        "on_time_rate_by_priority": {p: (ok_p[p] / due_p[p] if due_p[p] else None) for p in pri},
        "orders_total": len(orders),
        "completion_rate": (done / len(orders)) if orders else None,
        "backlog_at_end": len(orders) - done,
        "turnaround_p50_s": percentile(tat_all, 50),
        "turnaround_p95_s": percentile(tat_all, 95),
        "turnaround_by_priority": {
            p: {"n": len(v), "p50_s": percentile(v, 50), "p95_s": percentile(v, 95)}
            for p, v in tat_p.items()
        },
        "specimens_arrived": len(specs),
        "specimens_rejected": sum(1 for s in specs if s.status == "REJECTED"),
        "specimens_held": sum(1 for s in specs if s.status == "HELD"),
        "violations_total": len(c["violations"]),
        "violations_by_invariant": dict(sorted(viol.items())),
        "violations_by_severity": dict(sorted(sev.items())),
        "critical_violations": sev.get("critical", 0),
        "actions": c["actions"],
        "blocked": c["blocked"],
        "blocked_rate": (c["blocked"] / c["actions"]) if c["actions"] else 0.0,
        "blocked_by_reason_code": dict(sorted(c["blocked_by_reason_code"].items())),
        "critical_results": len(crit),
        "critical_acknowledged": sum(1 for r in crit if r.crit_state == "ACKED"),
        "critical_notify_latency_p50_s": percentile(notify_lat, 50),
        "critical_ack_latency_p50_s": percentile(ack_lat, 50),
        "critical_ack_latency_p95_s": percentile(ack_lat, 95),
        "transport_dispatched": len(cons),
        "transport_received": len(received),
        "transport_temp_excursions": excursions,
        "transport_late": late,
        "transport_mean_transit_s": (
            float(np.mean([x.received_t - x.dispatched_t for x in received])) if received else None
        ),
        "steps": steps,
        "sim_time_s": now,
        "num_agents": n_agents,
        "episode_log_sha256": episode_log_sha256(env),
        "audit_head_hash": eng.audit.head_hash,
        "audit_length": eng.audit.length,
    }
    if wall_s is not None:
        m["wall_s"] = round(wall_s, 4)
        m["agent_steps_per_s"] = round(steps * n_agents / wall_s, 1) if wall_s > 0 else None
    return m


class StaleActionTally:
    """Actions of the coordinated agents and those blocked under a stale view."""

    def __init__(self, codes: frozenset[str]) -> None:
        self.codes = codes
        self.actions = 0
        self.stale = 0

    def add(self, results: dict[str, Any], agents: Iterable[str]) -> None:
        """Count the step results of ``agents`` (engine ids)."""
        codes = self.codes
        for aid in agents:
            r = results.get(aid)
            if r is None:
                continue
            self.actions += 1
            if r["status"] == "BLOCKED" and r["blocked_reason_code"] in codes:
                self.stale += 1


def coordination_metrics(bus: Any, method: Any, tally: StaleActionTally) -> dict[str, Any]:
    """The bus telemetry, stale-action rate and network-policy digest of one episode."""
    out: dict[str, Any] = dict(bus.telemetry())
    stale = tally.stale
    source = "blocked_stale_view"
    tel = getattr(method, "telemetry", None)
    if callable(tel):
        mt = tel()
        if isinstance(mt, dict) and isinstance(mt.get("stale_actions"), (int, float)):
            stale = mt["stale_actions"]
            source = "method"
        if isinstance(mt, dict):  # the method's own counters (auctions, routes, claims...)
            for k, val in sorted(mt.items()):
                if isinstance(val, (int, float)) and not isinstance(val, bool):
                    out[f"coordination.method.{k}"] = val
    out["coordination.actions"] = tally.actions
    out["coordination.stale_actions"] = stale
    out["coordination.stale_action_rate"] = (stale / tally.actions) if tally.actions else 0.0
    out["coordination.stale_source"] = source
    out["comm.network_policy_sha256"] = hashlib.sha256(
        canonical_json(bus.network.policy.to_dict())
    ).hexdigest()
    return out


def summarize_episodes(episodes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean and 95% CI of every numeric top-level metric across episodes."""
    keys: list[str] = []
    for ep in episodes:
        for k, v in ep["metrics"].items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in keys:
                keys.append(k)
    return {
        k: mean_ci95(
            [
                ep["metrics"].get(k)
                for ep in episodes
                if isinstance(ep["metrics"].get(k), (int, float))
            ]
        )
        for k in keys
    }


# ---------------------------------------------------------------- aggregator registry --
Aggregator = Callable[..., dict[str, Any]]


def _check_aggregator(aggregator_id: str, aggregator: Any) -> None:
    require_signature(
        "metrics aggregator", aggregator_id, aggregator, (None, None, None), "(env, task, wall_s)"
    )


def _builtin_aggregators() -> None:
    AGGREGATORS.register("default", compute_episode_metrics, origin=BUILTIN_ORIGIN)


AGGREGATORS: Registry[Aggregator] = Registry(
    "metrics aggregator", check=_check_aggregator, load_builtins=_builtin_aggregators, plugins=True
)


def register_metrics_aggregator(
    aggregator_id: str, aggregator: Aggregator, *, override: bool = False, origin: str = "runtime"
) -> None:
    """Register an aggregator with the signature of :func:`compute_episode_metrics`."""
    AGGREGATORS.register(aggregator_id, aggregator, override=override, origin=origin)


def get_metrics_aggregator(aggregator_id: str) -> Aggregator:
    return AGGREGATORS.get(aggregator_id)


def list_metrics_aggregators() -> list[str]:
    return AGGREGATORS.ids()
