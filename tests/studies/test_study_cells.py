"""Cells: ids and seeds come from the cell's identity, never from its place in the grid."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from _study_helpers import cell_doc

from labtrust_gym.rng import derive_seed
from labtrust_gym.studies import expand_cells, load_study_spec, run_study
from labtrust_gym.studies.cells import cell_id_for


def test_adding_methods_and_injections_keeps_every_other_cell(
    spec_file: Callable[..., Path],
) -> None:
    small = {c.cell_id: c for c in expand_cells(load_study_spec(spec_file()))}
    bigger = {
        c.cell_id: c
        for c in expand_cells(
            load_study_spec(
                spec_file(
                    methods=["gossip_consensus", "market_auction", "scripted_team"],
                    injections=["INJ-NET-DELAY-001", "none", "INJ-DEVICE-FAULT-001"],
                )
            )
        )
    }
    assert len(bigger) == 9 and set(small) < set(bigger)
    for cid, c in small.items():
        assert bigger[cid].seed == c.seed
        assert bigger[cid].fingerprint == c.fingerprint


def test_paired_seeds_per_scale_and_independent_seeds_per_cell(
    spec_file: Callable[..., Path],
) -> None:
    scales = [{"name": "scale_preset", "values": ["small_smoke", "small_8"]}]
    paired = expand_cells(load_study_spec(spec_file(scales=scales)))
    by_scale: dict[str, set[int]] = {}
    for c in paired:
        by_scale.setdefault(c.scale_label, set()).add(c.seed)
        assert c.seed == derive_seed(11, "cell", "coord_risk", c.scale_label)
    assert all(len(s) == 1 for s in by_scale.values())
    assert by_scale["small_smoke"] != by_scale["small_8"]

    indep = expand_cells(load_study_spec(spec_file(scales=scales, seeding="independent")))
    assert len({c.seed for c in indep}) == len(indep)
    for c in indep:
        assert c.seed == derive_seed(11, "cell", c.cell_id)
    reseeded = expand_cells(load_study_spec(spec_file(scales=scales, base_seed=12)))
    assert {c.seed for c in reseeded}.isdisjoint({c.seed for c in paired})


def test_cell_params_carry_the_injection_even_when_it_is_none(
    spec_file: Callable[..., Path],
) -> None:
    cells = expand_cells(
        load_study_spec(spec_file(injection_params={"INJ-DEVICE-FAULT-001": {"at_frac": 0.5}}))
    )
    by_inj = {c.injection: c for c in cells if c.method == "scripted_team"}
    # coord_risk's own default injection must not leak into the nominal cell
    assert by_inj["none"].run_kwargs()["params"] == {"injection": "none"}
    assert by_inj["INJ-DEVICE-FAULT-001"].run_kwargs()["params"] == {
        "injection": "INJ-DEVICE-FAULT-001",
        "injection_params": {"at_frac": 0.5},
    }
    assert by_inj["none"].run_kwargs()["coord_method"] == "scripted_team"
    assert by_inj["none"].run_kwargs()["scale"] == "small_smoke"


def test_a_cells_results_do_not_depend_on_the_rest_of_the_grid(
    tmp_path: Path, spec_file: Callable[..., Path]
) -> None:
    one = load_study_spec(
        spec_file(methods=["market_auction"], injections=["none"], episodes_per_cell=1)
    )
    more = load_study_spec(
        spec_file(
            methods=["scripted_team", "market_auction"],
            injections=["none", "INJ-DEVICE-FAULT-001"],
            episodes_per_cell=1,
        )
    )
    run_study(one, tmp_path / "one", executor="inline")
    run_study(more, tmp_path / "more", executor="inline")
    cid = "coord_risk__small_smoke__market_auction__none"
    a = cell_doc(tmp_path / "one", cid)["results"]["episodes"]
    b = cell_doc(tmp_path / "more", cid)["results"]["episodes"]
    assert [e["seed"] for e in a] == [e["seed"] for e in b]
    assert [e["metrics"]["episode_log_sha256"] for e in a] == [
        e["metrics"]["episode_log_sha256"] for e in b
    ]
    assert a[0]["metrics"]["throughput"] == b[0]["metrics"]["throughput"]


def test_cell_ids_are_file_safe_and_long_ones_stay_distinct() -> None:
    assert cell_id_for("coord_risk", "small_8", "market_auction", "none") == (
        "coord_risk__small_8__market_auction__none"
    )
    assert cell_id_for("t", "a b/c", "m", "none") == "t__a_b_c__m__none"
    long_a = cell_id_for("coord_risk", "small_8" + "+num_sites=2" * 20, "m", "none")
    long_b = cell_id_for("coord_risk", "small_8" + "+num_sites=3" * 20, "m", "none")
    assert len(long_a) <= 120 and long_a != long_b
    assert re.fullmatch(r"[A-Za-z0-9._=+-]+", long_a)
