"""Study specs: a YAML file (schema ``policy/schemas/study_spec.v0.1.schema.json``) that
names a grid of benchmark cells.

Example (``policy/studies/coord_default.v0.1.yaml`` is the shipped default)::

    version: "0.1"
    study_id: my_study
    task: coord_risk              # any registered task, or a list of tasks
    scales:                       # coord_scale / coord_risk only; cross product
      - name: scale_preset        # preset ids of policy/coordination/scale_configs
        values: [small_smoke, small_8]
      - name: num_agents_total    # optional: a field of CoordinationScaleConfig
        values: [4, 8]            # applied over each preset
    methods: [scripted_team, market_auction]   # coordination method ids, or
                                               # the controllers scripted / random
    injections: [none, INJ-NET-DROP-SPIKE-001] # none = the nominal cell
    episodes_per_cell: 2
    base_seed: 42
    seeding: paired               # or independent (see labtrust_gym.studies.cells)

:func:`load_study_spec` reads a spec by path, or by name from the policy's ``studies/``
directory, checks it against the schema and then against the registries (tasks, methods,
injections, scale presets). Every problem names the file, the field and the fix, and all
of them are reported at once (:class:`StudySpecError`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtrust_gym.config import get_policy_dir, policy_path
from labtrust_gym.engine.canonical import canonical_json
from labtrust_gym.errors import ConfigError

__all__ = [
    "SPEC_VERSION",
    "SCALE_DIMENSIONS",
    "CONTROLLER_METHODS",
    "NO_INJECTION",
    "ScaleDimension",
    "StudySpec",
    "StudySpecError",
    "load_study_spec",
    "parse_study_spec",
    "resolve_spec_path",
    "list_shipped_specs",
    "is_coordination_task",
]

SPEC_VERSION = "0.1"
#: The schema lives at ``schemas/study_spec.v0.1.schema.json`` of the package policy.
_SCHEMA_REL = "studies/study_spec.v0.1.yaml"
#: Scale dimensions: ``scale_preset`` (preset ids) and the scalar fields of
#: :class:`~labtrust_gym.benchmarks.coordination_scale.CoordinationScaleConfig`.
SCALE_DIMENSIONS = (
    "scale_preset",
    "num_agents_total",
    "num_sites",
    "specimens_per_min",
    "horizon_steps",
    "timing_mode",
    "corridor_capacity",
    "backlog_min",
    "partner_id",
)
#: Method entries that select the task's own controller instead of a coordination method.
CONTROLLER_METHODS = ("scripted", "random")
NO_INJECTION = "none"


class StudySpecError(ConfigError):
    """A study spec is invalid; ``problems`` holds ``(file, field, message)`` triples."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        lines = [f"{f}: {p or '<root>'}: {m}" for f, p, m in problems]
        super().__init__(f"{len(problems)} study spec problem(s):\n  " + "\n  ".join(lines))


@dataclass(frozen=True)
class ScaleDimension:
    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class StudySpec:
    """A validated study spec (defaults filled in)."""

    study_id: str
    tasks: tuple[str, ...]
    scales: tuple[ScaleDimension, ...] = ()
    methods: tuple[str, ...] = ("scripted",)
    injections: tuple[str, ...] = (NO_INJECTION,)
    episodes_per_cell: int = 1
    base_seed: int = 0
    seeding: str = "paired"
    timing: str | None = None
    description: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    injection_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Where the spec was read from (not part of its identity).
    source: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The normalized spec as a plain document (what :attr:`spec_hash` hashes)."""
        return {
            "version": SPEC_VERSION,
            "study_id": self.study_id,
            "description": self.description,
            "task": list(self.tasks),
            "scales": [{"name": d.name, "values": list(d.values)} for d in self.scales],
            "methods": list(self.methods),
            "injections": list(self.injections),
            "episodes_per_cell": self.episodes_per_cell,
            "base_seed": self.base_seed,
            "seeding": self.seeding,
            "timing": self.timing,
            "params": dict(self.params),
            "injection_params": {k: dict(v) for k, v in self.injection_params.items()},
        }

    @property
    def spec_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.to_dict())).hexdigest()

    @property
    def is_coordination(self) -> bool:
        """True when every task is a coordination task (coord_scale, coord_risk...)."""
        return all(is_coordination_task(t) for t in self.tasks)


def is_coordination_task(task: str) -> bool:
    """A task that takes scale configs and risk injections (a ``CoordScale`` subclass)."""
    from labtrust_gym.benchmarks.tasks import get_task
    from labtrust_gym.benchmarks.tasks.coord import CoordScale

    return issubclass(get_task(task), CoordScale)


def list_shipped_specs() -> list[str]:
    """Names of the specs in the ``studies/`` directories of the policy (and of the
    artifact roots, where the installed version resolves them)."""
    try:
        from labtrust_gym.artifacts import list_artifact_names
    except ImportError:
        d = get_policy_dir() / "studies"
        suffix = f".v{SPEC_VERSION}.yaml"
        return sorted(p.name[: -len(suffix)] for p in d.glob(f"*{suffix}")) if d.is_dir() else []
    return sorted(list_artifact_names("studies"))


def resolve_spec_path(spec: str | Path) -> Path:
    """A spec file path, or a name looked up as ``studies/<name>.v0.1.yaml`` of the policy."""
    p = Path(spec)
    if p.is_file():
        return p
    name = str(spec)
    if "/" not in name and "\\" not in name and not name.endswith((".yaml", ".yml")):
        cand = policy_path(None, "studies", f"{name}.v{SPEC_VERSION}.yaml")
        if cand.is_file():
            return cand
    known = ", ".join(list_shipped_specs()) or "(none)"
    raise ConfigError(
        f"study spec {spec!r}: no such file, and no spec of that name in the studies/ "
        "directory of the policy or of an artifact root (./policy, LABTRUST_EXTRA_ROOTS); "
        f"give a YAML path or one of: {known}"
    )


def load_study_spec(spec: str | Path) -> StudySpec:
    """Read, schema-check and cross-check a study spec (a path or a shipped spec name)."""
    from labtrust_gym.policy.loader import load_yaml

    path = resolve_spec_path(spec)
    doc = load_yaml(path)
    return parse_study_spec(doc, source=str(path))


def parse_study_spec(doc: Any, *, source: str = "<spec>") -> StudySpec:
    """Validate a parsed spec document and build the :class:`StudySpec`."""
    from labtrust_gym.policy.validate import validate_document

    problems = validate_document(get_policy_dir(), _SCHEMA_REL, doc, source)
    if problems:
        raise StudySpecError(problems)
    assert isinstance(doc, dict)
    tasks = doc["task"] if isinstance(doc["task"], list) else [doc["task"]]
    spec = StudySpec(
        study_id=doc["study_id"],
        tasks=tuple(tasks),
        scales=tuple(
            ScaleDimension(d["name"], tuple(d["values"])) for d in doc.get("scales") or []
        ),
        methods=tuple(doc.get("methods") or ("scripted",)),
        injections=tuple(doc.get("injections") or (NO_INJECTION,)),
        episodes_per_cell=int(doc.get("episodes_per_cell", 1)),
        base_seed=int(doc.get("base_seed", 0)),
        seeding=doc.get("seeding", "paired"),
        timing=doc.get("timing"),
        description=doc.get("description", ""),
        params=dict(doc.get("params") or {}),
        injection_params={k: dict(v) for k, v in (doc.get("injection_params") or {}).items()},
        source=source,
    )
    problems = _cross_check(spec, source)
    if problems:
        raise StudySpecError(problems)
    return spec


def _cross_check(spec: StudySpec, src: str) -> list[tuple[str, str, str]]:
    """Registry checks the schema cannot make."""
    from labtrust_gym.baselines.coordination import list_coordination_methods
    from labtrust_gym.benchmarks.coordination_scale import list_scale_presets
    from labtrust_gym.benchmarks.tasks import get_task, list_tasks
    from labtrust_gym.coordination.injections import list_injections

    out: list[tuple[str, str, str]] = []
    known_tasks = list_tasks()
    coord: list[bool] = []
    for i, t in enumerate(spec.tasks):
        where = "task" if len(spec.tasks) == 1 else f"task[{i}]"
        if t not in known_tasks:
            out.append((src, where, f"unknown task {t!r}; use one of: {', '.join(known_tasks)}"))
            continue
        coord.append(is_coordination_task(t))
        if spec.injections != (NO_INJECTION,) and not getattr(
            get_task(t), "supports_injections", False
        ):
            out.append(
                (
                    src,
                    where,
                    f"task {t!r} takes no risk injections; remove 'injections' (or keep only "
                    "none) or use coord_risk / coord_scale",
                )
            )
    if spec.scales and not all(coord):
        out.append(
            (
                src,
                "scales",
                "scale dimensions apply to coordination tasks (coord_scale, coord_risk) only; "
                "remove 'scales' or the other tasks",
            )
        )
    names = [d.name for d in spec.scales]
    for i, d in enumerate(spec.scales):
        if names.count(d.name) > 1 and names.index(d.name) != i:
            out.append((src, f"scales[{i}].name", f"dimension {d.name!r} is listed twice; merge"))
    if spec.scales and "scale_preset" not in names:
        out.append(
            (
                src,
                "scales",
                "scale dimensions override a preset: add a dimension "
                "{name: scale_preset, values: [coord_scale_default]} (or other preset ids)",
            )
        )
    presets = list_scale_presets()
    for i, d in enumerate(spec.scales):
        if d.name != "scale_preset":
            continue
        for j, v in enumerate(d.values):
            if v not in presets:
                out.append(
                    (
                        src,
                        f"scales[{i}].values[{j}]",
                        f"unknown scale preset {v!r}; use one of: {', '.join(presets)}",
                    )
                )
    known_methods = list_coordination_methods()
    for i, m in enumerate(spec.methods):
        if m not in known_methods and m not in CONTROLLER_METHODS:
            out.append(
                (
                    src,
                    f"methods[{i}]",
                    f"unknown method {m!r}; use a coordination method "
                    f"({', '.join(known_methods)}) or a controller "
                    f"({', '.join(CONTROLLER_METHODS)})",
                )
            )
    known_inj = list_injections()
    for i, inj in enumerate(spec.injections):
        if inj != NO_INJECTION and inj not in known_inj:
            out.append(
                (
                    src,
                    f"injections[{i}]",
                    f"unknown injection {inj!r}; use none or one of: {', '.join(known_inj)}",
                )
            )
    for k in spec.injection_params:
        if k not in spec.injections:
            out.append(
                (
                    src,
                    f"injection_params.{k}",
                    f"{k!r} is not in 'injections'; add it there or remove these parameters",
                )
            )
    if "injection" in spec.params or "injection_params" in spec.params:
        out.append(
            (
                src,
                "params",
                "set injections with the 'injections' list and 'injection_params', not in params",
            )
        )
    if not out:
        from labtrust_gym.studies.scales import scale_points

        try:
            points = scale_points(spec)
        except ConfigError as exc:
            out.append((src, "scales", f"{exc}; fix the dimension values"))
        else:
            for label, sc in points:
                if sc is None:
                    continue
                try:
                    sc.build().validate()
                except ConfigError as exc:
                    out.append((src, "scales", f"scale {label}: {exc}; fix the dimension values"))
    return out
