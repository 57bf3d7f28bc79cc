"""The hash-chained audit log: chain definition, tamper detection, export, checkpoints."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from _scenario import run_scenario

from labtrust_gym.engine.audit_log import GENESIS_HASH, AuditLog, chain_hash
from labtrust_gym.engine.canonical import canonical_json

RECORDS = [
    {"event": {"action_type": "NOOP", "agent_id": "A_RUNNER_01"}, "seq": 1, "t_s": 0.0},
    {"b": [1, 2, 3], "a": {"z": None, "y": True}, "unicode": "Prélèvement \u00b5L"},
    {"seq": 3, "t_s": 12.5, "outcome": {"status": "BLOCKED", "blocked_reason_code": "ZONE_SAME"}},
    {"nested": {"deep": {"deeper": [{"k": "v"}, 1.25, -7]}}},
    {},
]


def _small_log() -> AuditLog:
    log = AuditLog()
    for r in RECORDS:
        log.append(r)
    return log


@pytest.fixture(scope="module")
def scenario_log() -> AuditLog:
    engine, _ = run_scenario(seed=3, timing_mode="explicit")
    return engine.audit


# ------------------------------------------------------------------------ definition ---
def test_empty_log() -> None:
    log = AuditLog()
    assert GENESIS_HASH == "0" * 64
    assert log.head_hash == GENESIS_HASH
    assert len(log) == 0 and log.length == 0
    assert log.last_event_hash is None
    assert log.verify() == (True, None)
    assert log.to_jsonl() == b""
    assert log.sha256() == hashlib.sha256(b"").hexdigest()
    assert log.summary() == {"head_hash": GENESIS_HASH, "length": 0, "last_event_hash": None}


def test_chain_hash_recomputed_by_hand() -> None:
    log = _small_log()
    prev = "0" * 64
    for i, rec in enumerate(RECORDS):
        blob = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert log.record_bytes(i) == blob
        expected = hashlib.sha256(prev.encode("ascii") + blob).hexdigest()
        assert chain_hash(prev, blob) == expected
        assert log.hashes()[i] == expected
        prev = expected
    assert log.head_hash == prev == log.last_event_hash
    assert log.summary() == {"head_hash": prev, "length": len(RECORDS), "last_event_hash": prev}
    assert log.verify() == (True, None)


def test_append_returns_digest_and_append_bytes_matches_append() -> None:
    a, b = AuditLog(), AuditLog()
    for rec in RECORDS:
        da = a.append(rec)
        db = b.append_bytes(canonical_json(rec))
        assert da == db == a.head_hash == b.head_hash
    assert a.to_jsonl() == b.to_jsonl()


def test_dict_key_order_does_not_change_the_hash() -> None:
    a, b = AuditLog(), AuditLog()
    a.append({"x": 1, "y": {"p": 1, "q": 2}})
    b.append({"y": {"q": 2, "p": 1}, "x": 1})
    assert a.head_hash == b.head_hash


def test_engine_records_are_canonical_json(scenario_log: AuditLog) -> None:
    assert scenario_log.verify() == (True, None)
    prev = GENESIS_HASH
    for i, blob in enumerate(scenario_log.records()):
        doc = json.loads(blob)
        assert set(doc) == {"event", "outcome", "seq", "t_s"}
        assert doc["seq"] == i + 1
        assert canonical_json(doc) == blob
        prev = hashlib.sha256(prev.encode() + blob).hexdigest()
    assert prev == scenario_log.head_hash


# ----------------------------------------------------------------------- tampering ---
def _flip_every_byte(log: AuditLog, positions: dict[int, list[int]]) -> int:
    checked = 0
    for i, offsets in positions.items():
        original = log.record_bytes(i)
        for pos in offsets:
            for mask in (0x01, 0x80):
                tampered = bytearray(original)
                tampered[pos] ^= mask
                log.tamper(i, bytes(tampered))
                assert log.verify() == (False, i), (i, pos, mask)
                checked += 1
        log.tamper(i, original)
        assert log.verify() == (True, None)
    return checked


def test_flipping_any_byte_of_any_record_is_detected_exhaustive() -> None:
    log = _small_log()
    positions = {i: list(range(len(log.record_bytes(i)))) for i in range(len(log))}
    n = _flip_every_byte(log, positions)
    assert n == 2 * sum(len(r) for r in log.records())


def test_flipping_bytes_of_an_engine_log_is_detected_stratified(scenario_log: AuditLog) -> None:
    # Every record; per record the first, last and 6 random byte positions (seeded).
    rng = np.random.Generator(np.random.PCG64(20240607))
    log = AuditLog()
    log.load_state_dict(scenario_log.state_dict())
    positions = {}
    for i in range(len(log)):
        size = len(log.record_bytes(i))
        picks = {0, size - 1, *(int(x) for x in rng.integers(0, size, 6))}
        positions[i] = sorted(picks)
    assert _flip_every_byte(log, positions) >= 2 * 2 * len(log)


def test_replacing_dropping_and_appending_bytes_is_detected() -> None:
    log = _small_log()
    for i in range(len(log)):
        original = log.record_bytes(i)
        for bad in (original + b" ", original[:-1], b"", b"X" + original[1:]):
            log.tamper(i, bad)
            assert log.verify() == (False, i)
        log.tamper(i, original)
    assert log.verify() == (True, None)


def test_stored_hash_tampering_and_head_mismatch_are_detected() -> None:
    log = _small_log()
    state = log.state_dict()
    for i in range(len(log)):
        bad = dict(state)
        hashes = list(state["hashes"])
        hashes[i] = ("f" if hashes[i][0] != "f" else "e") + hashes[i][1:]
        bad["hashes"] = hashes
        other = AuditLog()
        other.load_state_dict(bad)
        assert other.verify() == (False, i)
    # Truncating the log but keeping the old head is detected at the new last record.
    truncated = {
        "records": state["records"][:-1],
        "hashes": state["hashes"][:-1],
        "head_hash": state["head_hash"],
    }
    other = AuditLog()
    other.load_state_dict(truncated)
    assert other.verify() == (False, len(RECORDS) - 2)


def test_reordering_records_is_detected() -> None:
    log = _small_log()
    a, b = log.record_bytes(1), log.record_bytes(2)
    log.tamper(1, b)
    log.tamper(2, a)
    assert log.verify() == (False, 1)


def test_engine_verify_audit_action_detects_tampering_and_freezes() -> None:
    engine, _ = run_scenario(seed=5, timing_mode="explicit")
    rec = bytearray(engine.audit.record_bytes(7))
    rec[len(rec) // 2] ^= 0x20
    engine.audit.tamper(7, bytes(rec))
    t = engine.now
    out = engine.step(
        {
            "event_id": "v1",
            "t_s": t,
            "agent_id": "A_SUPERVISOR_01",
            "action_type": "VERIFY_AUDIT",
            "args": {},
        }
    )
    assert out["status"] == "ACCEPTED"
    assert out["emits"] == ["AUDIT_CHAIN_BROKEN", "FORENSIC_FREEZE"]
    assert [v["invariant_id"] for v in out["violations"]] == ["INV-AUDIT-001"]
    assert out["violations"][0]["details"] == {"first_bad_index": 7}
    assert engine.forensic_frozen
    after = engine.step(
        {"event_id": "v2", "t_s": t, "agent_id": "A_RUNNER_01", "action_type": "NOOP", "args": {}}
    )
    assert after["status"] == "BLOCKED"
    assert after["blocked_reason_code"] == "AUDIT_FORENSIC_FREEZE"
    assert engine.verify_audit() == (False, 7)


# ----------------------------------------------------------------------- export ---
def test_to_jsonl_format_and_sha256() -> None:
    log = _small_log()
    data = log.to_jsonl()
    lines = data.split(b"\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    assert len(lines) == len(RECORDS)
    for line, rec, digest in zip(lines, RECORDS, log.hashes(), strict=True):
        doc = json.loads(line)
        assert doc == {"hash": digest, "record": rec}
        assert line == b'{"hash":"' + digest.encode() + b'","record":' + canonical_json(rec) + b"}"
    assert log.sha256() == hashlib.sha256(data).hexdigest()


def test_to_jsonl_and_sha256_are_stable(tmp_path) -> None:
    a, b = _small_log(), _small_log()
    assert a.to_jsonl() == b.to_jsonl()
    assert a.sha256() == b.sha256()
    assert a.to_jsonl() == a.to_jsonl()
    path = tmp_path / "audit.jsonl"
    a.write_jsonl(path)
    assert path.read_bytes() == a.to_jsonl()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == a.sha256()
    b.append({"one": "more"})
    assert b.sha256() != a.sha256()
    assert b.to_jsonl().startswith(a.to_jsonl())


def test_write_jsonl_is_atomic(tmp_path, monkeypatch) -> None:
    import os

    import pytest

    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"previous\n")

    def killed(fd: int) -> None:  # dies after writing, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        _small_log().write_jsonl(path)
    assert path.read_bytes() == b"previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["audit.jsonl"]


# ----------------------------------------------------------------------- checkpoints ---
def test_state_dict_round_trip() -> None:
    log = _small_log()
    state = log.state_dict()
    assert set(state) == {"records", "hashes", "head_hash"}
    other = AuditLog()
    other.load_state_dict(state)
    assert other.to_jsonl() == log.to_jsonl()
    assert other.summary() == log.summary()
    assert other.verify() == (True, None)
    # The checkpoint is independent of both logs afterwards.
    log.append({"after": 1})
    other.append({"after": 2})
    assert state["records"] == [canonical_json(r) for r in RECORDS]
    assert len(state["hashes"]) == len(RECORDS)
    again = AuditLog()
    again.load_state_dict(state)
    again.append({"after": 1})
    assert again.to_jsonl() == log.to_jsonl()
    assert again.head_hash != other.head_hash


def test_state_dict_round_trip_engine_log(scenario_log: AuditLog) -> None:
    other = AuditLog()
    other.load_state_dict(scenario_log.state_dict())
    assert other.sha256() == scenario_log.sha256()
    assert other.summary() == scenario_log.summary()
    assert other.verify() == (True, None)


def test_missing_hash_or_record_is_detected_without_raising() -> None:
    # Regression: verify() zipped records and hashes with strict=True and raised
    # ValueError when storage lost one of them.
    state = _small_log().state_dict()
    n = len(RECORDS)
    for records, hashes in (
        (state["records"], state["hashes"][:-1]),
        (state["records"][:-1], state["hashes"]),
    ):
        log = AuditLog()
        log.load_state_dict({"records": records, "hashes": hashes, "head_hash": state["head_hash"]})
        assert log.verify() == (False, n - 1)
    # A log emptied in storage while the head was kept.
    log = AuditLog()
    log.load_state_dict({"records": [], "hashes": [], "head_hash": state["head_hash"]})
    assert log.verify() == (False, 0)


def test_engine_verify_audit_on_a_log_that_lost_a_hash() -> None:
    engine, _ = run_scenario(seed=5, timing_mode="explicit")
    state = engine.audit.state_dict()
    del state["hashes"][3]
    engine.audit.load_state_dict(state)
    out = engine.step(
        {
            "event_id": "v",
            "t_s": engine.now,
            "agent_id": "A_SUPERVISOR_01",
            "action_type": "VERIFY_AUDIT",
            "args": {},
        }
    )
    assert out["emits"] == ["AUDIT_CHAIN_BROKEN", "FORENSIC_FREEZE"]
    assert out["violations"][0]["details"] == {"first_bad_index": 3}
