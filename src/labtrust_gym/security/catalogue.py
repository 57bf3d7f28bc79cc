"""The attack catalogue of the default security suite: loading and checking.

The catalogue is ``security/security_suite.v0.1.yaml`` (schema ``security_suite.v0.1``;
a lab profile's ``security_suite_path`` replaces it; a partner's
``partners/<id>/security/security_suite.v0.1.yaml`` is merged over it). Beyond the schema,
:func:`check_catalogue` checks what a schema cannot: unique attack ids, categories and
controls that are declared, fixtures that exist, engine steps against the golden-scenario
definitions (initial states, events, state assertions, signing keys, replayed steps),
bus step references, and registered tasks. Every problem names the file, the attack and
the path, and all of them are reported at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from labtrust_gym.errors import PolicyError

__all__ = [
    "SECURITY_SUITE_FILE",
    "SCENARIO_KINDS",
    "load_catalogue",
    "check_catalogue",
    "golden_validators",
]

#: The default suite, relative to the policy directory.
SECURITY_SUITE_FILE = "security/security_suite.v0.1.yaml"
#: What an attack's ``scenario.kind`` may be.
SCENARIO_KINDS = ("engine", "bus", "episode", "callable")

Problem = tuple[str, str, str]


def catalogue_path(policy_root: Path | str | None = None) -> Path:
    """The suite file: the active lab profile's ``security_suite_path``, else the default."""
    from labtrust_gym.config import policy_path
    from labtrust_gym.profiles import profile_path_override

    return profile_path_override("security_suite_path") or policy_path(
        policy_root, *SECURITY_SUITE_FILE.split("/")
    )


def load_catalogue(
    policy_root: Path | str | None = None,
    partner_id: str | None = None,
    *,
    path: Path | None = None,
) -> dict[str, Any]:
    """Load, merge (partner overlay), schema-check and :func:`check_catalogue` the suite.

    Returns the document with ``source`` (the file, and the overlay if any). Raises
    :class:`~labtrust_gym.errors.PolicyValidationError` listing every problem.
    """
    from labtrust_gym.artifacts import resolve_artifact
    from labtrust_gym.config import get_policy_dir
    from labtrust_gym.policy.loader import load_yaml, merge_overlay
    from labtrust_gym.policy.validate import raise_for_problems, validate_document

    path = path or catalogue_path(policy_root)
    doc = load_yaml(path)
    source = str(path)
    if partner_id:
        pdir = resolve_artifact("partners", partner_id, policy_root)
        assert pdir is not None
        over = pdir / SECURITY_SUITE_FILE
        if over.is_file():
            doc = merge_overlay(doc, load_yaml(over))
            source += f" + {over}"
    raise_for_problems(
        validate_document(get_policy_dir(policy_root), SECURITY_SUITE_FILE, doc, source)
    )
    raise_for_problems(check_catalogue(doc, source, policy_root))
    out = dict(doc)
    out["source"] = source
    return out


# ------------------------------------------------------------------------ checking ---
def golden_validators(policy_root: Path | str | None = None) -> dict[str, Draft202012Validator]:
    """Validators of the golden schema's ``initial_state``, ``event`` and ``assertion``
    definitions (engine attacks are written in the golden scenarios' terms)."""
    from labtrust_gym.config import get_policy_dir
    from labtrust_gym.testing.golden import GOLDEN_SCHEMA

    path = get_policy_dir(policy_root) / GOLDEN_SCHEMA
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PolicyError(f"{path}: cannot read the golden scenario schema ({exc})") from None
    defs = schema.get("$defs") or {}
    return {
        name: Draft202012Validator({"$defs": defs, "$ref": f"#/$defs/{name}"})
        for name in ("initial_state", "event", "assertion")
    }


def _schema_problems(
    validator: Draft202012Validator, value: Any, source: str, where: str
) -> list[Problem]:
    from labtrust_gym.policy.validate import format_path

    out = []
    for err in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.path))):
        sub = format_path(list(err.absolute_path))
        path = f"{where}.{sub}" if sub and not sub.startswith("[") else f"{where}{sub}"
        out.append((source, path, err.message))
    return out


def check_catalogue(
    doc: Mapping[str, Any], source: str, policy_root: Path | str | None = None
) -> list[Problem]:
    """Problems the schema cannot see (see the module docstring); empty when all is well."""
    probs: list[Problem] = []
    categories = doc.get("categories") or {}
    controls = doc.get("controls") or {}
    fixtures = doc.get("fixtures") or {}
    engine = bool(fixtures) or any(
        a["scenario"]["kind"] == "engine" for a in doc.get("attacks") or ()
    )
    validators = golden_validators(policy_root) if engine else {}
    for name, fx in sorted(fixtures.items()):
        where = f"fixtures.{name}"
        probs += _schema_problems(
            validators["initial_state"], fx["initial_state"], source, f"{where}.initial_state"
        )
        probs += _steps_problems(fx.get("setup") or (), validators, source, f"{where}.setup")
    seen: dict[str, int] = {}
    for i, atk in enumerate(doc.get("attacks") or ()):
        aid = atk["attack_id"]
        where = f"attacks[{i}] ({aid})"
        if aid in seen:
            probs.append((source, f"{where}.attack_id", f"{aid} is also attacks[{seen[aid]}]"))
        seen.setdefault(aid, i)
        if atk["category"] not in categories:
            probs.append(
                (
                    source,
                    f"{where}.category",
                    f"{atk['category']!r} is not declared under categories "
                    f"({', '.join(sorted(categories))}); declare it or fix the name",
                )
            )
        if atk["control"] not in controls:
            probs.append(
                (
                    source,
                    f"{where}.control",
                    f"{atk['control']!r} is not declared under controls; declare it or fix "
                    "the name",
                )
            )
        sc = atk["scenario"]
        kind = sc["kind"]
        if kind == "engine":
            probs += _engine_problems(atk, fixtures, validators, source, f"{where}.scenario")
        elif kind == "bus":
            probs += _bus_problems(sc, source, f"{where}.scenario", policy_root)
        elif kind == "episode":
            probs += _episode_problems(sc, source, f"{where}.scenario")
    return probs


def _steps_problems(
    steps: Iterable[Mapping[str, Any]],
    validators: Mapping[str, Draft202012Validator],
    source: str,
    where: str,
) -> list[Problem]:
    out: list[Problem] = []
    for j, st in enumerate(steps):
        w = f"{where}[{j}]"
        if "event" in st and not st.get("raw"):
            out += _schema_problems(validators["event"], st["event"], source, f"{w}.event")
        for k, a in enumerate((st.get("expect") or {}).get("state") or ()):
            out += _schema_problems(validators["assertion"], a, source, f"{w}.expect.state[{k}]")
    return out


def _engine_problems(
    atk: Mapping[str, Any],
    fixtures: Mapping[str, Any],
    validators: Mapping[str, Draft202012Validator],
    source: str,
    where: str,
) -> list[Problem]:
    from labtrust_gym.security.engine_scenarios import compose_engine_attack

    sc = atk["scenario"]
    out: list[Problem] = []
    if "fixture" in sc and sc["fixture"] not in fixtures:
        return [
            (
                source,
                f"{where}.fixture",
                f"no fixture {sc['fixture']!r}; known: {', '.join(sorted(fixtures)) or '(none)'}",
            )
        ]
    if "initial_state" in sc:
        out += _schema_problems(
            validators["initial_state"], sc["initial_state"], source, f"{where}.initial_state"
        )
    out += _steps_problems(sc.get("setup") or (), validators, source, f"{where}.setup")
    out += _steps_problems(sc["attack"], validators, source, f"{where}.attack")
    for k, a in enumerate(sc.get("expect_state") or ()):
        out += _schema_problems(validators["assertion"], a, source, f"{where}.expect_state[{k}]")
    if out:
        return out
    try:
        composed = compose_engine_attack(atk, fixtures)
    except ValueError as exc:
        return [(source, where, str(exc))]
    from labtrust_gym.testing.golden import _semantic_problems

    # The golden loader's own checks (signing keys, unique event ids, replayed steps).
    for msg in _semantic_problems(composed.scenario):
        out.append((source, where, f"{msg} (steps counted from the fixture's setup)"))
    return out


def _bus_problems(
    sc: Mapping[str, Any], source: str, where: str, policy_root: Path | str | None
) -> list[Problem]:
    from labtrust_gym.coordination.bus import load_bus_policy

    out: list[Problem] = []
    roles = sc["roles"]
    known_roles = set(load_bus_policy(policy_root).allowed_types)
    for agent, role in sorted(roles.items()):
        if role not in known_roles:
            out.append(
                (
                    source,
                    f"{where}.roles.{agent}",
                    f"role {role!r} is not in the bus policy's allowed_types "
                    f"({', '.join(sorted(known_roles))})",
                )
            )
    labels: dict[str, str] = {}
    for j, st in enumerate(sc["steps"]):
        w = f"{where}.steps[{j}]"
        for op in ("tamper", "replay", "replay_on_twin"):
            if op in st:
                ref = st[op]["step"]
                if labels.get(ref) not in ("publish", "forge"):
                    out.append(
                        (
                            source,
                            f"{w}.{op}.step",
                            f"{ref!r} is not the id of an earlier publish or forge step",
                        )
                    )
        for op in ("publish", "forge"):
            if op in st:
                msg = st[op]
                if op == "publish" and msg["sender"] not in roles:
                    out.append(
                        (
                            source,
                            f"{w}.publish.sender",
                            f"{msg['sender']!r} is not in roles: only the scenario's agents "
                            "hold keys (use forge for an outsider)",
                        )
                    )
                if op == "forge" and "seed_hex" not in msg:
                    out.append((source, f"{w}.forge", "a forged envelope needs seed_hex"))
                if op == "publish" and "seed_hex" in msg:
                    out.append(
                        (source, f"{w}.publish.seed_hex", "only a forge step takes seed_hex")
                    )
                if "id" in st:
                    labels[st["id"]] = op
        if "id" in st and not any(op in st for op in ("publish", "forge")):
            out.append((source, f"{w}.id", "only publish and forge steps can carry an id"))
    for agent, refs in sorted((sc.get("received") or {}).items()):
        if agent not in roles:
            out.append(
                (source, f"{where}.received.{agent}", f"{agent!r} is not one of the roles' agents")
            )
        for ref in refs:
            if ref not in labels:
                out.append(
                    (
                        source,
                        f"{where}.received.{agent}",
                        f"{ref!r} is not the id of a publish or forge step",
                    )
                )
    return out


def _episode_problems(sc: Mapping[str, Any], source: str, where: str) -> list[Problem]:
    from labtrust_gym.benchmarks.tasks import list_tasks

    tasks = set(list_tasks())
    if sc["task"] not in tasks:
        return [
            (
                source,
                f"{where}.task",
                f"unknown task {sc['task']!r}; known: {', '.join(sorted(tasks))}",
            )
        ]
    return []
