"""Headline metrics recounted from an episode log alone (standard library only).

This is a second, independent implementation of the definitions in
``labtrust_gym.benchmarks.metrics`` (it shares no code with it), computed from what the
log records:

* specimens: the header's initial state (``specimens``, and the ``arrival_schedule``
  entries due by the episode's end ``t_end_s``; ``arrival_t`` is the scheduled time, not
  before 0); the count of scheduled arrivals must equal the ``SPECIMEN_ARRIVED`` emits;
* rejections: accepted ``ACCESSION`` and ``RESOLVE_HOLD`` events that emit
  ``SPECIMEN_REJECTED`` (the ``specimen_id`` argument), accepted ``RECEIVE_TRANSPORT``
  events that emit it (every specimen of the consignment, from its accepted
  ``DISPATCH_TRANSPORT``);
* releases: accepted events that emit ``RESULT_RELEASED`` or
  ``RESULT_RELEASED_WITH_DISCLAIMER``; the released result ``R-<specimen>-<panel>-<n>``
  names the order (an aliquot ``<root>-A<k>`` counts for its root); the release time is
  the engine time after the event (``now_s``);
* an order is (root specimen, panel) of an arrived, not rejected specimen; it is due when
  released or when its priority's target (``sla_targets_s``) has passed by ``t_end_s``;
  turnaround = first release - arrival; percentiles interpolate linearly; completion =
  released orders / all orders, the backlog the unreleased ones.
"""

from __future__ import annotations

import math
import re
from typing import Any

from labtrust_gym.evidence.logcheck import ParsedLog

__all__ = ["recount_metrics", "compare_metrics", "RECOUNTED_METRICS"]

#: The metrics recounted, in the order they are compared.
RECOUNTED_METRICS = (
    "throughput",
    "orders_due",
    "on_time_rate",
    "orders_total",
    "completion_rate",
    "backlog_at_end",
    "turnaround_p50_s",
    "turnaround_p95_s",
    "violations_total",
    "violations_by_invariant",
    "actions",
    "blocked",
    "blocked_by_reason_code",
    "specimens_arrived",
    "steps",
    "audit_length",
    "audit_head_hash",
)

_RELEASE = ("RESULT_RELEASED", "RESULT_RELEASED_WITH_DISCLAIMER")
_ALIQUOT = re.compile(r"-A[0-9]+\Z")


def _percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _num(v: Any, default: float) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default


def _specimens(
    init: dict[str, Any], t_end: float
) -> tuple[dict[str, dict[str, Any]], int, list[str]]:
    """Root specimens that arrived by ``t_end``: ``{id: {panels, priority, arrival_t,
    rejected}}``, the number of scheduled arrivals, and problems."""
    specs: dict[str, dict[str, Any]] = {}
    problems: list[str] = []

    def add(spec: Any, arrival: float) -> None:
        if not isinstance(spec, dict) or not isinstance(spec.get("specimen_id"), str):
            problems.append(f"initial state: malformed specimen {spec!r:.60}")
            return
        panels = spec.get("panels")
        if not isinstance(panels, list) or not all(isinstance(p, str) for p in panels):
            problems.append(f"initial state: specimen {spec['specimen_id']} has no panel list")
            return
        specs[spec["specimen_id"]] = {
            "panels": list(panels),
            "priority": spec.get("priority", "ROUTINE"),
            "arrival_t": arrival,
            "rejected": spec.get("status") == "REJECTED",
        }

    for spec in init.get("specimens") or []:
        add(spec, _num(spec.get("arrival_t") if isinstance(spec, dict) else None, 0.0))
    scheduled = 0
    for item in init.get("arrival_schedule") or []:
        t = _num(item.get("t_s") if isinstance(item, dict) else None, math.inf)
        if t <= t_end:
            scheduled += 1
            add(item.get("specimen"), max(t, 0.0))
    return specs, scheduled, problems


def _order_of(
    rid: Any, specs: dict[str, dict[str, Any]], panels: list[str]
) -> tuple[str, str] | None:
    if not isinstance(rid, str) or not rid.startswith("R-"):
        return None
    body, sep, n = rid[2:].rpartition("-")
    if not sep or not n.isdigit():
        return None
    for p in panels:
        if body.endswith("-" + p):
            x = body[: -len(p) - 1]
            root = x if x in specs else _ALIQUOT.sub("", x)
            if root in specs and p in specs[root]["panels"]:
                return root, p
    return None


def recount_metrics(log: ParsedLog) -> tuple[dict[str, Any], list[str]]:
    """The :data:`RECOUNTED_METRICS` of a parsed log, and the facts that could not be
    attributed (each one makes the recount untrustworthy)."""
    if not log.usable:
        return {}, ["no usable header and footer"]
    h, f = log.header, log.footer
    assert h is not None and f is not None
    init = h["initial_state"]
    if init is None:
        return {}, ["the header has no initial state"]
    t_end = float(f["t_end_s"])
    specs, scheduled, problems = _specimens(init, t_end)
    panels = sorted({p for s in specs.values() for p in s["panels"]}, key=len, reverse=True)
    consignments: dict[str, list[Any]] = {}
    releases: dict[tuple[str, str], float] = {}
    throughput = actions = blocked = violations = arrived_emits = 0
    by_code: dict[str, int] = {}
    by_inv: dict[str, int] = {}
    for lineno, rec in log.records:
        res = rec["result"]
        emits = res["emits"]
        violations += len(res["violations"])
        for v in res["violations"]:
            by_inv[v] = by_inv.get(v, 0) + 1
        arrived_emits += emits.count("SPECIMEN_ARRIVED")
        if rec["type"] != "event":
            if "SPECIMEN_REJECTED" in emits or any(e in emits for e in _RELEASE):
                problems.append(f"line {lineno}: a clock tick rejects or releases")
            continue
        actions += 1
        if res["status"] == "BLOCKED":
            blocked += 1
            code = res["blocked_reason_code"]
            by_code[code] = by_code.get(code, 0) + 1
            continue
        ev = rec["event"]
        if not isinstance(ev, dict):
            continue
        action = ev.get("action_type")
        raw_args = ev.get("args")
        args: dict[str, Any] = raw_args if isinstance(raw_args, dict) else {}
        if action == "DISPATCH_TRANSPORT" and isinstance(args.get("consignment_id"), str):
            sids = args.get("specimen_ids")
            consignments[args["consignment_id"]] = sids if isinstance(sids, list) else []
        if "SPECIMEN_REJECTED" in emits:
            if action in ("ACCESSION", "RESOLVE_HOLD"):
                rejected = [args.get("specimen_id")]
            elif action == "RECEIVE_TRANSPORT":
                rejected = list(consignments.get(str(args.get("consignment_id")), []))
            else:
                rejected = []
                problems.append(f"line {lineno}: {action} rejects a specimen the log cannot name")
            for sid in rejected:
                if isinstance(sid, str) and sid in specs:
                    specs[sid]["rejected"] = True
        if any(e in emits for e in _RELEASE):
            throughput += 1
            order = _order_of(args.get("result_id"), specs, panels)
            if order is None:
                problems.append(
                    f"line {lineno}: released result {args.get('result_id')!r} names no order"
                )
                continue
            t = float(res["now_s"])
            if order not in releases or t < releases[order]:
                releases[order] = t
    if arrived_emits != scheduled:
        problems.append(
            f"{arrived_emits} SPECIMEN_ARRIVED emits, but {scheduled} arrivals were due by "
            f"t_end_s {t_end}"
        )
    targets: dict[str, Any] = h["sla_targets_s"]
    tats: list[float] = []
    due = ok = total = done = 0
    for sid, s in specs.items():
        if s["rejected"]:
            continue
        target = targets.get(s["priority"])
        if target is None:
            problems.append(f"specimen {sid}: priority {s['priority']!r} has no SLA target")
            continue
        for p in dict.fromkeys(s["panels"]):  # an order per (specimen, panel)
            rel = releases.get((sid, p))
            total += 1
            if rel is not None:
                done += 1
                tat = rel - s["arrival_t"]
                tats.append(tat)
                due += 1
                ok += 1 if tat <= target else 0
            elif s["arrival_t"] + target <= t_end:
                due += 1
    metrics: dict[str, Any] = {
        "throughput": throughput,
        "orders_due": due,
        "on_time_rate": ok / due if due else None,
        "orders_total": total,
        "completion_rate": done / total if total else None,
        "backlog_at_end": total - done,
        "turnaround_p50_s": _percentile(tats, 50),
        "turnaround_p95_s": _percentile(tats, 95),
        "violations_total": violations,
        "violations_by_invariant": dict(sorted(by_inv.items())),
        "actions": actions,
        "blocked": blocked,
        "blocked_by_reason_code": dict(sorted(by_code.items())),
        "specimens_arrived": len(specs),
        "steps": f["steps"],
        "audit_length": f["audit_length"],
        "audit_head_hash": f["audit_head_hash"],
    }
    return metrics, problems


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def compare_metrics(recounted: dict[str, Any], reported: Any) -> list[str]:
    """Differences between recounted metrics and a results episode's ``metrics``: one
    text per metric the results report and the recount disagrees with."""
    if not isinstance(reported, dict):
        return ["the results episode has no metrics object"]
    out = []
    for k in RECOUNTED_METRICS:
        if k in reported and k in recounted and not _same(recounted[k], reported[k]):
            out.append(f"{k}: results say {reported[k]!r}, the log gives {recounted[k]!r}")
    return out
