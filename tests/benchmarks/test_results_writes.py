"""Results files under concurrency: two writers of the same ``--out`` never expose a
partial file, share no temporary file, and each says truly what it wrote."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from labtrust_gym.benchmarks.runner import run_benchmark, write_results
from labtrust_gym.outputs import TMP_PREFIX

WRITES_PER_WRITER = 120


def _writer(path: str, results: dict[str, Any], n: int) -> None:
    for _ in range(n):
        write_results(results, path)


def test_two_writers_of_one_results_file_never_expose_a_partial_file(tmp_path: Path) -> None:
    docs = [run_benchmark("qc_cascade", 2, seed, params={"max_steps": 20}) for seed in (1, 2)]
    target = tmp_path / "results.json"
    write_results(docs[0], target)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(target), d, WRITES_PER_WRITER)) for d in docs]
    for p in procs:
        p.start()
    reads = partial = 0
    names: set[str] = set()
    while any(p.is_alive() for p in procs):
        try:
            doc = json.loads(target.read_bytes())
        except ValueError:
            partial += 1
        else:
            assert doc["seed"] in (1, 2)
        reads += 1
        names.update(os.listdir(tmp_path))
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0  # before: a writer could die on the other's renamed .tmp
    assert reads > 0
    assert partial == 0
    # no shared "<out>.tmp": every temporary name is unique to its writer
    assert "results.json.tmp" not in names
    assert json.loads(target.read_bytes()) in docs
    assert os.listdir(tmp_path) == ["results.json"]


def test_write_results_returns_the_digest_of_the_bytes_it_wrote(tmp_path: Path) -> None:
    res = run_benchmark("qc_cascade", 1, 0, params={"max_steps": 5})
    digest = write_results(res, tmp_path / "r.json")
    assert digest == hashlib.sha256((tmp_path / "r.json").read_bytes()).hexdigest()
    assert not list(tmp_path.glob(f"{TMP_PREFIX}*"))


def test_two_cli_runs_writing_one_out_each_report_what_they_wrote(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    procs = {
        seed: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labtrust_gym.cli.main",
                "run-benchmark",
                "--task",
                "qc_cascade",
                "--seed",
                str(seed),
                "--out",
                str(out),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (5, 6)
    }
    reported: dict[int, str] = {}
    for seed, proc in procs.items():
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        m = re.search(
            r"wrote (\S+) \(qc_cascade, 1 episode, seed (\d+), sha256 ([0-9a-f]{64})\)", err
        )
        assert m is not None, err
        assert m.group(1) == str(out) and int(m.group(2)) == seed
        reported[seed] = m.group(3)
    assert reported[5] != reported[6]
    final = out.read_bytes()
    winner = json.loads(final)["seed"]
    # The file holds exactly what the last writer said it wrote, and that writer's seed.
    assert hashlib.sha256(final).hexdigest() == reported[winner]
    assert os.listdir(tmp_path) == ["results.json"]
