"""Lab profiles: the global --profile, schema and id checks, partner overlays, providers,
contained path overrides and extension packages."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
import yaml
from _dists import install, write_dist

from labtrust_gym.benchmarks.metrics import compute_episode_metrics, register_metrics_aggregator
from labtrust_gym.benchmarks.runner import run_benchmark, validate_results
from labtrust_gym.benchmarks.tasks import list_tasks
from labtrust_gym.cli.main import build_parser, main
from labtrust_gym.config import get_policy_dir
from labtrust_gym.errors import ConfigError
from labtrust_gym.extensions import use_lab_profile
from labtrust_gym.plugins import loaded_plugins
from labtrust_gym.policy import load_policy
from labtrust_gym.profiles import (
    ProfilePathWarning,
    active_lab_profile,
    load_lab_profile,
)


def _root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str = "ext") -> Path:
    """An extra artifact root ``<tmp>/<name>/policy`` on LABTRUST_EXTRA_ROOTS."""
    root = tmp_path / name
    (root / "policy" / "lab_profiles").mkdir(parents=True)
    monkeypatch.setenv("LABTRUST_EXTRA_ROOTS", str(root))
    return root


def _profile(root: Path, profile_id: str, **fields: object) -> Path:
    doc = {"version": "0.1", "profile_id": profile_id, "description": "test lab", **fields}
    path = root / "policy" / "lab_profiles" / f"{profile_id}.v0.1.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_no_command_option_can_shadow_the_global_profile() -> None:
    parser = build_parser()
    top = {a.dest: a for a in parser._actions}
    assert top["lab_profile"].option_strings == ["--profile"]

    def walk(p: argparse.ArgumentParser, where: str) -> None:
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sp in a.choices.items():
                    walk(sp, f"{where} {name}")
            elif where:
                assert "--profile" not in a.option_strings, where
                assert a.dest != "lab_profile", where

    walk(parser, "")


def test_global_profile_applies_to_the_command(
    sites: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = _root(tmp_path, monkeypatch)
    _profile(root, "lab_a", partner_id="example_partner", domain_id="hospital_lab")
    out = tmp_path / "r.json"
    argv = ["--profile", "lab_a", "run-benchmark", "--task", "throughput_sla", "--out", str(out)]
    assert main(argv) == 0
    res = json.loads(out.read_text())
    validate_results(res)
    assert res["lab_profile"]["profile_id"] == "lab_a"
    assert res["lab_profile"]["partner_id"] == "example_partner"
    partner_fp = load_policy(partner_id="example_partner").fingerprint
    assert res["policy_fingerprint"] == partner_fp != load_policy().fingerprint
    assert active_lab_profile() is None  # not left behind after the command
    # After the command name it is refused with a message that says where it goes.
    with pytest.raises(SystemExit) as exc:
        main(["run-benchmark", "--task", "throughput_sla", "--profile", "lab_a"])
    assert exc.value.code == 2
    assert "labtrust --profile ID COMMAND" in capsys.readouterr().err


def test_partner_overlay_changes_a_threshold() -> None:
    base = load_policy()["critical_thresholds"]["thresholds"]["K"]
    over = load_policy(partner_id="example_partner")["critical_thresholds"]["thresholds"]["K"]
    assert (base["low"], base["high"]) == (2.5, 6.5)
    assert (over["low"], over["high"]) == (2.5, 6.0)  # merged key by key over the base
    prof = load_lab_profile(get_policy_dir() / "lab_profiles" / "default.v0.1.yaml")
    assert prof.partner_id is None


def test_profile_partner_is_the_default_of_every_policy_load(
    sites: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(tmp_path, monkeypatch)
    # The overlay itself lives in the extra root, next to the profile.
    odir = root / "policy" / "partners" / "site_b" / "sla"
    odir.mkdir(parents=True)
    (odir / "sla_targets.v0.1.yaml").write_text("priorities:\n  STAT: {target_tat_s: 900}\n")
    _profile(root, "lab_b", partner_id="site_b")
    with use_lab_profile("lab_b"):
        assert load_policy()["sla_targets"]["priorities"]["STAT"]["target_tat_s"] == 900
    assert load_policy()["sla_targets"]["priorities"]["STAT"]["target_tat_s"] == 1200


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"extension_packages": ["example-plugin"]}, "extension_packages[0]"),
        ({"colour": "blue"}, "'colour' was unexpected"),
        ({"partner_id": 7}, "partner_id"),
    ],
)
def test_invalid_profile_says_which_file_and_field(
    sites: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fields: dict[str, object],
    expected: str,
) -> None:
    root = _root(tmp_path, monkeypatch)
    path = _profile(root, "bad", **fields)
    assert main(["--profile", "bad", "list-tasks"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and expected in err, err


def test_missing_and_misnamed_profiles(
    sites: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = _root(tmp_path, monkeypatch)
    assert main(["--profile", "nowhere", "list-tasks"]) == 2
    err = capsys.readouterr().err
    assert "lab profile 'nowhere' not found" in err and "default" in err and "example" in err
    path = _profile(root, "named")
    path.rename(path.with_name("other.v0.1.yaml"))
    with pytest.raises(ConfigError, match="does not match the file name"):
        load_lab_profile("other")
    (root / "policy" / "lab_profiles" / "broken.v0.1.yaml").write_text("profile_id: [\n")
    with pytest.raises(ConfigError, match=r"broken\.v0\.1\.yaml.*malformed YAML"):
        load_lab_profile("broken")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"security_suite_provider_id": "nope"},
            "security_suite_provider_id 'nope' is not a registered security suite provider; "
            "known: default",
        ),
        ({"safety_case_provider_id": "nope"}, "safety_case_provider_id 'nope'"),
        ({"metrics_aggregator_id": "nope"}, "metrics_aggregator_id 'nope'"),
        ({"benchmark_pack_loader_id": "nope"}, "benchmark_pack_loader_id 'nope'"),
        (
            {"domain_id": "space_station"},
            "domain_id 'space_station' is not a registered domain; known: hospital_lab",
        ),
        ({"partner_id": "ghost"}, "partner_id 'ghost' has no overlay partners/ghost/"),
        (
            {"extension_packages": ["no_such_pkg_for_labtrust"]},
            "extension package 'no_such_pkg_for_labtrust' cannot be imported",
        ),
    ],
)
def test_unknown_ids_and_packages_are_errors_that_say_which(
    sites: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fields: dict[str, object],
    expected: str,
) -> None:
    root = _root(tmp_path, monkeypatch)
    path = _profile(root, "lab_x", **fields)
    assert main(["--profile", "lab_x", "run-benchmark", "--task", "throughput_sla"]) == 2
    err = capsys.readouterr().err
    assert expected in err and str(path) in err, err


def test_path_overrides_are_contained(
    sites: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(tmp_path, monkeypatch)
    pdir = root / "policy"
    (pdir / "security").mkdir()
    suite = pdir / "security" / "one_attack.v0.1.yaml"
    suite.write_text("version: '0.1'\nsuite_id: x\nattacks: []\n")
    outside = tmp_path / "outside.yaml"
    outside.write_text("version: '0.1'\n")
    (pdir / "link.yaml").symlink_to(outside)
    _profile(
        root,
        "paths",
        security_suite_path="security/one_attack.v0.1.yaml",
        safety_claims_path="../outside.yaml",
        benchmark_pack_path=str(outside),
        coordination_methods_path="link.yaml",
    )
    with pytest.warns(ProfilePathWarning) as rec:
        prof = load_lab_profile("paths")
    msgs = [str(w.message) for w in rec]
    for field in ("safety_claims_path", "benchmark_pack_path", "coordination_methods_path"):
        assert any(field in m and "outside the policy root" in m for m in msgs), field
    assert dict(prof.paths) == {"security_suite_path": suite.resolve()}
    assert set(prof.rejected_paths) == {
        "safety_claims_path",
        "benchmark_pack_path",
        "coordination_methods_path",
    }
    # A contained path that does not exist is an error naming the field.
    _profile(root, "gone", safety_claims_path="safety_case/none.v0.1.yaml")
    with pytest.raises(ConfigError, match="safety_claims_path 'safety_case/none.v0.1.yaml'"):
        load_lab_profile("gone")


def test_rejected_override_warns_on_the_command_line_and_uses_the_default(
    sites: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = _root(tmp_path, monkeypatch)
    _profile(root, "esc", coordination_methods_path="../../etc/passwd")
    out = tmp_path / "r.json"
    argv = [
        "--profile",
        "esc",
        "run-benchmark",
        "--task",
        "coord_scale",
        "--scale",
        "small_smoke",
        "--coord-method",
        "centralized_planner",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "labtrust: warning:" in err and "coordination_methods_path" in err
    res = json.loads(out.read_text())
    assert res["lab_profile"]["rejected_paths"] == {"coordination_methods_path": "../../etc/passwd"}


def test_profile_providers_and_paths_are_used(
    sites: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str | None] = []

    def tagging(env: object, task: object = None, wall_s: float | None = None) -> dict:
        seen.append(os.environ.get("LABTRUST_PROFILE"))
        m = compute_episode_metrics(env, task, wall_s)
        m["test.tagged"] = True
        return m

    register_metrics_aggregator("test_tagging", tagging)
    root = _root(tmp_path, monkeypatch)
    cat = root / "policy" / "coordination"
    cat.mkdir(parents=True)
    (cat / "methods_of_lab.yaml").write_text(
        "version: '0.1'\nmethods:\n  market_auction:\n    default_params: {max_contracts: 1}\n"
    )
    _profile(
        root,
        "prov",
        metrics_aggregator_id="test_tagging",
        coordination_methods_path="coordination/methods_of_lab.yaml",
    )
    out = tmp_path / "r.json"
    argv = [
        "--profile",
        "prov",
        "run-benchmark",
        "--task",
        "coord_scale",
        "--scale",
        "small_smoke",
        "--coord-method",
        "market_auction",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    res = json.loads(out.read_text())
    assert res["episodes"][0]["metrics"]["test.tagged"] is True
    assert seen == ["prov"]  # child processes of the command see the profile too
    assert os.environ.get("LABTRUST_PROFILE") is None
    from labtrust_gym.baselines.coordination import load_catalogue

    with use_lab_profile("prov"):
        assert load_catalogue() == {"market_auction": {"default_params": {"max_contracts": 1}}}
    assert "whca_router" in load_catalogue()


def test_extension_packages_register_what_they_register(
    sites: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # One package registers at import time; another only through its entry point.
    site = write_dist(
        tmp_path / "site",
        "lab-ext",
        "3.1",
        {"labtrust_gym.tasks": {"ep_task": "lab_ext_ep.tasks:EpTask"}},
        {
            "lab_ext_rt/__init__.py": (
                "from labtrust_gym.benchmarks.tasks import BenchmarkTask, register_task\n"
                "class RtTask(BenchmarkTask):\n    name = 'rt_task'\n"
                "register_task('rt_task', RtTask)\n"
            ),
            "lab_ext_ep/__init__.py": "",
            "lab_ext_ep/tasks.py": (
                "from labtrust_gym.benchmarks.tasks import BenchmarkTask\n"
                "class EpTask(BenchmarkTask):\n    name = 'ep_task'\n"
            ),
        },
    )
    install(sites, site)
    monkeypatch.setenv("LABTRUST_DISABLE_PLUGIN_AUTOLOAD", "1")
    root = _root(tmp_path, monkeypatch)
    _profile(root, "ext", extension_packages=["lab_ext_rt", "lab_ext_ep"])
    assert "ep_task" not in list_tasks() and "rt_task" not in list_tasks()
    assert main(["--profile", "ext", "plugins", "list", "--kind", "tasks"]) == 0
    out = capsys.readouterr().out
    rt = next(x for x in out.splitlines() if "rt_task" in x)
    assert "extension package lab_ext_rt (lab profile 'ext'" in rt
    ep = next(x for x in out.splitlines() if " ep_task " in x)
    assert "plugin lab-ext 3.1" in ep
    recs = {r["name"]: r for r in loaded_plugins()}
    assert recs["lab_ext_ep"]["group"] == "extension_packages"
    assert recs["lab_ext_ep"]["distribution"] == "lab-ext"
    res = run_benchmark("ep_task", 1, 0, params={"max_steps": 5})
    assert {"group": "extension_packages", "name": "lab_ext_rt"}.items() <= next(
        p for p in res["plugins"] if p["name"] == "lab_ext_rt"
    ).items()


def test_validate_policy_checks_the_profile_partner(
    sites: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = _root(tmp_path, monkeypatch)
    odir = root / "policy" / "partners" / "bad_partner" / "sla"
    odir.mkdir(parents=True)
    (odir / "sla_targets.v0.1.yaml").write_text("priorities:\n  STAT: {target_tat_s: -5}\n")
    _profile(root, "lab_v", partner_id="bad_partner")
    assert main(["validate-policy"]) == 0
    capsys.readouterr()
    assert main(["--profile", "lab_v", "validate-policy"]) == 1
    out = capsys.readouterr().out
    assert str(odir / "sla_targets.v0.1.yaml") in out and "target_tat_s" in out
