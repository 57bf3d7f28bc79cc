"""export-evidence and verify-bundle: what a bundle holds, what the verifier catches, and
that no malformed input makes it raise."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from labtrust_gym.cli.main import main
from labtrust_gym.errors import ConfigError, OutputPathError
from labtrust_gym.evidence import export_evidence, verify_bundle
from labtrust_gym.evidence.crypto import sign_file_bytes
from labtrust_gym.evidence.logcheck import parse_log
from labtrust_gym.evidence.tamper import rechain

ATTACKER = Ed25519PrivateKey.generate()


def _reseal(bundle: Path, key: Ed25519PrivateKey = ATTACKER) -> None:
    """Recompute the manifest's digests and re-sign it (and every log sidecar) with
    ``key``: what someone with write access but without the audit key can do."""
    try:
        m = json.loads((bundle / "manifest.json").read_text())
        runs = list(m["runs"])
    except (OSError, ValueError, TypeError, KeyError):
        return  # (fuzzing broke the manifest itself)
    for run in runs:
        for rel in run.get("logs", []) if isinstance(run, dict) else []:
            if not isinstance(rel, str) or not (bundle / rel).is_file():
                continue
            data = (bundle / rel).read_bytes()
            p = parse_log(data)
            doc = sign_file_bytes(
                key, "episode_log", data, {"chain_head": p.final_head or "", "lines": p.lines}
            )
            (bundle / (rel + ".sig.json")).write_text(json.dumps(doc))
    files = []
    for f in sorted(bundle.rglob("*")):
        rel = f.relative_to(bundle).as_posix()
        if f.is_file() and rel not in ("manifest.json", "manifest.sig.json"):
            data = f.read_bytes()
            files.append(
                {"path": rel, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            )
    m["files"] = files
    mbytes = json.dumps(m).encode()
    (bundle / "manifest.json").write_bytes(mbytes)
    sig = sign_file_bytes(key, "bundle_manifest", mbytes)
    (bundle / "manifest.sig.json").write_text(json.dumps(sig))


def _failed(report: object) -> list[str]:
    return [c.name for c in report.failed]  # type: ignore[attr-defined]


def _log_of(bundle: Path, task: str) -> Path:
    return next((bundle / "runs").glob(f"{task}*/logs/*.jsonl"))


def test_bundle_layout_and_a_clean_verification(bundle: Path, trusted_pub: str) -> None:
    m = json.loads((bundle / "manifest.json").read_text())
    assert m["format"] == "labtrust.evidence_bundle.v1"
    names = {f["path"] for f in m["files"]}
    assert "environment.json" in names and any(n.startswith("policy/") for n in names)
    assert all(rel + ".sig.json" in names for run in m["runs"] for rel in run["logs"])
    env = json.loads((bundle / "environment.json").read_text())
    assert "cryptography" in {k.lower() for k in env["distributions"]}
    rep = verify_bundle(bundle, trusted_key=trusted_pub)
    assert rep.ok, rep.lines()
    kinds = [c.name.split(" ", 1)[1] for c in rep.checks if c.name.startswith("runs/")]
    for kind in ("chain", "signature", "audit chain", "agent signatures", "binding", "metrics"):
        assert kinds.count(kind) == 2, kind
    assert any(
        "accepted signatures verified" in c.detail and not c.detail.startswith("0 ")
        for c in rep.checks
    )
    without = verify_bundle(bundle)
    assert without.ok and any(c.skipped and c.name == "trust" for c in without.checks)


def test_the_trusted_key_catches_a_bundle_re_signed_by_another_key(
    bundle: Path, trusted_pub: str
) -> None:
    _reseal(bundle)
    assert verify_bundle(bundle).ok  # internally consistent
    rep = verify_bundle(bundle, trusted_key=trusted_pub)
    failed = _failed(rep)
    assert "manifest signature" in failed
    assert sum(n.endswith(" signature") for n in failed) == 3  # manifest + both logs
    assert len(failed) == 3


def test_edited_results_fail_the_metric_recount(bundle: Path) -> None:
    res_path = next((bundle / "runs").glob("multi_site_stat*/results.json"))
    res = json.loads(res_path.read_text())
    res["episodes"][0]["metrics"]["throughput"] += 5
    res["episodes"][0]["metrics"]["orders_due"] -= 1
    res_path.write_text(json.dumps(res))
    assert "files" in _failed(verify_bundle(bundle))
    _reseal(bundle)
    rep = verify_bundle(bundle)
    failed = [c for c in rep.failed]
    assert [c.name.rsplit(" ", 1)[-1] for c in failed] == ["metrics"]
    assert "throughput" in failed[0].detail and "orders_due" in failed[0].detail


def test_a_rewritten_log_is_caught_without_a_key_by_the_audit_chain(bundle: Path) -> None:
    log = _log_of(bundle, "insider_key_misuse")
    recs = [json.loads(x) for x in log.read_bytes().splitlines()]
    i = next(k for k, r in enumerate(recs) if r["type"] == "event" and r["result"]["emits"])
    recs[i]["result"]["emits"] = []
    log.write_bytes(rechain(recs))
    _reseal(bundle)
    rep = verify_bundle(bundle)
    kinds = [n.split(" ", 1)[1] for n in _failed(rep)]
    assert "audit chain" in kinds and "chain" not in kinds, rep.lines()


def _deep_rewrite(bundle: Path, task: str, pick: str) -> int:
    """Add an emit to one event of the task's log, recompute the log's chain and the
    engine's audit heads, rewrite the results to match and re-sign everything with
    another key; returns the edited line number. ``pick``: the ``first`` event with
    emits (before signed events), or the first one ``after`` every signed event."""
    log = _log_of(bundle, task)
    recs = [json.loads(x) for x in log.read_bytes().splitlines()]
    signed = [k for k, r in enumerate(recs) if r["type"] == "event" and "signature" in r["event"]]
    found = [k for k, r in enumerate(recs) if r["type"] == "event" and r["result"]["emits"]]
    i = found[0] if pick == "first" else next(k for k in found if k > signed[-1])
    assert (i < signed[-1]) == (pick == "first")
    recs[i]["result"]["emits"].append("CRITICAL_ACKNOWLEDGED")
    log.write_bytes(rechain(recs, deep=True))
    res_path = next((bundle / "runs").glob(f"{task}*/results.json"))
    res = json.loads(res_path.read_text())
    data = log.read_bytes()
    ep = res["episodes"][0]["metrics"]
    ep["episode_log_sha256"] = hashlib.sha256(data).hexdigest()
    ep["audit_head_hash"] = json.loads(data.splitlines()[-1])["audit_head_hash"]
    res_path.write_text(json.dumps(res))
    _reseal(bundle)
    return i + 1


def test_a_deep_rewrite_before_signed_events_breaks_their_signatures(bundle: Path) -> None:
    _deep_rewrite(bundle, "insider_key_misuse", "first")
    rep = verify_bundle(bundle)
    assert [n.split(" ", 1)[1] for n in _failed(rep)] == ["agent signatures"], rep.lines()


def test_replay_catches_a_deep_rewrite_the_log_checks_cannot(
    bundle: Path, trusted_pub: str
) -> None:
    line = _deep_rewrite(bundle, "multi_site_stat", "after")
    plain = verify_bundle(bundle)  # consistent: nothing short of a key or a replay sees it
    assert plain.ok, [c.line() for c in plain.failed]
    rep = verify_bundle(bundle, replay=True)
    failed = [c for c in rep.failed]
    assert [c.name.rsplit(" ", 1)[-1] for c in failed] == ["replay"]
    assert f"line {line} result.emits" in failed[0].detail
    assert not verify_bundle(bundle, trusted_key=trusted_pub).ok


def test_replay_of_an_intact_bundle_passes(bundle: Path) -> None:
    rep = verify_bundle(bundle, replay=True)
    assert rep.ok, rep.lines()
    assert sum(c.name.endswith(" replay") for c in rep.checks) == 2


def test_missing_extra_and_changed_files(bundle: Path) -> None:
    (bundle / "policy" / "extra.yaml").write_text("x: 1\n")
    assert "files" in _failed(verify_bundle(bundle))
    (bundle / "policy" / "extra.yaml").unlink()
    shutil.rmtree(bundle / "policy" / "zones")
    rep = verify_bundle(bundle)
    assert "files" in _failed(rep)
    assert "missing" in next(c for c in rep.checks if c.name == "files").detail


def test_cli_lines_and_exit_codes(
    bundle: Path, tmp_path: Path, trusted_pub: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify-bundle", str(bundle), "--trusted-key", trusted_pub]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "OK" and all(x.split(" ", 1)[0] in ("PASS", "SKIP") for x in out[:-1])
    assert main(["verify-bundle", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().out.startswith("FAIL bundle:")
    assert main(["verify-bundle", str(bundle), "--trusted-key", "abc"]) == 1
    assert "FAIL trusted key" in capsys.readouterr().out
    wrong = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    assert main(["verify-bundle", str(bundle), "--trusted-key", wrong, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and any(
        c["name"] == "manifest signature" and not c["ok"] for c in doc["checks"]
    )


def test_export_errors(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such"):
        export_evidence(tmp_path / "missing", tmp_path / "b")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(OutputPathError, match="not an empty directory"):
        export_evidence(run_dir, tmp_path / "full")
    nolog = tmp_path / "nolog"
    nolog.mkdir()
    from labtrust_gym.benchmarks.runner import run_benchmark

    run_benchmark("throughput_sla", 1, 0, params={"max_steps": 5}, out=nolog / "r.json")
    with pytest.raises(ConfigError, match="without --log-dir"):
        export_evidence(nolog, tmp_path / "b2")
    assert not (tmp_path / "b2").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".labtrust-bundle-")]


def test_an_earlier_bundle_inside_the_run_is_not_exported_again(
    run_dir: Path, tmp_path: Path
) -> None:
    run = Path(shutil.copytree(run_dir, tmp_path / "run"))
    export_evidence(run, run / "old_bundle")
    again = export_evidence(run, tmp_path / "b")
    runs = json.loads((again / "manifest.json").read_text())["runs"]
    assert sorted(r["id"] for r in runs) == [
        "insider_key_misuse-results",
        "multi_site_stat-results",
    ]
    assert verify_bundle(again).ok


# ------------------------------------------------------------------ fuzzing ------------
def _mutations(bundle: Path, rng: np.random.Generator) -> None:
    """One random structural or content mutation of a bundle."""
    files = sorted(p for p in bundle.rglob("*") if p.is_file())
    target = files[int(rng.integers(len(files)))]
    interesting = [
        bundle / "manifest.json",
        bundle / "manifest.sig.json",
        *bundle.glob("runs/*/results.json"),
        *bundle.glob("runs/*/logs/*"),
    ]
    if rng.random() < 0.7:
        target = interesting[int(rng.integers(len(interesting)))]
    data = target.read_bytes()
    kind = int(rng.integers(6))
    if kind == 0:
        target.write_bytes(rng.bytes(int(rng.integers(0, 200))))
    elif kind == 1:
        target.unlink()
    elif kind == 2 and data:
        cut = int(rng.integers(len(data)))
        target.write_bytes(data[:cut])
    elif kind == 3 and target.suffix in (".json", ".jsonl"):
        try:
            doc = json.loads(data)
        except ValueError:
            doc = [json.loads(x) for x in data.splitlines() if x.strip()]
        junk = [None, 0, -1, 1e308, "x", [], {}, [1, "a"], {"a": None}, True, "../../etc"]
        _poke(doc, rng, junk)
        target.write_text(json.dumps(doc))
    elif kind == 4 and target.suffix == ".jsonl":
        recs = [json.loads(x) for x in data.splitlines()]
        junk = [None, 0, "x", [], {}, {"a": 1}, -5, 10**30]
        for _ in range(3):
            _poke(recs, rng, junk)
        target.write_bytes(rechain(recs))  # well chained, malformed inside
    else:
        target.write_bytes(data + b"\x00\xff{garbage\n")


def _poke(doc: object, rng: np.random.Generator, junk: list[object]) -> None:
    """Replace one random value somewhere in a JSON document by junk."""
    node = doc
    for _ in range(int(rng.integers(1, 6))):
        if isinstance(node, dict) and node:
            keys = sorted(node)
            k = keys[int(rng.integers(len(keys)))]
            if rng.random() < 0.4 or not isinstance(node[k], (dict, list)):
                node[k] = junk[int(rng.integers(len(junk)))]
                return
            node = node[k]
        elif isinstance(node, list) and node:
            i = int(rng.integers(len(node)))
            if rng.random() < 0.4 or not isinstance(node[i], (dict, list)):
                node[i] = junk[int(rng.integers(len(junk)))]
                return
            node = node[i]
        else:
            return


def _snapshot(b: Path) -> dict[str, bytes]:
    return {p.relative_to(b).as_posix(): p.read_bytes() for p in b.rglob("*") if p.is_file()}


def test_fuzzed_bundles_never_raise(bundle_master: Path, tmp_path: Path, trusted_pub: str) -> None:
    """Random damage, optionally re-sealed with another key so that it reaches the checks
    behind the manifest: never an exception, and every change is caught unless it was
    re-sealed and no trusted key was given (then only checked content is covered)."""
    rng = np.random.default_rng(7)
    original = _snapshot(bundle_master)
    caught = 0
    for n in range(40):
        b = Path(shutil.copytree(bundle_master, tmp_path / f"f{n}"))
        for _ in range(int(rng.integers(1, 3))):
            _mutations(b, rng)
        resealed = rng.random() < 0.5
        if resealed:
            _reseal(b)
        trusted = rng.random() < 0.5
        rep = verify_bundle(b, trusted_key=trusted_pub if trusted else None)
        assert not [c for c in rep.checks if "unexpected" in c.detail], rep.lines()
        if _snapshot(b) != original and (trusted or not resealed):
            assert not rep.ok, rep.lines()
            caught += 1
        shutil.rmtree(b)
    assert caught >= 20
