"""Study specs: the shipped default, schema and registry problems named by file, field
and fix, scale dimensions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from labtrust_gym.baselines.coordination import list_coordination_methods
from labtrust_gym.coordination.injections import list_injections
from labtrust_gym.errors import ConfigError
from labtrust_gym.studies import expand_cells, load_study_spec
from labtrust_gym.studies.spec import StudySpecError, list_shipped_specs, parse_study_spec


def _problems(exc: StudySpecError) -> dict[str, str]:
    return {field: msg for _, field, msg in exc.problems}


def test_shipped_default_spec_is_a_coordination_grid_with_a_nominal_baseline() -> None:
    assert "coord_default" in list_shipped_specs()
    spec = load_study_spec("coord_default")
    assert spec.source is not None and spec.source.endswith("studies/coord_default.v0.1.yaml")
    assert spec.is_coordination
    assert spec.injections[0] == "none"
    assert set(spec.methods) <= set(list_coordination_methods())
    assert set(spec.injections[1:]) <= set(list_injections())
    presets = [d for d in spec.scales if d.name == "scale_preset"][0].values
    cells = expand_cells(spec)
    assert len(cells) == len(presets) * len(spec.methods) * len(spec.injections)
    assert len({c.cell_id for c in cells}) == len(cells)
    assert spec.episodes_per_cell >= 2  # a confidence interval per cell


def test_every_shipped_spec_validates() -> None:
    for name in list_shipped_specs():
        assert load_study_spec(name).study_id


def test_registry_problems_name_the_file_the_field_and_the_choices(
    spec_file: Callable[..., Path],
) -> None:
    path = spec_file(
        methods=["scripted_team", "no_such_method"],
        injections=["none", "INJ-NOPE-001"],
        scales=[{"name": "scale_preset", "values": ["small_smoke", "tiny"]}],
        injection_params={"INJ-NET-DELAY-001": {"delay_p50_ms": 5}},
    )
    with pytest.raises(StudySpecError) as ei:
        load_study_spec(path)
    assert all(f == str(path) for f, _, _ in ei.value.problems)
    probs = _problems(ei.value)
    assert "unknown method 'no_such_method'" in probs["methods[1]"]
    assert "market_auction" in probs["methods[1]"] and "random" in probs["methods[1]"]
    assert "INJ-NET-PARTITION-001" in probs["injections[1]"]
    assert "unknown scale preset 'tiny'" in probs["scales[0].values[1]"]
    assert "small_8" in probs["scales[0].values[1]"]
    assert "not in 'injections'" in probs["injection_params.INJ-NET-DELAY-001"]
    # the CLI reports them all and exits 2
    assert str(path) in str(ei.value) and "4 study spec problem(s)" in str(ei.value)


def test_schema_problems_say_what_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "version: 0.1\nstudy_id: s\ntask: coord_risk\nepisode_per_cell: 2\nbase_seed: -1\n"
        "seeding: shuffled\n",
        encoding="utf-8",
    )
    with pytest.raises(StudySpecError) as ei:
        load_study_spec(path)
    probs = _problems(ei.value)
    assert 'version: "0.1"' in probs["version"]
    assert "unknown field 'episode_per_cell'" in probs["episode_per_cell"]
    assert "episodes_per_cell" in probs["episode_per_cell"]  # the allowed fields
    assert ">= 0" in probs["base_seed"]
    assert "paired" in probs["seeding"] and "independent" in probs["seeding"]


def test_injections_and_scales_need_a_task_that_takes_them(
    spec_file: Callable[..., Path],
) -> None:
    with pytest.raises(StudySpecError) as ei:
        load_study_spec(spec_file(task="throughput_sla", methods=["scripted"]))
    probs = _problems(ei.value)
    assert "takes no risk injections" in probs["task"]
    assert "coordination tasks" in probs["scales"]
    # without them a plain task is a valid (general) study
    spec = load_study_spec(
        spec_file(task="throughput_sla", methods=["scripted", "random"], scales=[], injections=None)
    )
    assert not spec.is_coordination
    assert [c.cell_id for c in expand_cells(spec)] == [
        "throughput_sla__default__scripted__none",
        "throughput_sla__default__random__none",
    ]


def test_scale_dimensions_override_the_preset(spec_file: Callable[..., Path]) -> None:
    spec = load_study_spec(
        spec_file(
            scales=[
                {"name": "scale_preset", "values": ["small_smoke"]},
                {"name": "num_agents_total", "values": [4, 6]},
            ],
            methods=["scripted_team"],
            injections=["none"],
        )
    )
    cells = expand_cells(spec)
    assert [c.scale_label for c in cells] == [
        "small_smoke+num_agents_total=4",
        "small_smoke+num_agents_total=6",
    ]
    assert cells[1].scale is not None
    cfg = cells[1].scale.build()
    assert cfg.num_agents_total == 6 and cfg.config_id == "small_smoke+num_agents_total=6"
    assert cfg.horizon_steps == 80  # the rest is the preset's

    with pytest.raises(StudySpecError, match="num_agents_total"):
        load_study_spec(
            spec_file(
                scales=[
                    {"name": "scale_preset", "values": ["small_smoke"]},
                    {"name": "num_agents_total", "values": [0]},
                ]
            )
        )
    with pytest.raises(StudySpecError, match="add a dimension"):
        load_study_spec(spec_file(scales=[{"name": "num_agents_total", "values": [4]}]))


def test_unknown_spec_name_lists_the_shipped_specs() -> None:
    with pytest.raises(ConfigError, match="coord_default"):
        load_study_spec("no_such_study")


def test_spec_hash_is_stable_and_follows_the_content() -> None:
    doc = {"version": "0.1", "study_id": "h", "task": "coord_scale", "base_seed": 3}
    a = parse_study_spec(doc)
    assert a.spec_hash == parse_study_spec(dict(doc)).spec_hash
    assert a.spec_hash != parse_study_spec({**doc, "base_seed": 4}).spec_hash
    # defaults are filled in: writing them out gives the same spec
    assert a == parse_study_spec({**doc, "methods": ["scripted"], "injections": ["none"]})
