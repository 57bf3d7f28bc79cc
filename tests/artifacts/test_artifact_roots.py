"""Artifact roots: search order, real-path de-duplication, discovery across roots,
collisions and the override switch, LABTRUST_ROOT / LABTRUST_POLICY_DIR, and no writes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from labtrust_gym.artifacts import (
    ArtifactCollisionError,
    ArtifactShadowWarning,
    artifact_roots,
    discover_artifacts,
    list_artifact_names,
    resolve_artifact,
)
from labtrust_gym.baselines.coordination import load_catalogue
from labtrust_gym.benchmarks.coordination_scale import list_scale_presets, load_scale_config_by_id
from labtrust_gym.cli.main import main
from labtrust_gym.config import get_policy_dir, policy_path
from labtrust_gym.errors import ConfigError, UnknownIdError
from labtrust_gym.policy import load_policy
from labtrust_gym.profiles import list_lab_profiles
from labtrust_gym.testing.golden import golden_files

BASE = get_policy_dir()
SMOKE = yaml.safe_load((BASE / "coordination" / "scale_configs.v0.1.yaml").read_text())["presets"][
    "small_smoke"
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in (
        "LABTRUST_EXTRA_ROOTS",
        "LABTRUST_ROOT",
        "LABTRUST_ALLOW_ROOT_OVERRIDE",
        "LABTRUST_POLICY_DIR",
        "LABTRUST_PROFILE",
    ):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")  # a current directory without policy/


def _write(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _profile(root: Path, pid: str, **fields: object) -> Path:
    doc = {"version": "0.1", "profile_id": pid, "description": f"{pid} lab", **fields}
    return _write(root / "policy" / "lab_profiles" / f"{pid}.v0.1.yaml", doc)


def _presets(root: Path, **presets: dict) -> Path:
    return _write(
        root / "policy" / "coordination" / "scale_configs.v0.1.yaml",
        {"version": "0.1", "presets": presets},
    )


def _extras(monkeypatch: pytest.MonkeyPatch, *roots: Path) -> None:
    monkeypatch.setenv("LABTRUST_EXTRA_ROOTS", ":".join(str(r) for r in roots))


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else "dir"
        for p in sorted(root.rglob("*"))
    }


def test_search_order_and_real_path_dedup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for r in (a, b):
        (r / "policy").mkdir(parents=True)
    (tmp_path / "work" / "policy").mkdir()
    link = tmp_path / "link_to_a"
    link.symlink_to(a)
    base_link = tmp_path / "base_link"
    base_link.symlink_to(BASE.parent)
    _extras(monkeypatch, b, a, link, base_link)
    roots = artifact_roots()
    assert [r.policy_dir for r in roots] == [
        tmp_path / "work" / "policy",
        b / "policy",
        a / "policy",
        base_link / "policy",
    ]
    assert roots[0].label == "current directory"
    assert roots[1].label == "LABTRUST_EXTRA_ROOTS[0]"
    assert roots[2].label == "LABTRUST_EXTRA_ROOTS[1] = LABTRUST_EXTRA_ROOTS[2]"
    assert roots[3].label == "LABTRUST_EXTRA_ROOTS[3] = source checkout"  # the base, once
    # The current directory inside the install root counts once.
    monkeypatch.delenv("LABTRUST_EXTRA_ROOTS")
    monkeypatch.chdir(BASE.parent)
    assert [r.policy_dir for r in artifact_roots()] == [BASE]


def test_an_extra_root_without_policy_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _extras(monkeypatch, tmp_path / "nothing_here")
    with pytest.raises(ConfigError, match="LABTRUST_EXTRA_ROOTS entry='.*nothing_here'"):
        artifact_roots()


def test_every_kind_is_found_in_an_extra_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ext = tmp_path / "ext"
    pdir = ext / "policy"
    _profile(ext, "ext_lab", partner_id="ext_partner")
    _presets(ext, tiny_ext={**SMOKE, "description": "smoke, from the extra root"})
    spec = _write(pdir / "studies" / "ext_study.v0.1.yaml", {"version": "0.1"})
    _write(
        pdir / "benchmark_packs" / "ext_pack.v0.1.yaml",
        {"version": "0.1", "pack_id": "ext_pack", "runs": [{"task": "throughput_sla"}]},
    )
    _write(
        pdir / "partners" / "ext_partner" / "sla" / "sla_targets.v0.1.yaml",
        {"priorities": {"STAT": {"target_tat_s": 600}}},
    )
    gold = _write(pdir / "golden" / "ext_golden.v0.1.yaml", {"version": "0.1", "scenarios": []})
    _write(
        pdir / "coordination" / "coordination_methods.v0.1.yaml",
        {"version": "0.1", "methods": {"ext_method": {"default_params": {"k": 1}}}},
    )
    _extras(monkeypatch, ext)
    before = _tree_digest(ext)

    assert set(list_lab_profiles()) == {"default", "example", "ext_lab"}
    assert "tiny_ext" in list_scale_presets() and "small_smoke" in list_scale_presets()
    assert load_scale_config_by_id(None, "tiny_ext").config_id == "tiny_ext"
    assert policy_path(None, "studies", "ext_study.v0.1.yaml") == spec
    assert policy_path(None, "partners", "ext_partner", "sla", "x.yaml") == (
        pdir / "partners" / "ext_partner" / "sla" / "x.yaml"
    )
    assert resolve_artifact("benchmark_packs", "ext_pack") == pdir / "benchmark_packs" / (
        "ext_pack.v0.1.yaml"
    )
    assert gold in golden_files() and BASE / "golden" / "golden_scenarios.v0.1.yaml" in (
        golden_files()
    )
    cat = load_catalogue()
    assert cat["ext_method"] == {"default_params": {"k": 1}} and "scripted_team" in cat
    assert (
        load_policy(partner_id="ext_partner")["sla_targets"]["priorities"]["STAT"]["target_tat_s"]
        == 600
    )

    # The commands see them: a profile and a preset of the extra root, end to end.
    out = tmp_path / "r.json"
    argv = [
        "--profile",
        "ext_lab",
        "run-benchmark",
        "--task",
        "coord_scale",
        "--scale",
        "tiny_ext",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    res = json.loads(out.read_text())
    assert res["scale_config"]["config_id"] == "tiny_ext"
    assert res["lab_profile"]["source"] == str(pdir / "lab_profiles" / "ext_lab.v0.1.yaml")
    capsys.readouterr()
    assert main(["artifacts", "which", "scale_presets", "tiny_ext"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"{pdir / 'coordination' / 'scale_configs.v0.1.yaml'}  (LABTRUST_EXTRA_ROOTS[0])"
    )
    assert main(["artifacts", "list", "--kind", "lab_profiles"]) == 0
    out_text = capsys.readouterr().out
    assert "ext_lab" in out_text and "(LABTRUST_EXTRA_ROOTS[0])" in out_text
    assert main(["artifacts", "roots"]) == 0
    assert str(pdir) in capsys.readouterr().out
    # Nothing was written into the root.
    assert _tree_digest(ext) == before


def test_the_current_directory_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = tmp_path / "work"
    _profile(here, "desk")
    assert resolve_artifact("lab_profiles", "desk") == here / "policy" / "lab_profiles" / (
        "desk.v0.1.yaml"
    )
    assert discover_artifacts("lab_profiles")["desk"][0].root.label == "current directory"


def test_collision_names_every_path_and_the_switch_lets_the_earliest_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    pa = _profile(a, "twin")
    pb = _profile(b, "twin", partner_id="example_partner")
    _presets(b, small_smoke={**SMOKE, "horizon_steps": 10})  # also in the base root
    _extras(monkeypatch, a, b)
    with pytest.raises(ArtifactCollisionError) as err:
        resolve_artifact("lab_profiles", "twin")
    assert err.value.paths == [str(pa), str(pb)]
    assert str(pa) in str(err.value) and str(pb) in str(err.value)
    assert "LABTRUST_ALLOW_ROOT_OVERRIDE=1" in str(err.value)
    with pytest.raises(ArtifactCollisionError) as err:
        list_scale_presets()
    assert err.value.paths == [
        str(b / "policy" / "coordination" / "scale_configs.v0.1.yaml"),
        str(BASE / "coordination" / "scale_configs.v0.1.yaml"),
    ]
    with pytest.raises(ArtifactCollisionError):
        list_lab_profiles()
    assert main(["--profile", "twin", "list-tasks"]) == 2
    err_text = capsys.readouterr().err
    assert str(pa) in err_text and str(pb) in err_text
    assert main(["artifacts", "list", "--kind", "lab_profiles"]) == 1
    assert "[COLLISION]" in capsys.readouterr().out
    assert main(["artifacts", "which", "lab_profiles", "twin"]) == 2

    monkeypatch.setenv("LABTRUST_ALLOW_ROOT_OVERRIDE", "1")
    with pytest.warns(ArtifactShadowWarning, match=str(pb)):
        assert resolve_artifact("lab_profiles", "twin") == pa
    with pytest.warns(ArtifactShadowWarning, match="small_smoke"):
        assert load_scale_config_by_id(None, "small_smoke").horizon_steps == 10
    assert main(["--profile", "twin", "list-tasks"]) == 0
    err_text = capsys.readouterr().err
    assert "labtrust: warning:" in err_text and str(pb) in err_text
    assert main(["artifacts", "list", "--kind", "lab_profiles"]) == 0
    assert "[shadows]" in capsys.readouterr().out


def test_labtrust_root_and_policy_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site_root"
    shutil.copytree(BASE, site / "policy")
    sla = site / "policy" / "sla" / "sla_targets.v0.1.yaml"
    sla.write_text(sla.read_text().replace("target_tat_s: 1200", "target_tat_s: 1000"))
    monkeypatch.setenv("LABTRUST_ROOT", str(site))
    assert get_policy_dir() == (site / "policy").resolve()
    assert artifact_roots()[-1].label == "LABTRUST_ROOT"
    assert load_policy()["sla_targets"]["priorities"]["STAT"]["target_tat_s"] == 1000
    assert "small_smoke" in list_scale_presets()  # from the LABTRUST_ROOT tree alone
    other = tmp_path / "other_policy"
    shutil.copytree(BASE, other)
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(other))  # the more specific one wins
    assert get_policy_dir() == other.resolve()
    assert artifact_roots()[-1].label == "LABTRUST_POLICY_DIR"
    monkeypatch.setenv("LABTRUST_ROOT", str(tmp_path / "nope"))
    monkeypatch.delenv("LABTRUST_POLICY_DIR")
    with pytest.raises(Exception, match="LABTRUST_ROOT='.*nope' holds no policy/"):
        get_policy_dir()


def test_a_policy_tree_outside_the_roots_is_searched_alone(tmp_path: Path) -> None:
    copy = tmp_path / "copy" / "policy"
    shutil.copytree(BASE, copy)
    _presets(tmp_path / "copy", only_here=SMOKE)
    assert list_scale_presets(copy) == ["only_here"]
    assert list_scale_presets(BASE) == list_scale_presets()  # a root: the normal search
    with pytest.raises(UnknownIdError, match="known presets: only_here"):
        load_scale_config_by_id(copy, "small_smoke")
    assert list_artifact_names("golden", copy) == ["golden_scenarios"]


def test_a_checkout_policy_in_the_current_directory_does_not_collide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The installed wheel run from inside a checkout: ./policy holds the same files as the
    base. Without extra roots nothing collides, and same-content files never do."""
    here = tmp_path / "work"
    shutil.copytree(BASE, here / "policy")
    assert [r.label for r in artifact_roots()] == ["current directory", "source checkout"]
    assert "coord_scale_default" in list_scale_presets()  # was: defined in 2 artifact roots
    assert load_scale_config_by_id(None, "coord_scale_default").config_id == "coord_scale_default"
    assert resolve_artifact("lab_profiles", "default") == here / "policy" / "lab_profiles" / (
        "default.v0.1.yaml"
    )
    out = tmp_path / "r.json"
    argv = ["run-benchmark", "--task", "coord_scale", "--scale", "small_smoke", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    assert json.loads(out.read_text())["task"] == "coord_scale"
    assert "warning" not in capsys.readouterr().err


def test_without_extra_roots_a_different_local_copy_shadows_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _presets(tmp_path / "work", small_smoke={**SMOKE, "horizon_steps": 10})
    with pytest.warns(ArtifactShadowWarning, match="earlier root wins when no extra roots"):
        assert load_scale_config_by_id(None, "small_smoke").horizon_steps == 10


def test_same_content_in_extra_roots_never_collides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    pa = _profile(a, "twin", partner_id="example_partner")
    shutil.copytree(a / "policy", b / "policy")
    _presets(b, small_smoke=SMOKE)  # the very entry the base defines
    shutil.copytree(
        BASE / "partners" / "example_partner", b / "policy" / "partners" / "example_partner"
    )
    _extras(monkeypatch, a, b)
    assert resolve_artifact("lab_profiles", "twin") == pa  # the earliest copy
    assert load_scale_config_by_id(None, "small_smoke").horizon_steps == SMOKE["horizon_steps"]
    assert resolve_artifact("partners", "example_partner") == (
        b / "policy" / "partners" / "example_partner"
    )
    # One byte of difference and it is a collision again (extra roots are configured).
    (b / "policy" / "partners" / "example_partner" / "extra.txt").write_text("x")
    with pytest.raises(ArtifactCollisionError, match="defined differently in 2 artifact roots"):
        resolve_artifact("partners", "example_partner")


def test_reference_names_and_strict_switch_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from labtrust_gym.artifacts import get_artifact_roots

    assert get_artifact_roots() == artifact_roots()
    monkeypatch.setenv("LABTRUST_ALLOW_ROOT_OVERRIDE", "sure")
    with pytest.raises(ConfigError, match="LABTRUST_ALLOW_ROOT_OVERRIDE='sure' is not a switch"):
        from labtrust_gym.artifacts import allow_root_override

        allow_root_override()
