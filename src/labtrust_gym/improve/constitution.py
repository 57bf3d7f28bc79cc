"""The constitution: guardrails checked before each job (``policy/improve/``).

A :class:`Constitution` is read from a versioned YAML document validated against
``policy/schemas/improve_constitution.v0.1.schema.json``. Every ``check_*`` method returns
a :class:`Verdict` ``(allowed, rule, reason)``; ``rule`` is one of :data:`RULES`. The
loop records a denial as a rejected proposal (an event and a store row) and goes on;
only a rule listed in the document's ``fatal`` stops the run: :meth:`Constitution.enforce`
raises :class:`ConstitutionError` for it.

Rules: ``scope.task`` / ``scope.preset`` / ``scope.method`` / ``scope.lab_profile`` (what
a run may touch), ``scope.edit_target`` (only the skill document is an edit target),
``scope.train_seeds`` (training seeds come from the train split), ``budget.*``
(cycles, episodes per cycle, wall time, LLM calls and tokens), ``network.loopback``
(LLM endpoints on loopback unless allowed),
``protected.path`` / ``protected.skill_region`` / ``protected.test_seeds`` (content no
edit may touch).
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.errors import ConfigError, LabTrustError, PolicyValidationError

__all__ = [
    "RULES",
    "SKILL_FILE",
    "Verdict",
    "Constitution",
    "ConstitutionError",
    "load_constitution",
    "DEFAULT_CONSTITUTION",
]

RULES = (
    "scope.task",
    "scope.preset",
    "scope.method",
    "scope.lab_profile",
    "scope.edit_target",
    "scope.train_seeds",
    "budget.cycles",
    "budget.episodes_per_cycle",
    "budget.wall_time",
    "budget.llm_calls",
    "budget.llm_tokens",
    "network.loopback",
    "protected.path",
    "protected.skill_region",
    "protected.test_seeds",
)
#: The ``file`` of an edit of the skill document under optimization.
SKILL_FILE = "skill"
DEFAULT_CONSTITUTION = "improve_constitution"
SCHEMA = "schemas/improve_constitution.v0.1.schema.json"


@dataclass(frozen=True)
class Verdict:
    """``allowed``; when not, the ``rule`` that denied and the ``reason`` (names the
    object at fault and the limit)."""

    allowed: bool
    rule: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "rule": self.rule, "reason": self.reason}


_OK = Verdict(True)


class ConstitutionError(LabTrustError):
    """A fatal rule denied: the run stops. ``verdict`` says which and why."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        super().__init__(f"constitution rule {verdict.rule} (fatal): {verdict.reason}")


def _deny(rule: str, reason: str) -> Verdict:
    return Verdict(False, rule, reason)


@dataclass(frozen=True)
class Constitution:
    """A parsed constitution document (see the module docstring)."""

    doc: Mapping[str, Any]
    source: str = "<memory>"

    @property
    def id(self) -> str:
        return str(self.doc["constitution_id"])

    @property
    def version(self) -> str:
        return f"{self.doc['constitution_id']}@{self.doc['version']}"

    @property
    def sha256(self) -> str:
        """SHA-256 of the canonical JSON of the document (recorded in the manifest)."""
        return hashlib.sha256(canonical_json(self.doc)).hexdigest()

    @property
    def budgets(self) -> Mapping[str, Any]:
        return self.doc["budgets"]

    def is_fatal(self, rule: str) -> bool:
        return rule in self.doc["fatal"]

    def enforce(self, verdict: Verdict) -> Verdict:
        """Raise :class:`ConstitutionError` when ``verdict`` is a fatal denial."""
        if not verdict.allowed and self.is_fatal(verdict.rule):
            raise ConstitutionError(verdict)
        return verdict

    def needs_approval(self, decision: str) -> bool:
        return decision in self.doc["human_gates"]["require_approval_for"]

    # ------------------------------------------------------------- scope ----------
    def check_task(self, task_type: str) -> Verdict:
        from labtrust_gym.skillopt.splits import TaskType

        tt = TaskType.parse(task_type)
        scope = self.doc["scope"]
        if tt.task not in scope["tasks"]:
            return _deny(
                "scope.task",
                f"task {tt.task!r} is outside the constitution's scope "
                f"({', '.join(scope['tasks']) or 'none'})",
            )
        if tt.scale is not None and tt.scale not in scope["presets"]:
            return _deny(
                "scope.preset",
                f"scale preset {tt.scale!r} of {task_type!r} is outside the scope "
                f"({', '.join(scope['presets']) or 'none'})",
            )
        return _OK

    def check_method(self, method: str) -> Verdict:
        methods = self.doc["scope"]["methods"]
        if method not in methods:
            return _deny(
                "scope.method", f"method {method!r} is outside the scope ({', '.join(methods)})"
            )
        return _OK

    def check_lab_profile(self, profile: str | None) -> Verdict:
        allowed = self.doc["scope"]["lab_profiles"]
        if (profile or "") not in allowed:
            return _deny(
                "scope.lab_profile",
                f"lab profile {profile or '(none)'!r} is outside the scope "
                f"({', '.join(repr(p) for p in allowed)})",
            )
        return _OK

    def check_scope(
        self, task_types: Iterable[str], methods: Iterable[str], profile: str | None
    ) -> Verdict:
        """The first denial among the tasks, the methods and the lab profile."""
        for t in task_types:
            v = self.check_task(t)
            if not v.allowed:
                return v
        for m in methods:
            v = self.check_method(m)
            if not v.allowed:
                return v
        return self.check_lab_profile(profile)

    # ------------------------------------------------------------- budgets --------
    def check_cycle(self, cycle: int) -> Verdict:
        n = int(self.budgets["cycles"])
        if cycle > n:
            return _deny("budget.cycles", f"cycle {cycle} exceeds the budget of {n} cycles")
        return _OK

    def check_episodes(self, episodes: int, what: str = "this cycle") -> Verdict:
        n = int(self.budgets["episodes_per_cycle"])
        if episodes > n:
            return _deny(
                "budget.episodes_per_cycle",
                f"{what} needs {episodes} episodes; the budget is {n} per cycle",
            )
        return _OK

    def check_wall_time(self, elapsed_s: float) -> Verdict:
        n = float(self.budgets["wall_time_s"])
        if elapsed_s > n:
            return _deny("budget.wall_time", f"the run has used {elapsed_s:.0f} s of its {n:.0f} s")
        return _OK

    def check_llm_call(self, calls_used: int, tokens_used: int) -> Verdict:
        """May one more LLM call be made, given the calls and tokens used so far?"""
        calls, tokens = int(self.budgets["llm_calls"]), int(self.budgets["llm_tokens"])
        if calls_used >= calls:
            return _deny(
                "budget.llm_calls", f"the run has made {calls_used} of its {calls} LLM calls"
            )
        if tokens_used >= tokens:
            return _deny(
                "budget.llm_tokens",
                f"the run has used {tokens_used} of its {tokens} LLM tokens",
            )
        return _OK

    # ------------------------------------------------------------- network --------
    def check_endpoint(self, url: str | None) -> Verdict:
        """An LLM endpoint must be on loopback unless its host is in
        ``network.allowed_hosts``. ``None`` (no network: offline, replay) is allowed."""
        if not url:
            return _OK
        host = urlparse(url).hostname or ""
        if host in self.doc["network"]["allowed_hosts"]:
            return _OK
        if host == "localhost":
            return _OK
        try:
            if ipaddress.ip_address(host).is_loopback:
                return _OK
        except ValueError:
            pass
        return _deny(
            "network.loopback",
            f"LLM endpoint {url!r} is not on loopback; list its host in the constitution's "
            "network.allowed_hosts to allow it",
        )

    def check_backend_spec(self, spec: str | None) -> Verdict:
        if not spec:
            return _OK
        from labtrust_gym.llm.spec import parse_spec

        bs = parse_spec(spec)
        if bs.kind != "openai":
            return _OK
        return self.check_endpoint(bs.base_url or "https://api.openai.com/v1")

    # ------------------------------------------------------------- content --------
    def check_edit(
        self, edit: Mapping[str, Any], skill_text: str, reference: str | None = None
    ) -> Verdict:
        """May ``edit`` (``{file, op, target, content}``; ``file`` defaults to the skill)
        be applied? Repository paths are checked against ``protected.paths``; a skill
        edit may not touch a protected region (its target inside one, a marker in its
        content, or the edited document's regions differing from ``reference``)."""
        from labtrust_gym.skillopt.document import apply_edit, check_protected, protected_regions
        from labtrust_gym.skillopt.types import Edit

        target_file = str(edit.get("file") or SKILL_FILE)
        if target_file != SKILL_FILE:
            norm = target_file.replace("\\", "/").lstrip("./")
            for pat in self.doc["protected"]["paths"]:
                if fnmatch.fnmatch(norm, pat):
                    return _deny(
                        "protected.path",
                        f"edit of {target_file!r} touches protected content (pattern {pat!r})",
                    )
            return _deny(
                "scope.edit_target",
                f"edit of {target_file!r}: only the skill document under optimization may "
                "be edited",
            )
        if not self.doc["protected"]["skill_regions"]:
            return _OK
        try:
            e = Edit.from_dict({k: v for k, v in edit.items() if k != "file"})
        except ConfigError as exc:
            return _deny("scope.edit_target", f"malformed edit: {exc}")
        if "labtrust:protected" in e.content:
            return _deny(
                "protected.skill_region", "the edit's content carries a protected-region marker"
            )
        if e.target:
            at = skill_text.find(e.target)
            for rid, (a, b) in protected_regions(skill_text).items():
                if at >= 0 and a <= at < b:
                    return _deny(
                        "protected.skill_region",
                        f"the edit's target lies in protected region {rid!r}",
                    )
        new_text, _report = apply_edit(skill_text, e)
        problem = check_protected(reference or skill_text, new_text)
        if problem is not None:
            return _deny("protected.skill_region", problem)
        return _OK

    def check_seeds(
        self,
        seeds: Sequence[int],
        test_seeds: Iterable[int],
        train_seeds: Iterable[int] | None = None,
    ) -> Verdict:
        """Training seeds a proposal names: none of the held-out test split
        (``protected.test_seeds``) and, when ``train_seeds`` is given, all from the train
        split (``scope.train_seeds``)."""
        asked = {int(s) for s in seeds}
        bad = sorted(asked & {int(s) for s in test_seeds})
        if bad and self.doc["protected"]["test_split_seeds"]:
            return _deny(
                "protected.test_seeds",
                f"seeds {bad[:5]} belong to the held-out test split; training may not use them",
            )
        if train_seeds is not None:
            outside = sorted(asked - {int(s) for s in train_seeds})
            if outside:
                return _deny(
                    "scope.train_seeds",
                    f"seeds {outside[:5]} are not in the train split; collect only from it",
                )
        return _OK


def load_constitution(name_or_path: str | Path | None = None) -> Constitution:
    """The constitution ``name`` under ``policy/improve/`` (``NAME.v0.1.yaml``) or at a
    path; validated against its schema (a :class:`PolicyValidationError` lists every
    problem)."""
    from labtrust_gym.paths import get_policy_dir
    from labtrust_gym.policy.validate.schema import schema_check
    from labtrust_gym.policy.yaml_io import load_yaml

    pdir = get_policy_dir()
    ref = str(name_or_path or DEFAULT_CONSTITUTION)
    path = Path(ref)
    if not (ref.endswith((".yaml", ".yml")) or "/" in ref):
        path = pdir / "improve" / f"{ref}.v0.1.yaml"
    if not path.is_file():
        known = sorted(p.name.split(".v")[0] for p in (pdir / "improve").glob("*.v0.1.yaml"))
        raise ConfigError(
            f"constitution {ref!r}: no file {path}; known under policy/improve: "
            f"{', '.join(known) or 'none'}"
        )
    doc = load_yaml(path)
    problems = schema_check(pdir, "", str(path), doc, schema=SCHEMA)
    if problems:
        raise PolicyValidationError(problems)
    return Constitution(doc, str(path))
