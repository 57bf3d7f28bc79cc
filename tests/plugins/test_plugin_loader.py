"""The entry-point loader against real distributions (a site dir with a .dist-info)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _dists import GOOD_EPS, fresh_loader, good_dist, install, write_dist

from labtrust_gym import extensions, plugins, registry
from labtrust_gym.baselines.coordination import get_coordination_method_factory
from labtrust_gym.benchmarks.metrics import get_metrics_aggregator
from labtrust_gym.benchmarks.official_pack import load_benchmark_pack
from labtrust_gym.benchmarks.runner import run_benchmark, validate_results
from labtrust_gym.benchmarks.security_runner import run_security_suite
from labtrust_gym.benchmarks.tasks import get_task, list_tasks
from labtrust_gym.cli.main import main
from labtrust_gym.domain import get_domain_adapter_factory
from labtrust_gym.engine.invariants_runtime import get_invariant_handler
from labtrust_gym.errors import UnknownIdError
from labtrust_gym.plugins import PluginError, load_plugins, loaded_plugins
from labtrust_gym.security.safety_case import run_safety_case


def test_groups_are_the_eight_of_the_reference() -> None:
    assert sorted(plugins.ENTRY_POINT_GROUPS) == sorted(
        f"labtrust_gym.{k}"
        for k in (
            "domains",
            "coordination_methods",
            "tasks",
            "invariant_handlers",
            "security_suite_providers",
            "safety_case_providers",
            "metrics_aggregators",
            "benchmark_pack_loaders",
        )
    )
    assert set(plugins.ENTRY_POINT_GROUPS.values()) == set(extensions.extension_registries())


def test_good_plugin_registers_every_kind_with_its_origin(
    sites: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install(sites, good_dist(tmp_path))
    recs = load_plugins()
    mine = [r for r in recs if r["distribution"] == "acme-lab"]
    assert {(r["group"], r["name"]) for r in mine} == {
        (g, n) for g, eps in GOOD_EPS.items() for n in eps
    }
    assert all(r["version"] == "1.2.3" and not r["override"] for r in mine)
    task_rec = next(r for r in mine if r["group"] == "labtrust_gym.tasks")
    assert task_rec["value"] == "acme_lab.ext:ShortShift"

    # Every registry resolves the plugin's object, and names where it came from.
    assert get_task("acme_short_shift").__name__ == "ShortShift"
    assert get_coordination_method_factory("acme_idle").__name__ == "idle_factory"
    assert get_invariant_handler("state.acme_ok").__name__ == "always_ok"
    assert get_metrics_aggregator("acme_tagged").__name__ == "tagged_metrics"
    assert callable(get_domain_adapter_factory("acme_domain"))
    exts = extensions.registered_extensions()
    origin = {(k, e["id"]): e["origin"] for k, items in exts.items() for e in items}
    assert origin[("tasks", "acme_short_shift")].startswith("plugin acme-lab 1.2.3")
    assert (
        "labtrust_gym.tasks: acme_short_shift = acme_lab.ext:ShortShift"
        in origin[("tasks", "acme_short_shift")]
    )
    assert origin[("tasks", "throughput_sla")] == registry.BUILTIN_ORIGIN

    # The providers work through the public entry functions.
    assert run_security_suite("acme_suite")["attacks"] == [{"attack_id": "ACME-1", "passed": True}]
    assert run_safety_case("acme_case")["provider_id"] == "acme_case"
    pack, version, _ = load_benchmark_pack(loader_id="acme_pack")
    assert pack["pack_id"] == "acme" and version == "0.1"

    # A run of the plugin task records the plugins in its results.
    out = tmp_path / "r.json"
    assert main(["run-benchmark", "--task", "acme_short_shift", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    validate_results(res)
    assert res["task"] == "acme_short_shift" and res["max_steps"] == 60
    assert {(p["distribution"], p["version"], p["name"]) for p in res["plugins"]} >= {
        ("acme-lab", "1.2.3", "acme_short_shift"),
        ("acme-lab", "1.2.3", "acme_idle"),
    }
    assert res["plugin_overrides"] == [] or all(
        o["by"] != "acme-lab" for o in res["plugin_overrides"]
    )
    capsys.readouterr()

    # labtrust plugins list shows every kind, the ids and their origins.
    assert main(["plugins", "list"]) == 0
    out_text = capsys.readouterr().out
    for kind in plugins.ENTRY_POINT_GROUPS.values():
        assert kind in out_text
    line = next(x for x in out_text.splitlines() if "acme_short_shift" in x and "tasks" in x)
    assert "plugin acme-lab 1.2.3" in line
    assert "acme-lab 1.2.3: labtrust_gym.tasks acme_short_shift = acme_lab.ext:ShortShift" in (
        out_text
    )
    assert main(["plugins", "list", "--kind", "tasks", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc["registries"]) == ["tasks"]
    assert {"id": "acme_short_shift", "origin": origin[("tasks", "acme_short_shift")]} in doc[
        "registries"
    ]["tasks"]


def test_plugins_load_once(sites: list[Path], tmp_path: Path) -> None:
    install(sites, good_dist(tmp_path))
    first = load_plugins()
    again = load_plugins()  # no "already registered": each entry point is loaded once
    assert first == again
    assert len([r for r in again if r["name"] == "acme_short_shift"]) == 1


def test_registries_do_not_load_plugins_the_entry_points_do(
    sites: list[Path], tmp_path: Path
) -> None:
    install(sites, good_dist(tmp_path))
    # Looking an id up in a registry loads no plugin (registries sit below the loader)...
    assert "acme_short_shift" not in list_tasks()
    with pytest.raises(UnknownIdError, match="plugins are not loaded in this process"):
        get_task("acme_short_shift")
    assert not any(r["distribution"] == "acme-lab" for r in loaded_plugins())
    # ...the entry points do: make_env, run_benchmark, the CLI.
    from labtrust_gym.envs import make_env

    env = make_env("acme_short_shift", seed=0)
    assert env.task.max_steps == 60
    assert any(r["distribution"] == "acme-lab" for r in loaded_plugins())
    assert "acme_short_shift" in list_tasks()


def test_run_benchmark_loads_the_plugins(sites: list[Path], tmp_path: Path) -> None:
    install(sites, good_dist(tmp_path))
    res = run_benchmark("acme_short_shift", 1, 0)
    assert res["max_steps"] == 60
    assert ("acme-lab", "acme_short_shift") in {
        (p["distribution"], p["name"]) for p in res["plugins"]
    }


def test_autoload_switch(
    sites: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    install(sites, good_dist(tmp_path))
    monkeypatch.setenv("LABTRUST_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "acme_short_shift" not in list_tasks()
    with pytest.raises(UnknownIdError, match="acme_idle"):
        get_coordination_method_factory("acme_idle")
    assert main(["run-benchmark", "--task", "acme_short_shift"]) == 2  # the CLI honours it
    err = capsys.readouterr().err
    assert "unknown task 'acme_short_shift'" in err
    assert "plugin autoload is disabled (LABTRUST_DISABLE_PLUGIN_AUTOLOAD is set)" in err
    assert loaded_plugins() == []
    load_plugins()  # an explicit call still loads
    assert "acme_short_shift" in list_tasks()
    monkeypatch.delenv("LABTRUST_DISABLE_PLUGIN_AUTOLOAD")
    fresh_loader()


def _site_with(
    tmp_path: Path, group: str, name: str, value: str, source: str, dist: str = "broken-lab"
) -> Path:
    return write_dist(
        tmp_path / f"site_{dist}",
        dist,
        "0.0.1",
        {group: {name: value}},
        {"broken_lab/__init__.py": "", "broken_lab/mod.py": source},
    )


def test_broken_import_fails_loudly_naming_entry_point_group_and_distribution(
    sites: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install(
        sites,
        _site_with(
            tmp_path,
            "labtrust_gym.tasks",
            "broken_task",
            "broken_lab.mod:Task",
            "import no_such_module_xyz\n",
        ),
    )
    with pytest.raises(PluginError) as err:
        load_plugins()
    msg = str(err.value)
    for part in (
        "'broken_task'",
        "broken_lab.mod:Task",
        "labtrust_gym.tasks",
        "broken-lab 0.0.1",
        "ModuleNotFoundError",
        "no_such_module_xyz",
    ):
        assert part in msg, (part, msg)
    # Not skipped: every run and every command that runs something fail the same way.
    assert main(["list-tasks"]) == 2
    assert "broken_task" in capsys.readouterr().err
    with pytest.raises(PluginError, match="broken-lab"):
        run_benchmark("throughput_sla", 1, 0)
    from labtrust_gym.envs import make_env

    with pytest.raises(PluginError, match="broken-lab"):
        make_env("throughput_sla")


@pytest.mark.parametrize(
    ("group", "name", "source", "expected"),
    [
        (
            "labtrust_gym.tasks",
            "not_a_task",
            "class Thing:\n    name = 'not_a_task'\n",
            "not a subclass of labtrust_gym.benchmarks.tasks.BenchmarkTask",
        ),
        (
            "labtrust_gym.tasks",
            "wrong_name",
            "from labtrust_gym.benchmarks.tasks import BenchmarkTask\n"
            "class Thing(BenchmarkTask):\n    name = 'other_name'\n",
            "Thing.name is 'other_name'",
        ),
        (
            "labtrust_gym.coordination_methods",
            "bad_method",
            "def Thing(policy):\n    return None\n",
            "(policy, repo_root, scale_config, params)",
        ),
        (
            "labtrust_gym.invariant_handlers",
            "nodot",
            "def Thing(env, event, params):\n    return None\n",
            "must be 'type.check_name'",
        ),
        (
            "labtrust_gym.invariant_handlers",
            "state.bad_sig",
            "def Thing(env):\n    return None\n",
            "(env, event, params)",
        ),
        (
            "labtrust_gym.metrics_aggregators",
            "bad_agg",
            "def Thing():\n    return {}\n",
            "(env, task, wall_s)",
        ),
        (
            "labtrust_gym.security_suite_providers",
            "half_suite",
            "class Thing:\n    def load_suite(self, policy_root, partner_id):\n        return {}\n",
            "has no method run_suite",
        ),
        (
            "labtrust_gym.safety_case_providers",
            "no_case",
            "Thing = 42\n",
            "has no method load_claims",
        ),
        (
            "labtrust_gym.benchmark_pack_loaders",
            "bad_loader",
            "def Thing(repo_root):\n    return None\n",
            "(repo_root, prefer_v02, partner_id)",
        ),
        ("labtrust_gym.domains", "bad_domain", "Thing = 'not callable'\n", "not callable"),
        (
            "labtrust_gym.security_suite_providers",
            "exploding",
            "def Thing():\n    raise ValueError('boom')\n",
            "could not be registered: ValueError: boom",
        ),
    ],
)
def test_wrong_shape_is_an_error_naming_the_plugin(
    sites: list[Path], tmp_path: Path, group: str, name: str, source: str, expected: str
) -> None:
    install(sites, _site_with(tmp_path, group, name, "broken_lab.mod:Thing", source))
    with pytest.raises(PluginError) as err:
        load_plugins()
    msg = str(err.value)
    assert expected in msg, msg
    assert f"{name!r}" in msg and group in msg and "broken-lab 0.0.1" in msg
    kind = plugins.ENTRY_POINT_GROUPS[group]
    assert name not in extensions.extension_registries()[kind]._items


def test_duplicate_id_is_an_error_unless_the_plugin_asks_to_override(
    sites: list[Path], tmp_path: Path
) -> None:
    src = (
        "from labtrust_gym.benchmarks.tasks.throughput_sla import ThroughputSLA\n"
        "class Faster(ThroughputSLA):\n"
        "    '''throughput_sla, ten minutes.'''\n"
        "    def __init__(self, params=None, **kw):\n"
        "        super().__init__({'max_steps': 60, **(params or {})}, **kw)\n"
    )
    site = _site_with(
        tmp_path, "labtrust_gym.tasks", "throughput_sla", "broken_lab.mod:Faster", src
    )
    install(sites, site)
    with pytest.raises(PluginError) as err:
        load_plugins()
    msg = str(err.value)
    assert "already registered (by labtrust_gym (built-in))" in msg and "broken-lab" in msg
    tasks = extensions.extension_registries()["tasks"]
    assert tasks.get("throughput_sla").__module__ == (
        "labtrust_gym.benchmarks.tasks.throughput_sla"
    )  # the built-in is untouched, and every run raises until the plugin is fixed
    with pytest.raises(PluginError, match="already registered"):
        run_benchmark("throughput_sla", 1, 0)

    # The same plugin with the explicit flag replaces the built-in, and it is recorded.
    (site / "broken_lab" / "mod.py").write_text(src + "Faster.labtrust_override = True\n")
    import sys

    sys.modules.pop("broken_lab.mod", None)
    before = len(registry.OVERRIDES)
    fresh_loader()
    recs = load_plugins()
    assert next(r for r in recs if r["name"] == "throughput_sla")["override"] is True
    assert get_task("throughput_sla").__name__ == "Faster"
    rec = registry.OVERRIDES[before]
    assert rec["kind"] == "task" and rec["id"] == "throughput_sla"
    assert rec["replaced"] == registry.BUILTIN_ORIGIN and "broken-lab 0.0.1" in rec["by"]
    res = run_benchmark("throughput_sla", 1, 0)
    validate_results(res)
    assert res["max_steps"] == 60
    assert rec in res["plugin_overrides"]


def test_two_distributions_claiming_one_id(sites: list[Path], tmp_path: Path) -> None:
    install(sites, good_dist(tmp_path))
    other = write_dist(
        tmp_path / "site_other",
        "zeta-lab",
        "2.0",
        {"labtrust_gym.coordination_methods": {"acme_idle": "zeta_lab.m:f"}},
        {"zeta_lab/__init__.py": "", "zeta_lab/m.py": "def f(p, r, s, q):\n    return None\n"},
    )
    install(sites, other)
    with pytest.raises(PluginError) as err:
        load_plugins()
    msg = str(err.value)
    assert "zeta-lab 2.0" in msg and "already registered (by plugin acme-lab 1.2.3" in msg


def test_runtime_registration_needs_override_and_is_recorded(sites: list[Path]) -> None:
    from labtrust_gym.benchmarks.metrics import compute_episode_metrics, register_metrics_aggregator
    from labtrust_gym.errors import RegistryError

    with pytest.raises(RegistryError, match="already registered"):
        register_metrics_aggregator("default", compute_episode_metrics)
    before = len(registry.OVERRIDES)
    register_metrics_aggregator("default", compute_episode_metrics, override=True, origin="tests")
    assert registry.OVERRIDES[before:] == [
        {
            "kind": "metrics aggregator",
            "id": "default",
            "by": "tests",
            "replaced": registry.BUILTIN_ORIGIN,
        }
    ]
