"""Security gates of benchmark runs: the checks ``labtrust run-pack`` applies to results.

The gates are ``security/security_gates.v0.1.yaml`` (schema ``security_gates.v0.1``). A
gate with ``tasks`` applies to the results of those tasks, whose every episode must report
the metric (a missing metric fails the gate: an attack metric that is not reported proves
nothing); a gate without ``tasks`` applies to every episode that reports the metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError

__all__ = ["SECURITY_GATES_FILE", "load_gates", "check_gates"]

#: The gates, relative to the policy directory.
SECURITY_GATES_FILE = "security/security_gates.v0.1.yaml"


def load_gates(policy_root: Path | str | None = None) -> dict[str, Any]:
    """The gates document (schema-checked, gate ids unique), with ``source``."""
    from labtrust_gym.config import get_policy_dir, policy_path
    from labtrust_gym.policy.loader import load_yaml
    from labtrust_gym.policy.validate import raise_for_problems, validate_document

    path = policy_path(policy_root, *SECURITY_GATES_FILE.split("/"))
    doc = load_yaml(path)
    raise_for_problems(
        validate_document(get_policy_dir(policy_root), SECURITY_GATES_FILE, doc, str(path))
    )
    ids = [g["gate_id"] for g in doc["gates"]]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ConfigError(f"{path}: gate id(s) listed twice: {', '.join(dup)}")
    return {**doc, "source": str(path)}


def check_gates(results: Sequence[Mapping[str, Any]], gates: Mapping[str, Any]) -> dict[str, Any]:
    """Apply every gate to every episode of ``results`` (results documents, each with an
    optional ``_source``). Returns ``{passed, checked, failures, gates_source}``; each
    failure names the gate, the results file, the episode, the observed value and why."""
    from labtrust_gym.security.checks import evaluate_check

    failures: list[dict[str, Any]] = []
    checked = 0
    for res in results:
        task = res.get("task")
        src = res.get("_source", "<results>")
        for g in gates["gates"]:
            tasks = g.get("tasks")
            if tasks is not None and task not in tasks:
                continue
            for ep in res.get("episodes") or ():
                metrics = ep.get("metrics") or {}
                if tasks is None and g["metric"] not in metrics:
                    continue
                checked += 1
                r = evaluate_check(g, metrics)
                if not r["passed"]:
                    failures.append(
                        {
                            "gate_id": g["gate_id"],
                            "title": g.get("title", ""),
                            "results": src,
                            "task": task,
                            "episode": ep.get("episode"),
                            "metric": g["metric"],
                            "op": g["op"],
                            "value": g["value"],
                            "observed": r.get("observed"),
                            "problem": r.get("problem")
                            or (f"unexpected keys {r['unexpected']}" if "unexpected" in r else ""),
                        }
                    )
    return {
        "passed": not failures,
        "checked": checked,
        "failures": failures,
        "gates_source": gates.get("source"),
    }
