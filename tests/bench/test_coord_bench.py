from __future__ import annotations

from labtrust_gym.bench.coord_bench import CURVE_SCALES, bench_coord


def test_coord_bench_reports_each_cell_in_its_own_process() -> None:
    rows = bench_coord(["scripted_team", "swarm_stigmergy"], ["small_smoke"], seed=2)
    assert [(r["method"], r["scale"]) for r in rows] == [
        ("scripted_team", "small_smoke"),
        ("swarm_stigmergy", "small_smoke"),
    ]
    for r in rows:
        assert r["agents"] == 4 and r["steps"] == 80
        assert r["throughput"] > 0 and r["blocked_rate"] < 0.05
        assert r["agent_steps_per_s"] > 0 and r["ms_per_step"] > 0
        assert r["peak_rss_mib"] > 10
    assert CURVE_SCALES[0] == "small_smoke" and CURVE_SCALES[-1] == "hospital_network_10k"
