"""The quick-eval / run-summary table shows completion, backlog and attacks."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from labtrust_gym.benchmarks.runner import run_benchmark
from labtrust_gym.cli.benchmark_cmds import _print_table
from labtrust_gym.cli.main import main


def _rows(text: str) -> dict[str, dict[str, str]]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    header = lines[0].split("  ")
    cols = [c.strip() for c in header if c.strip()]
    out = {}
    for ln in lines[1:]:
        cells = [c.strip() for c in ln.split("  ") if c.strip()]
        out[cells[0]] = dict(zip(cols, cells, strict=True))
    return out


def test_table_tells_the_attack_task_from_the_plain_one(tmp_path: Path) -> None:
    plain = run_benchmark("throughput_sla", 1, 0)
    attacked = run_benchmark("adversarial_disruption", 1, 0)
    buf = io.StringIO()
    _print_table([plain, attacked], file=buf)
    rows = _rows(buf.getvalue())
    for col in ("completion", "backlog", "attacks att/blk/ok", "impact"):
        assert col in rows["throughput_sla"]
    assert rows["throughput_sla"]["attacks att/blk/ok"] == "-"
    m = attacked["episodes"][0]["metrics"]
    att = rows["adversarial_disruption"]["attacks att/blk/ok"]
    assert att == f"{m['attack_attempts']}/{m['attacks_blocked']}/{m['attacks_accepted']}"
    assert rows["adversarial_disruption"]["impact"].endswith("%")
    pm = plain["episodes"][0]["metrics"]
    assert rows["throughput_sla"]["completion"] == f"{100 * pm['completion_rate']:.1f}%"
    assert rows["throughput_sla"]["backlog"] == f"{float(pm['backlog_at_end']):.1f}"


def test_run_summary_shows_the_same_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    out.write_text(json.dumps(run_benchmark("insider_key_misuse", 1, 0)))
    assert main(["run-summary", "--run", str(out)]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["insider_key_misuse"]["attacks att/blk/ok"].endswith("/0")
    assert rows["insider_key_misuse"]["completion"].endswith("%")
