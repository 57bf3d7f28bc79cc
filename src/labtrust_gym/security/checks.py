"""Metric checks of the security suite, gates and safety case: ``{metric, op, value}``
against one episode's metrics (standard library only, importable from any layer)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from labtrust_gym.errors import ConfigError

__all__ = ["evaluate_check", "CHECK_OPS"]

CHECK_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def evaluate_check(check: Mapping[str, Any], metrics: Mapping[str, Any]) -> dict[str, Any]:
    """``{metric, op, value, observed, passed[, problem]}`` of one check on one metrics
    mapping. A missing metric, or a value of the wrong type, fails the check."""
    name, op, want = check["metric"], check["op"], check["value"]
    out: dict[str, Any] = {"metric": name, "op": op, "value": want}
    if name not in metrics:
        return {**out, "observed": None, "passed": False, "problem": "metric missing"}
    got = metrics[name]
    out["observed"] = got
    if op == "keys_within":
        if not isinstance(got, Mapping):
            return {**out, "passed": False, "problem": "metric is not a mapping"}
        extra = sorted(k for k in got if k not in set(want))
        return {**out, "passed": not extra, **({"unexpected": extra} if extra else {})}
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return {**out, "passed": False, "problem": "metric is not a number"}
    if op not in CHECK_OPS:
        known = ", ".join([*CHECK_OPS, "keys_within"])
        raise ConfigError(f"unknown check op {op!r}; known: {known}")
    return {**out, "passed": bool(CHECK_OPS[op](got, want))}
