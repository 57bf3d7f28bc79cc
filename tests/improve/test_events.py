"""The event log: hash chain, single locked writer, torn-tail repair, tamper detection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labtrust_gym.errors import ConfigError
from labtrust_gym.improve.events import GENESIS, Event, EventBus, read_events, verify_chain


def _write(d: Path, n: int = 5) -> list[dict]:
    with EventBus(d) as bus:
        return [
            bus.emit(Event("r1", "collect", "k", i, {"i": i}), sync=i == n - 1) for i in range(n)
        ]


def test_lines_form_a_chain(tmp_path: Path) -> None:
    lines = _write(tmp_path)
    assert [e["seq"] for e in lines] == list(range(5))
    assert lines[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(lines, lines[1:], strict=False))
    assert set(lines[0]) == {
        "schema",
        "seq",
        "ts",
        "run_id",
        "cycle",
        "stage",
        "kind",
        "payload",
        "prev_hash",
        "hash",
    }
    r = verify_chain(tmp_path)
    assert r == {"ok": True, "events": 5, "head": lines[-1]["hash"], "problems": []}
    assert read_events(tmp_path) == lines


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    first = _write(tmp_path, 2)
    with EventBus(tmp_path) as bus:
        e = bus.emit(Event("r1", "run", "again"))
    assert (e["seq"], e["prev_hash"]) == (2, first[-1]["hash"])
    assert verify_chain(tmp_path)["ok"]


def test_the_hash_ignores_only_ts(tmp_path: Path) -> None:
    a = _write(tmp_path / "a")
    b = _write(tmp_path / "b")
    assert [x["hash"] for x in a] == [x["hash"] for x in b]
    f = tmp_path / "a" / "events.jsonl"
    docs = [json.loads(x) for x in f.read_text().splitlines()]
    docs[1]["ts"] = "1999-01-01T00:00:00.000Z"
    f.write_text("".join(json.dumps(d) + "\n" for d in docs))
    assert verify_chain(f)["ok"]


@pytest.mark.parametrize(
    "tamper, expect",
    [
        (lambda docs: docs[2]["payload"].update(i=99), "hash does not match"),
        (lambda docs: docs.pop(2), "seq 3, expected 2"),
        (lambda docs: docs.insert(1, docs.pop(3)), "prev_hash"),
        (lambda docs: docs[4].update(kind="other"), "line 5: hash does not match"),
        (lambda docs: docs[0].pop("schema"), "line 1: keys"),
    ],
)
def test_tampering_is_detected(tmp_path: Path, tamper, expect: str) -> None:
    _write(tmp_path)
    f = tmp_path / "events.jsonl"
    docs = [json.loads(x) for x in f.read_text().splitlines()]
    tamper(docs)
    f.write_text("".join(json.dumps(d) + "\n" for d in docs))
    r = verify_chain(f)
    assert not r["ok"]
    assert any(expect in p for p in r["problems"]), r["problems"]


def test_a_recomputed_hash_still_breaks_the_next_link(tmp_path: Path) -> None:
    from labtrust_gym.improve.events import event_hash

    _write(tmp_path)
    f = tmp_path / "events.jsonl"
    docs = [json.loads(x) for x in f.read_text().splitlines()]
    docs[1]["payload"]["i"] = 7
    docs[1]["hash"] = event_hash(docs[1])  # a forger fixes the line's own hash
    f.write_text("".join(json.dumps(d) + "\n" for d in docs))
    r = verify_chain(f)
    assert r["problems"] == ["line 3: prev_hash does not match the previous line's hash"]


def test_a_torn_tail_is_reported_then_repaired_with_an_event(tmp_path: Path) -> None:
    _write(tmp_path, 3)
    f = tmp_path / "events.jsonl"
    with open(f, "ab") as fh:
        fh.write(b'{"seq": 3, "half')
    assert "torn" in verify_chain(f)["problems"][0]
    with EventBus(tmp_path):
        pass
    ev = read_events(tmp_path)
    assert ev[-1]["kind"] == "log_tail_repaired" and ev[-1]["payload"] == {"dropped_bytes": 16}
    assert ev[-1]["seq"] == 3 and verify_chain(f)["ok"]


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    with EventBus(tmp_path):
        with pytest.raises(ConfigError, match="another process"):
            EventBus(tmp_path)
        code = (
            "import sys\nfrom labtrust_gym.improve.events import EventBus\n"
            "try:\n    EventBus(sys.argv[1])\nexcept Exception as e:\n    print(type(e).__name__)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60
        )
        assert out.stdout.strip() == "ConfigError"
    with EventBus(tmp_path) as bus:  # released on close
        bus.emit(Event("r1", "run", "ok"))
