"""The tamper corpus against the verifier and the replay.

Every tampered log comes with a signature sidecar re-made by an attacker's key (so the
sidecar always matches the bytes): without the trusted key, detection must come from
the log itself. Targets: every kind but ``rewrite`` detected without a key; every kind
(``rewrite`` included) detected with the trusted key.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from labtrust_gym.benchmarks.replay import replay_bytes
from labtrust_gym.evidence.crypto import sign_file_bytes
from labtrust_gym.evidence.keys import audit_key
from labtrust_gym.evidence.logcheck import parse_log
from labtrust_gym.evidence.tamper import KINDS, tamper_corpus
from labtrust_gym.evidence.verify import check_episode_log
from labtrust_gym.policy import load_policy

ATTACKER = Ed25519PrivateKey.generate()


def _attacker_sidecar(data: bytes) -> bytes:
    p = parse_log(data)
    doc = sign_file_bytes(
        ATTACKER, "episode_log", data, {"chain_head": p.final_head or "", "lines": p.lines}
    )
    return json.dumps(doc).encode()


def _logs(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("*/logs/*.jsonl"))


def test_every_kind_is_generated_and_differs(run_dir: Path) -> None:
    data = _logs(run_dir)[0].read_bytes()
    corpus = tamper_corpus(data, seed=3, per_kind=10)
    assert set(KINDS) == {t.kind for t in corpus}
    assert all(t.data != data for t in corpus)
    assert tamper_corpus(data, seed=3, per_kind=10) == corpus  # seeded
    with pytest.raises(ValueError, match="unknown tamper kinds"):
        tamper_corpus(data, kinds=["nope"])


def test_verify_detects_every_tampered_log(run_dir: Path) -> None:
    trusted = bytes.fromhex(audit_key().public_key_hex)
    n: Counter[str] = Counter()
    without_key: Counter[str] = Counter()
    with_key: Counter[str] = Counter()
    missed: list[str] = []
    for log in _logs(run_dir):
        data = log.read_bytes()
        clean, _ = check_episode_log(data, _attacker_sidecar(data), name="log")
        assert all(c.ok for c in clean)  # the untampered log passes (re-signed or not)
        for t in tamper_corpus(data, seed=11, per_kind=8):
            side = _attacker_sidecar(t.data)
            n[t.kind] += 1
            nokey, _ = check_episode_log(t.data, side, name="log")
            key, _ = check_episode_log(t.data, side, trusted=trusted, name="log")
            assert not [c for c in nokey + key if "unexpected" in c.detail]
            if any(not c.ok for c in nokey):
                without_key[t.kind] += 1
            elif t.kind != "rewrite":
                missed.append(f"{t.kind}: {t.detail}")
            with_key[t.kind] += any(not c.ok for c in key)
    table = {k: (n[k], without_key[k], with_key[k]) for k in KINDS}
    print("\nkind: (tampered, detected without key, detected with trusted key)", table)
    assert missed == []
    assert with_key == n  # 100% of every kind, rewrites included
    # Without a key, the audit chain and agent signatures still expose rewrites (all of
    # them in these logs, which are full of signed events; not in general: see
    # test_verify_bundle's deep rewrite after the last signed event).
    assert without_key["rewrite"] > 0


def test_replay_names_the_line_and_field_of_each_value_edit(run_dir: Path) -> None:
    log = next(p for p in _logs(run_dir) if "insider" in p.name)
    data = log.read_bytes()
    policy = load_policy()
    clean = replay_bytes(data, policy=policy)
    assert clean["ok"] and clean["mismatch_count"] == 0, clean["summary"]
    for t in tamper_corpus(data, seed=5, per_kind=10, kinds=["value_edit"]):
        rep = replay_bytes(t.data, policy=policy)
        assert not rep["ok"], t.detail
        line = int(t.detail.split(":")[0].split()[1])
        assert not rep["chain_verifies"]
        assert any(m["line"] == line for m in rep["mismatches"]) or line in (1,), (
            t.detail,
            rep["summary"],
        )
