"""Options and parameters that do not apply are errors, not silently ignored: unknown task
parameter keys, a scale preset on a task without a scale config, two team controllers at
once, partial or misspelt ``arrivals`` entries."""

from __future__ import annotations

from typing import Any

import pytest

import labtrust_gym.benchmarks.runner as bench_runner
from labtrust_gym.benchmarks.runner import run_benchmark
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.cli.main import main
from labtrust_gym.errors import ConfigError

ENTRY: dict[str, Any] = {
    "site_id": "SITE_HUB",
    "rate_per_min": 1.0,
    "start_s": 0,
    "end_s": 600,
    "priority_mix": {"ROUTINE": 1.0},
    "panel_mix": {"UE": 1.0},
}


@pytest.fixture
def no_episode(monkeypatch: pytest.MonkeyPatch) -> None:
    def episode(*a: Any, **k: Any) -> Any:
        raise AssertionError("an episode ran despite an option that does not apply")

    monkeypatch.setattr(bench_runner, "run_episode", episode)


@pytest.mark.parametrize(
    ("params", "named", "hint"),
    [
        ({"arival_rate": 3}, "'arival_rate'", "arrivals"),
        ({"max_step": 10}, "'max_step'", "max_steps"),
        ({"reward_config": {"relase": 2.0}}, "'reward_config.relase'", "release"),
        ({"reward_config": {"violation": {"critcal": -9}}}, "violation.critcal", "critical"),
    ],
)
def test_an_unknown_task_parameter_is_an_error_naming_it(
    params: dict[str, Any], named: str, hint: str, no_episode: None
) -> None:
    with pytest.raises(ConfigError, match="unknown parameter") as exc:
        run_benchmark("throughput_sla", 1, 0, params=params)
    assert named in str(exc.value) and f"did you mean '{hint}'" in str(exc.value)
    assert "throughput_sla" in str(exc.value)


def test_parameters_a_task_really_has_are_accepted() -> None:
    # keys of the defaults, of the task's own entry, and declared optional ones
    assert get_task("throughput_sla")(params={"max_steps": 7}).max_steps == 7
    adv = get_task("adversarial_disruption")(params={"adversary": {"enabled": False}})
    assert adv.params["adversary"]["enabled"] is False
    scale = get_task("coord_scale")(params={"injection": "none"}, scale_config="small_smoke")
    assert scale.injection_id() is None
    risk = get_task("coord_risk")(
        params={"injection": "INJ-COLLUSION-001", "injection_params": {}},
        scale_config="small_smoke",
    )
    assert risk.injection_id() == "INJ-COLLUSION-001"
    with pytest.raises(ConfigError, match="'adversary'"):
        get_task("throughput_sla")(params={"adversary": {"enabled": False}})


def test_scale_on_a_task_without_a_scale_config_is_exit_2(
    no_episode: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run-benchmark", "--task", "throughput_sla", "--scale", "small_smoke"]) == 2
    err = capsys.readouterr().err
    assert "throughput_sla has no scale config" in err and "coord_scale" in err
    with pytest.raises(ConfigError, match="no scale config"):
        run_benchmark("qc_cascade", 1, 0, scale="small_smoke")


def test_random_controller_with_a_coordination_method_is_exit_2(
    no_episode: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run-benchmark", "--task", "coord_scale", "--controller", "random"]
    assert main([*argv, "--coord-method", "market_auction"]) == 2
    err = capsys.readouterr().err
    assert "--controller random" in err and "--coord-method" in err
    with pytest.raises(ConfigError, match="both drive the team"):
        run_benchmark("coord_scale", 1, 0, controller="random", coord_method="market_auction")


@pytest.mark.parametrize(
    "missing", ["site_id", "rate_per_min", "end_s", "priority_mix", "panel_mix"]
)
def test_a_partial_arrivals_entry_names_the_entry_and_the_missing_field(
    missing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    partial = {k: v for k, v in ENTRY.items() if k != missing}
    with pytest.raises(ConfigError, match=rf"arrivals\[1\]: missing field '{missing}'"):
        run_benchmark("throughput_sla", 1, 0, params={"arrivals": [ENTRY, partial]})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rate_per_minute": 1}, "field 'rate_per_minute' (did you mean 'rate_per_min'?)"),
        ({"site_id": "SITE_MOON"}, "unknown site_id 'SITE_MOON'"),
        ({"panel_mix": {"UE+XYZ": 1.0}}, "unknown panel 'XYZ'"),
        ({"priority_mix": {}}, "priority_mix must be a non-empty mapping"),
        ({"panel_mix": {"UE": 0}}, "panel_mix weights sum to 0"),
        ({"rate_per_min": float("nan")}, "rate_per_min must be a finite number"),
        ({"rate_per_min": "fast"}, "rate_per_min must be a finite number"),
        ({"end_s": -5}, "end_s (-5) is before start_s (0)"),
    ],
)  # fmt: skip
def test_a_bad_arrivals_entry_is_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        run_benchmark("throughput_sla", 1, 0, params={"arrivals": [{**ENTRY, **change}]})
    assert str(exc.value).startswith("arrivals[0]: ")
    assert message in str(exc.value)


def test_a_partial_arrivals_entry_from_the_cli_is_exit_2(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same entry through a policy directory's tasks file (what a user edits).
    import shutil

    import yaml

    from labtrust_gym.config import get_policy_dir

    pol = tmp_path / "policy"
    shutil.copytree(get_policy_dir(), pol)
    tasks = pol / "tasks" / "benchmark_tasks.v0.1.yaml"
    doc = yaml.safe_load(tasks.read_text(encoding="utf-8"))
    doc["tasks"]["throughput_sla"] = {"arrivals": [{"rate_per_min": 1.0, "end_s": 600}]}
    tasks.write_text(yaml.safe_dump(doc), encoding="utf-8")
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(pol))
    assert main(["run-benchmark", "--task", "throughput_sla"]) == 2
    err = capsys.readouterr().err
    assert "arrivals[0]: missing fields 'site_id', 'priority_mix', 'panel_mix'" in err
    assert "Traceback" not in err and "KeyError" not in err
