"""The results' platform string: ``platform.platform()``'s, without its child process."""

from __future__ import annotations

import platform
import sys

from labtrust_gym.benchmarks.runner import platform_id, run_benchmark


def test_platform_id_is_platform_platform() -> None:
    assert platform_id() == platform.platform()


def test_results_record_it() -> None:
    res = run_benchmark("throughput_sla", 1, 0)
    assert res["environment"]["platform"] == platform.platform()
    assert res["environment"]["python"] == sys.version.split()[0]
