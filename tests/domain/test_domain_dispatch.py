"""``domain_id`` is real: a lab profile's ``domain_id`` or ``--domain`` selects the domain
whose adapter the run steps — here a domain from a plugin distribution."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from _dists import fresh_loader, install, sandbox, write_dist  # noqa: E402

from labtrust_gym.benchmarks.runner import run_benchmark  # noqa: E402
from labtrust_gym.cli.main import main  # noqa: E402
from labtrust_gym.domain import BenchmarkEnv, LabTrustEnvAdapter  # noqa: E402
from labtrust_gym.engine import LabEngine  # noqa: E402
from labtrust_gym.envs import make_env  # noqa: E402
from labtrust_gym.errors import PolicyValidationError  # noqa: E402
from labtrust_gym.plugins import PluginError  # noqa: E402

DOMAIN_MODULE = '''
from labtrust_gym.engine import LabEngine

CALLS = []
STEPS = []


class CountingLab(LabEngine):
    """The hospital lab, counting every event it is stepped with."""

    def step(self, event):
        STEPS[-1] += 1
        return super().step(event)


def counting_lab(workflow_spec, config):
    CALLS.append((workflow_spec["name"], sorted(config)))
    STEPS.append(0)
    return CountingLab(config["policy"])


def not_an_engine(workflow_spec, config):
    return {"reset": None}
'''


@pytest.fixture
def domain_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.delenv("LABTRUST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("LABTRUST_PROFILE", raising=False)
    with sandbox() as sites:
        fresh_loader()
        install(
            sites,
            write_dist(
                tmp_path / "site_dom",
                "counting-lab",
                "0.3",
                {
                    "labtrust_gym.domains": {
                        "counting_lab": "counting_lab.dom:counting_lab",
                        "not_an_engine": "counting_lab.dom:not_an_engine",
                    }
                },
                {"counting_lab/__init__.py": "", "counting_lab/dom.py": DOMAIN_MODULE},
            ),
        )
        yield tmp_path


def _mod() -> object:
    return sys.modules["counting_lab.dom"]


def test_the_protocols_of_the_reference() -> None:
    env = make_env("throughput_sla", seed=0)
    assert isinstance(env, BenchmarkEnv) and isinstance(env.engine, LabTrustEnvAdapter)
    assert env.get_dt_s() == env.task.dt_s
    assert env.get_zone_ids() == sorted(env.engine.world.zones)
    assert env.get_device_ids() and all(isinstance(d, str) for d in env.get_device_ids())
    assert not isinstance(object(), LabTrustEnvAdapter)


def test_run_benchmark_drives_the_domain_adapter(domain_plugin: Path) -> None:
    res = run_benchmark("throughput_sla", 2, 0, domain="counting_lab")
    mod = _mod()
    assert mod.CALLS == [("throughput_sla", ["partner_id", "policy", "policy_root", "task"])]
    assert mod.STEPS[-1] > 0  # the runner really stepped the plugin's adapter
    assert res["domain_id"] == "counting_lab"
    assert {e["metrics"]["domain_id"] for e in res["episodes"]} == {"counting_lab"}
    # Same engine semantics as the built-in domain: same metrics.
    base = run_benchmark("throughput_sla", 2, 0)
    assert base["domain_id"] == "hospital_lab"
    assert [e["metrics"]["throughput"] for e in res["episodes"]] == [
        e["metrics"]["throughput"] for e in base["episodes"]
    ]


def test_a_profile_domain_id_and_the_cli_option(
    domain_plugin: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = domain_plugin / "root"
    prof = root / "policy" / "lab_profiles" / "counting.v0.1.yaml"
    prof.parent.mkdir(parents=True)
    prof.write_text(
        'version: "0.1"\nprofile_id: counting\ndescription: "x"\ndomain_id: counting_lab\n'
    )
    monkeypatch.setenv("LABTRUST_EXTRA_ROOTS", str(root))
    out = domain_plugin / "r.json"
    assert (
        main(
            [
                "--profile",
                "counting",
                "run-benchmark",
                "--task",
                "throughput_sla",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["domain_id"] == "counting_lab"
    assert len(_mod().CALLS) == 1 and _mod().STEPS[-1] > 0
    # --domain wins over the profile.
    assert (
        main(
            [
                "--profile",
                "counting",
                "run-benchmark",
                "--task",
                "throughput_sla",
                "--domain",
                "hospital_lab",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["domain_id"] == "hospital_lab"
    assert len(_mod().CALLS) == 1
    capsys.readouterr()
    assert main(["run-benchmark", "--task", "throughput_sla", "--domain", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown domain 'nope'" in err and "counting_lab" in err and "hospital_lab" in err


def test_make_env_takes_the_domain(domain_plugin: Path) -> None:
    env = make_env("throughput_sla", seed=0, domain="counting_lab")
    assert type(env.engine).__name__ == "CountingLab"
    env.step({a: 1 for a in env.agents})
    assert _mod().STEPS[-1] > 0


def test_an_adapter_that_is_not_an_engine_is_refused(domain_plugin: Path) -> None:
    with pytest.raises(PluginError) as err:
        run_benchmark("throughput_sla", 1, 0, domain="not_an_engine")
    msg = str(err.value)
    assert "domain 'not_an_engine'" in msg and "plugin counting-lab 0.3" in msg
    assert "not a domain adapter" in msg


def test_an_invariant_without_handler_stops_the_run_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    src = Path(__file__).resolve().parents[2] / "policy"
    pdir = tmp_path / "policy"
    shutil.copytree(src, pdir)
    inv = pdir / "invariants" / "invariant_registry.v0.1.yaml"
    inv.write_text(inv.read_text().replace("check: specimen_single_location", "check: gone", 1))
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(pdir))
    with pytest.raises(PolicyValidationError) as err:
        run_benchmark("throughput_sla", 1, 0)
    ((file, path, msg),) = err.value.problems
    assert file == str(inv) and path.startswith("invariants[") and "'state.gone'" in msg
    assert isinstance(LabEngine, type)
