"""``labtrust verify-bundle``: check an evidence bundle without the engine.

This module imports only the standard library, ``cryptography`` and the stdlib-only
modules of this package (a test proves it in a fresh interpreter), so a third party can
audit a bundle without running — or trusting — the simulator. ``--replay`` is the one
exception: it re-runs every episode on the engine, imported only then.

Checks, one :class:`Check` each (name, ok, detail):

* ``trusted key``: the ``--trusted-key`` file or hex string parses;
* ``manifest``: ``manifest.json`` parses and is a ``labtrust.evidence_bundle.v1``
  manifest; ``manifest signature``: ``manifest.sig.json`` verifies (and is by the trusted
  key when one is given); ``files``: every listed file exists with its SHA-256 and size,
  and no other file is present;
* per episode log: ``chain`` (line hashes, order, header, footer, record count),
  ``signature`` (its sidecar verifies, covers the file and the final chain head; trusted
  key), ``audit chain`` (the engine's head hashes recomputed from events and outcomes),
  ``agent signatures`` (every signed event against the header's public keys);
* per results episode: ``binding`` (``episode_log_sha256`` is the log file's digest;
  seed, task, policy, episode length and audit head agree) and ``metrics`` (the headline
  metrics recounted from the log alone, :mod:`.recount`, equal the results');
* ``replay`` (with ``replay=True``): each log re-run on the engine with the bundle's policy
  snapshot, every field of every record compared.

No input makes it raise: anything malformed is a failed check naming the file and line.
Run it as ``python -m labtrust_gym.evidence.verify BUNDLE [--trusted-key K] [--replay]``
(nothing but the verifier is imported) or as ``labtrust verify-bundle``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtrust_gym.evidence.bundle_format import (
    BUNDLE_FORMAT,
    MANIFEST,
    MANIFEST_SIG,
    POLICY_DIR,
    safe_relpath,
)
from labtrust_gym.evidence.crypto import check_signature_doc, key_id_of, parse_public_key
from labtrust_gym.evidence.log_format import sidecar_path_name
from labtrust_gym.evidence.logcheck import (
    ParsedLog,
    check_agent_signatures,
    check_audit_chain,
    parse_log,
)
from labtrust_gym.evidence.recount import compare_metrics, recount_metrics

__all__ = [
    "Check",
    "VerifyReport",
    "verify_bundle",
    "check_episode_log",
    "load_trusted_key",
    "print_report",
]

_RESULTS_SCHEMA = "labtrust.results.v0.1"


@dataclass(frozen=True)
class Check:
    """One verification step: ``ok`` False means the bundle fails. A ``skipped`` check
    is ok and says in ``detail`` why it could not run."""

    name: str
    ok: bool
    detail: str
    skipped: bool = False

    def line(self) -> str:
        status = "SKIP" if self.skipped else ("PASS" if self.ok else "FAIL")
        return f"{status} {self.name}: {self.detail}"


@dataclass(frozen=True)
class VerifyReport:
    """All checks of a verification; ``ok`` when there is at least one and none failed."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def lines(self) -> list[str]:
        return [c.line() for c in self.checks]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [
                {"name": c.name, "ok": c.ok, "skipped": c.skipped, "detail": c.detail}
                for c in self.checks
            ],
        }


def _guard(name: str, fn: Callable[..., Check], *args: Any) -> Check:
    """Run a check; an unexpected exception is a failed check, never a traceback."""
    try:
        return fn(*args)
    except Exception as exc:  # the last line of defence against malformed input
        return Check(name, False, f"unexpected {type(exc).__name__} on malformed input: {exc}")


def load_trusted_key(value: str | bytes | Path) -> bytes:
    """A raw Ed25519 public key from raw bytes, hex, PEM text, or a file holding either."""
    if isinstance(value, bytes):
        if len(value) == 32:
            return value
        raise ValueError("a raw trusted key must be 32 bytes")
    try:
        is_file = isinstance(value, Path) or Path(value).is_file()
    except (OSError, ValueError):
        is_file = False
    if is_file:
        try:
            text = Path(value).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {value} ({exc})") from None
        return parse_public_key(text)
    return parse_public_key(str(value))


# ------------------------------------------------------------------ one episode log ----
def check_episode_log(
    data: bytes,
    sidecar: bytes | None,
    *,
    trusted: bytes | None = None,
    name: str = "log",
) -> tuple[list[Check], ParsedLog]:
    """The checks of one log (chain, signature, audit chain, agent signatures)."""
    parsed = parse_log(data)
    checks = [Check(f"{name} chain", parsed.ok, parsed.summary())]
    checks.append(_guard(f"{name} signature", _sidecar_check, name, data, sidecar, parsed, trusted))
    ok, detail = check_audit_chain(parsed)
    checks.append(Check(f"{name} audit chain", ok, detail))
    ok, detail = check_agent_signatures(parsed)
    checks.append(Check(f"{name} agent signatures", ok, detail))
    return checks, parsed


def _sidecar_check(
    name: str, data: bytes, sidecar: bytes | None, parsed: ParsedLog, trusted: bytes | None
) -> Check:
    cname = f"{name} signature"
    if sidecar is None:
        return Check(cname, False, f"no signature sidecar {sidecar_path_name(Path(name).name)}")
    try:
        doc = json.loads(sidecar)
    except (ValueError, RecursionError):
        return Check(cname, False, "the signature sidecar is not JSON")
    ok, detail = check_signature_doc(
        doc, data, "episode_log", trusted=trusted, extra_fields=("chain_head", "lines")
    )
    if ok and (doc["chain_head"] != parsed.final_head or doc["lines"] != parsed.lines):
        ok, detail = False, "the signature names another chain head or line count"
    return Check(cname, ok, detail)


# ------------------------------------------------------------------ the bundle ---------
class _Bundle:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.checks: list[Check] = []
        self.listed: dict[str, dict[str, Any]] = {}
        self.good: set[str] = set()  # listed files whose digest matched
        self.policy_fp: Any = None  # the manifest's policy fingerprint

    def add(self, check: Check) -> None:
        self.checks.append(check)

    def read(self, rel: str) -> bytes | None:
        """Bytes of a file that the manifest lists and whose digest matched."""
        if rel not in self.good:
            return None
        try:
            return (self.root / rel).read_bytes()
        except OSError:
            return None


def _load_manifest(b: _Bundle, trusted: bytes | None) -> dict[str, Any] | None:
    mpath = b.root / MANIFEST
    try:
        mbytes = mpath.read_bytes()
    except OSError as exc:
        b.add(Check("manifest", False, f"cannot read {MANIFEST} ({exc.strerror})"))
        return None
    try:
        manifest = json.loads(mbytes)
    except (ValueError, RecursionError):
        b.add(Check("manifest", False, f"{MANIFEST} is not JSON"))
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        fmt = manifest.get("format") if isinstance(manifest, dict) else None
        b.add(Check("manifest", False, f"format {fmt!r}, expected {BUNDLE_FORMAT!r}"))
        return None
    files: Any = manifest.get("files")
    runs: Any = manifest.get("runs")
    bad = not isinstance(files, list) or not isinstance(runs, list)
    if not bad:
        for f in files:
            if not (
                isinstance(f, dict)
                and safe_relpath(f.get("path")) == f.get("path")
                and isinstance(f.get("sha256"), str)
                and isinstance(f.get("bytes"), int)
            ):
                bad = True
                break
    if bad:
        b.add(
            Check(
                "manifest",
                False,
                "'files' must list {path, sha256, bytes} with paths "
                "inside the bundle, and 'runs' must be a list",
            )
        )
        return None
    b.add(Check("manifest", True, f"{BUNDLE_FORMAT}, {len(files)} files, {len(runs)} runs"))
    try:
        sig = json.loads((b.root / MANIFEST_SIG).read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        b.add(Check("manifest signature", False, f"cannot read {MANIFEST_SIG} ({exc})"))
    else:
        ok, detail = check_signature_doc(sig, mbytes, "bundle_manifest", trusted=trusted)
        b.add(Check("manifest signature", ok, detail))
    return manifest


def _check_files(b: _Bundle, manifest: dict[str, Any]) -> None:
    problems: list[str] = []
    root = b.root.resolve()
    for f in manifest["files"]:
        rel = f["path"]
        if rel in (MANIFEST, MANIFEST_SIG) or rel in b.listed:
            problems.append(f"{rel}: listed twice or lists the manifest itself")
            continue
        b.listed[rel] = f
        p = b.root / rel
        try:
            if not p.resolve().is_relative_to(root) or not p.is_file():
                problems.append(f"{rel}: missing (or not a regular file inside the bundle)")
                continue
            data = p.read_bytes()
        except OSError as exc:
            problems.append(f"{rel}: cannot read ({exc.strerror})")
            continue
        if hashlib.sha256(data).hexdigest() != f["sha256"] or len(data) != f["bytes"]:
            problems.append(f"{rel}: content differs from the manifest")
            continue
        b.good.add(rel)
    for p in sorted(b.root.rglob("*")):
        rel = p.relative_to(b.root).as_posix()
        if (
            (p.is_file() or p.is_symlink())
            and rel not in b.listed
            and rel
            not in (
                MANIFEST,
                MANIFEST_SIG,
            )
        ):
            problems.append(f"{rel}: not listed in the manifest")
    if problems:
        more = f" (+{len(problems) - 8} more)" if len(problems) > 8 else ""
        b.add(Check("files", False, "; ".join(problems[:8]) + more))
    else:
        b.add(Check("files", True, f"{len(b.good)} files match the manifest"))


def _check_run(b: _Bundle, run: Any, trusted: bytes | None, logs_out: list[Any]) -> None:
    if not isinstance(run, dict):
        b.add(Check("run", False, f"malformed run entry {run!r:.80}"))
        return
    rid = str(run.get("id"))
    rel = run.get("results")
    logs = run.get("logs")
    if not isinstance(rel, str) or not isinstance(logs, list):
        b.add(Check(f"run {rid}", False, "needs 'results' (a path) and 'logs' (a list)"))
        return
    raw = b.read(rel)
    results: Any = None
    if raw is not None:
        try:
            results = json.loads(raw)
        except (ValueError, RecursionError):
            results = None
    if not isinstance(results, dict) or results.get("schema_version") != _RESULTS_SCHEMA:
        b.add(
            Check(
                f"run {rid} results",
                False,
                f"{rel}: missing, unlisted or not a {_RESULTS_SCHEMA} document",
            )
        )
        results = None
    eps = results.get("episodes") if results is not None else None
    if results is not None:
        if not isinstance(eps, list) or len(eps) != len(logs):
            b.add(
                Check(
                    f"run {rid} results",
                    False,
                    f"{rel}: {len(logs)} logs for {len(eps) if isinstance(eps, list) else 0} "
                    "episodes",
                )
            )
            eps = None
        else:
            b.add(Check(f"run {rid} results", True, f"{rel}: {len(eps)} episodes"))
    for i, lrel in enumerate(logs):
        name = f"{lrel}" if isinstance(lrel, str) else f"run {rid} log {i}"
        data = b.read(lrel) if isinstance(lrel, str) else None
        if data is None:
            b.add(Check(f"{name}", False, "missing, unlisted or changed (see files)"))
            continue
        sidecar = b.read(sidecar_path_name(lrel))
        checks, parsed = check_episode_log(data, sidecar, trusted=trusted, name=name)
        for c in checks:
            b.add(c)
        logs_out.append((name, data, parsed))
        if eps is not None and results is not None:
            ep = eps[i]
            b.add(_guard(f"{name} binding", _binding, name, results, ep, data, parsed, b.policy_fp))
            b.add(_guard(f"{name} metrics", _metrics, name, results, ep, parsed))


def _binding(
    name: str,
    results: dict[str, Any],
    ep: Any,
    data: bytes,
    parsed: ParsedLog,
    b_policy: Any = None,
) -> Check:
    cname = f"{name} binding"
    if not isinstance(ep, dict) or not isinstance(ep.get("metrics"), dict):
        return Check(cname, False, "the results episode has no metrics")
    m = ep["metrics"]
    problems = []
    digest = hashlib.sha256(data).hexdigest()
    if m.get("episode_log_sha256") != digest:
        problems.append(
            f"episode_log_sha256 {str(m.get('episode_log_sha256'))[:16]}… is not the log's "
            f"{digest[:16]}…"
        )
    h, f = parsed.header, parsed.footer
    if h is None or f is None:
        problems.append("the log has no usable header and footer")
    else:
        pairs = (
            ("seed", ep.get("seed"), h["seed"]),
            ("task", results.get("task"), h["task"]),
            ("policy_fingerprint", results.get("policy_fingerprint"), h["policy_fingerprint"]),
            ("max_steps", results.get("max_steps"), h["max_steps"]),
            ("dt_s", results.get("dt_s"), h["dt_s"]),
            ("audit_head_hash", m.get("audit_head_hash"), f["audit_head_hash"]),
            ("audit_length", m.get("audit_length"), f["audit_length"]),
        )
        mpol = b_policy if isinstance(b_policy, str) else None
        if mpol is not None and mpol != results.get("policy_fingerprint"):
            problems.append(
                f"policy_fingerprint: results {results.get('policy_fingerprint')!r}"
                f", bundle manifest {mpol!r}"
            )
        for what, said, logged in pairs:
            if said != logged:
                problems.append(f"{what}: results {said!r}, log {logged!r}")
    if problems:
        return Check(cname, False, "; ".join(problems))
    return Check(cname, True, f"results episode {ep.get('episode')} is this log ({digest[:16]}…)")


def _metrics(name: str, results: dict[str, Any], ep: Any, parsed: ParsedLog) -> Check:
    cname = f"{name} metrics"
    prof = results.get("lab_profile")
    agg = prof.get("metrics_aggregator_id") if isinstance(prof, dict) else None
    if agg not in (None, "default"):
        return Check(
            cname,
            True,
            f"results computed by metrics aggregator {agg!r}; the "
            "headline definitions may differ, not compared",
            skipped=True,
        )
    recounted, problems = recount_metrics(parsed)
    if problems:
        return Check(cname, False, "cannot recount: " + "; ".join(problems[:4]))
    diffs = compare_metrics(recounted, ep.get("metrics") if isinstance(ep, dict) else None)
    if diffs:
        return Check(cname, False, "; ".join(diffs))
    return Check(
        cname,
        True,
        f"recounted from the log: throughput {recounted['throughput']}, orders due "
        f"{recounted['orders_due']}, blocked {recounted['blocked']}, violations "
        f"{recounted['violations_total']}: equal to the results",
    )


def _replay_checks(b: _Bundle, manifest: dict[str, Any], logs: list[Any]) -> None:
    """Re-run every log on the engine with the bundle's policy snapshot."""
    raw = manifest.get("policy")
    policy_info: dict[str, Any] = raw if isinstance(raw, dict) else {}
    pdir = policy_info.get("dir", POLICY_DIR)
    if safe_relpath(pdir) != pdir:
        b.add(Check("replay", False, f"manifest policy dir {pdir!r} is not inside the bundle"))
        return
    try:
        from labtrust_gym.benchmarks.replay import replay_bytes
        from labtrust_gym.policy.loader import load_policy

        policy = load_policy(b.root / pdir, partner_id=policy_info.get("partner_id"))
    except Exception as exc:  # a broken snapshot is a failed check, not a traceback
        b.add(Check("replay", False, f"cannot load the policy snapshot ({exc})"))
        return
    if policy.fingerprint != policy_info.get("fingerprint"):
        b.add(
            Check(
                "replay policy",
                False,
                f"the snapshot loads as {policy.fingerprint[:16]}…, "
                f"the manifest says {str(policy_info.get('fingerprint'))[:16]}…",
            )
        )

    def one(name: str, data: bytes) -> Check:
        rep = replay_bytes(data, policy=policy, source=name)
        return Check(f"{name} replay", bool(rep["ok"]), rep["summary"])

    for name, data, _ in logs:
        b.add(_guard(f"{name} replay", one, name, data))


def verify_bundle(
    bundle_dir: Path | str,
    *,
    trusted_key: str | bytes | Path | None = None,
    replay: bool = False,
) -> VerifyReport:
    """Verify an evidence bundle (see the module docstring); never raises."""
    b = _Bundle(Path(bundle_dir))
    trusted: bytes | None = None
    if trusted_key is not None:
        try:
            trusted = load_trusted_key(trusted_key)
        except ValueError as exc:
            return VerifyReport((Check("trusted key", False, str(exc)),))
        b.add(Check("trusted key", True, key_id_of(trusted)))
    if not b.root.is_dir():
        b.add(Check("bundle", False, f"{b.root}: no such directory"))
        return VerifyReport(tuple(b.checks))
    manifest = _load_manifest(b, trusted)
    if manifest is None:
        return VerifyReport(tuple(b.checks))
    _check_files(b, manifest)
    pol = manifest.get("policy")
    b.policy_fp = pol.get("fingerprint") if isinstance(pol, dict) else None
    logs: list[Any] = []
    if not manifest["runs"]:
        b.add(Check("runs", False, "the bundle holds no runs"))
    for run in manifest["runs"]:
        _check_run(b, run, trusted, logs)
    if trusted is None:
        b.add(
            Check(
                "trust",
                True,
                "no --trusted-key: signatures were checked against the "
                "keys the bundle names, so a bundle rewritten and re-signed end to end "
                "would pass; give the lab's public audit key to rule that out",
                skipped=True,
            )
        )
    if replay:
        _replay_checks(b, manifest, logs)
    return VerifyReport(tuple(b.checks))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m labtrust_gym.evidence.verify BUNDLE [--trusted-key K] [--replay]``."""
    ap = argparse.ArgumentParser(
        prog="python -m labtrust_gym.evidence.verify",
        description="Verify a LabTrust-Gym evidence bundle without the simulator.",
    )
    ap.add_argument("bundle")
    ap.add_argument("--trusted-key", default=None)
    ap.add_argument("--replay", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    report = verify_bundle(args.bundle, trusted_key=args.trusted_key, replay=args.replay)
    return print_report(report, as_json=args.json)


def print_report(report: VerifyReport, *, as_json: bool = False) -> int:
    """Print ``report`` (a line per check and a verdict, or JSON); the exit code: 0 if
    every check passed, else 1."""
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for line in report.lines():
            print(line)
        print("OK" if report.ok else f"FAILED: {len(report.failed)} check(s)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
