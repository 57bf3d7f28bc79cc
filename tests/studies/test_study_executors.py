"""Executors: the same spec gives the same cells inline, in a process pool of two workers
and on a local Dask cluster (with and without a scheduler address)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _study_helpers import cell_doc

from labtrust_gym.errors import ConfigError
from labtrust_gym.studies import expand_cells, load_study_spec, run_study
from labtrust_gym.studies.executors import open_executor

#: Wall-clock fields: they differ run to run, whatever the executor.
WALL_CLOCK = ("wall_s", "agent_steps_per_s")


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    res = dict(doc["results"])
    res.pop("environment")
    res["episodes"] = [
        {**e, "metrics": {k: v for k, v in e["metrics"].items() if k not in WALL_CLOCK}}
        for e in res["episodes"]
    ]
    res["summary"] = {k: v for k, v in res["summary"].items() if k not in WALL_CLOCK}
    return {"cell": doc["cell"], "fingerprint": doc["fingerprint"], "results": res}


def test_inline_process_pool_and_dask_give_identical_cells(
    tmp_path: Path, spec_file: Callable[..., Path]
) -> None:
    from distributed import LocalCluster

    spec = load_study_spec(
        spec_file(
            methods=["scripted_team", "gossip_consensus"],
            injections=["none", "INJ-NET-DROP-SPIKE-001"],
            episodes_per_cell=1,
        )
    )
    ids = [c.cell_id for c in expand_cells(spec)]
    runs = {
        "inline": run_study(spec, tmp_path / "inline", executor="inline"),
        "local": run_study(spec, tmp_path / "local", executor="local", workers=2),
        "dask-own": run_study(spec, tmp_path / "dask-own", executor="dask", workers=2),
    }
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        runs["dask"] = run_study(
            spec, tmp_path / "dask", executor="dask", scheduler=cluster.scheduler_address
        )
    for name, outcome in runs.items():
        assert outcome.complete, name
        assert sorted(outcome.ran) == sorted(ids), name
    assert runs["local"].manifest["executor"]["kind"] == "local"
    assert runs["local"].manifest["executor"]["workers"] == 2
    assert runs["dask"].manifest["executor"]["scheduler"] == cluster.scheduler_address
    assert runs["dask-own"].manifest["executor"]["local_cluster"] is True

    pids = set()
    for cid in ids:
        base = cell_doc(tmp_path / "local", cid)
        pids.add(base["run"]["pid"])
        for name in ("dask", "dask-own"):
            other = cell_doc(tmp_path / name, cid)
            assert _comparable(other) == _comparable(base), (name, cid)
            pids.add(other["run"]["pid"])
        # Inline runs in this test process, whose registries earlier tests may have
        # overridden (recorded in plugin_overrides): compare what the cell measured.
        inline = _comparable(cell_doc(tmp_path / "inline", cid))["results"]
        assert inline["episodes"] == _comparable(base)["results"]["episodes"], cid
        hashes = [e["metrics"]["episode_log_sha256"] for e in inline["episodes"]]
        assert all(len(h) == 64 for h in hashes)
    assert os.getpid() not in pids and len(pids) >= 2  # the cells ran in other processes
    summaries = {n: (tmp_path / n / "summary_coord.csv").read_bytes() for n in runs}
    assert len(set(summaries.values())) == 1
    gossip_drop = cell_doc(tmp_path / "dask", ids[-1])["results"]["episodes"][0]["metrics"]
    assert gossip_drop["comm.drop_rate"] > 0  # the drop spike reached the bus


def test_dask_and_scheduler_options_fail_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # not installed
    with pytest.raises(ConfigError, match=r"labtrust-gym\[dask\]"), open_executor("dask", 1):
        pass
    with (
        pytest.raises(ConfigError, match="--scheduler needs --executor dask"),
        open_executor("local", 1, scheduler="tcp://127.0.0.1:1"),
    ):
        pass
    with pytest.raises(ConfigError, match="--workers must be >= 1"), open_executor("local", 0):
        pass
    with pytest.raises(ConfigError, match="unknown executor"), open_executor("ray", 1):
        pass
