"""The env benchmark reports its figures (structure only: no timing assertions)."""

from __future__ import annotations

import json

import pytest

from labtrust_gym.bench.env_bench import ENV_SCALES, bench_env_noop, bench_env_noop_isolated
from labtrust_gym.cli.main import main
from labtrust_gym.errors import UnknownIdError

_FIELDS = {
    "scale",
    "agents",
    "steps",
    "obs_dim",
    "wall_s",
    "setup_s",
    "reset_s",
    "agent_steps_per_s",
    "ms_per_step",
    "peak_rss_mib",
}


def test_bench_env_noop_reports_speed_setup_and_memory() -> None:
    r = bench_env_noop("small_smoke", steps=500)
    assert set(r) == _FIELDS
    assert r["agents"] == 4 and r["steps"] == 80  # capped at the preset's horizon
    assert r["agent_steps_per_s"] > 0 and r["ms_per_step"] > 0 and r["setup_s"] > 0
    assert r["peak_rss_mib"] is None or r["peak_rss_mib"] > 10
    assert set(ENV_SCALES) >= {"hospital_network_2k", "hospital_network_10k"}


def test_isolated_run_and_unknown_preset() -> None:
    r = bench_env_noop_isolated("small_smoke", steps=3)
    assert set(r) == _FIELDS and r["steps"] == 3
    with pytest.raises(UnknownIdError, match="hospital_network_10k"):
        bench_env_noop_isolated("no_such_preset")


def test_cli_env_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "env", "--scale", "small_smoke", "--steps", "4", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["scale"] == "small_smoke" and r["steps"] == 4
    assert main(["bench", "env", "--scale", "no_such_preset"]) == 2
