"""A broken plugin cannot take down the commands that show what is wrong; runs stay
strict; a coordination factory that returns no method fails loudly; the autoload switch
takes only its documented values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _dists import good_dist, install, write_dist

from labtrust_gym.benchmarks.runner import run_benchmark
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.cli.main import main
from labtrust_gym.errors import ConfigError, RegistryError, UnknownIdError
from labtrust_gym.plugins import PluginError, autoload_disabled, broken_plugins


def _broken_import(tmp_path: Path) -> Path:
    return write_dist(
        tmp_path / "site_broken",
        "broken-lab",
        "0.0.1",
        {"labtrust_gym.tasks": {"broken_task": "broken_lab.mod:Task"}},
        {"broken_lab/__init__.py": "", "broken_lab/mod.py": "import no_such_module_xyz\n"},
    )


def _bad_shape(tmp_path: Path) -> Path:
    return write_dist(
        tmp_path / "site_shape",
        "shape-lab",
        "0.0.2",
        {"labtrust_gym.metrics_aggregators": {"bad_agg": "shape_lab.mod:agg"}},
        {"shape_lab/__init__.py": "", "shape_lab/mod.py": "def agg():\n    return {}\n"},
    )


def test_inspection_commands_survive_a_broken_plugin_runs_do_not(
    sites: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install(sites, _broken_import(tmp_path))
    install(sites, _bad_shape(tmp_path))

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("labtrust-gym ")
    with pytest.raises(SystemExit) as ex:
        main(["--help"])
    assert ex.value.code == 0
    assert "run-benchmark" in capsys.readouterr().out

    # plugins list: exit 0, lists both broken entry points with their errors.
    assert main(["plugins", "list"]) == 0
    out = capsys.readouterr().out
    assert "plugins that could not be loaded: 2" in out
    assert "broken-lab 0.0.1: labtrust_gym.tasks broken_task = broken_lab.mod:Task" in out
    assert "ModuleNotFoundError: No module named 'no_such_module_xyz'" in out
    assert "'bad_agg'" in out and "(env, task, wall_s)" in out
    assert main(["plugins", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {b["name"] for b in doc["broken"]} == {"broken_task", "bad_agg"}
    assert all(b["error"] for b in doc["broken"])

    # validate-policy: checks the policy (exit 0) and warns about the broken plugin.
    assert main(["validate-policy"]) == 0
    captured = capsys.readouterr()
    assert "policy OK" in captured.out
    assert "labtrust: warning:" in captured.err and "broken_task" in captured.err

    # Runs stay strict: the CLI, run_benchmark and make_env refuse.
    assert main(["run-benchmark", "--task", "throughput_sla"]) == 2
    assert "broken-lab 0.0.1" in capsys.readouterr().err
    with pytest.raises(PluginError, match="failed to import"):
        run_benchmark("throughput_sla", 1, 0)
    assert {b["name"] for b in broken_plugins()} >= {"broken_task"}


def test_a_shape_error_is_raised_by_the_run_that_uses_the_registry(
    sites: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install(sites, _bad_shape(tmp_path))
    assert main(["run-benchmark", "--task", "throughput_sla"]) == 2
    err = capsys.readouterr().err
    assert "'bad_agg'" in err and "shape-lab 0.0.2" in err and "(env, task, wall_s)" in err


def test_unknown_task_says_when_autoload_is_off(
    sites: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    install(sites, good_dist(tmp_path))
    monkeypatch.setenv("LABTRUST_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert main(["run-benchmark", "--task", "acme_short_shift"]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'acme_short_shift'" in err
    assert "plugin autoload is disabled" in err and "LABTRUST_DISABLE_PLUGIN_AUTOLOAD" in err
    monkeypatch.delenv("LABTRUST_DISABLE_PLUGIN_AUTOLOAD")
    with pytest.raises(UnknownIdError, match="plugins are not loaded in this process"):
        get_task("acme_short_shift")


@pytest.mark.parametrize("value", ["2", "disable", "yes please", "-1"])
def test_the_autoload_switch_accepts_only_documented_values(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LABTRUST_DISABLE_PLUGIN_AUTOLOAD", value)
    with pytest.raises(ConfigError, match="not a switch value"):
        autoload_disabled()
    assert main(["list-tasks"]) == 2
    assert f"LABTRUST_DISABLE_PLUGIN_AUTOLOAD={value!r}" in capsys.readouterr().err
    for ok, expected in (("1", True), ("TRUE", True), ("off", False), ("", False)):
        monkeypatch.setenv("LABTRUST_DISABLE_PLUGIN_AUTOLOAD", ok)
        assert autoload_disabled() is expected


FACTORIES = {
    "returns_none": "def f(policy, repo_root, scale_config, params):\n    return None\n",
    "returns_dict": "def f(policy, repo_root, scale_config, params):\n    return {'x': 1}\n",
    "half_method": (
        "class Half:\n"
        "    def propose_actions(self, obs, infos, t):\n        return {}\n"
        "def f(policy, repo_root, scale_config, params):\n    return Half()\n"
    ),
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_a_factory_that_returns_no_coordination_method_fails_loudly(
    name: str, sites: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install(
        sites,
        write_dist(
            tmp_path / "site_coord",
            "coord-lab",
            "3.1",
            {"labtrust_gym.coordination_methods": {name: "coord_lab.m:f"}},
            {"coord_lab/__init__.py": "", "coord_lab/m.py": FACTORIES[name]},
        ),
    )
    out = tmp_path / "r.json"
    argv = ["run-benchmark", "--task", "coord_scale", "--scale", "small_smoke"]
    assert main([*argv, "--coord-method", name, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"coordination method {name!r}" in err
    assert "plugin coord-lab 3.1 (labtrust_gym.coordination_methods" in err
    assert "not a coordination method" in err
    assert not out.exists()  # no results claiming the plugin ran
    with pytest.raises(RegistryError):
        run_benchmark("coord_scale", 1, 0, scale="small_smoke", coord_method=name)
