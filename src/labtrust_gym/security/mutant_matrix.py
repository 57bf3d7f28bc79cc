"""The kill matrix: which detector notices each engine mutant.

For every mutant of :mod:`labtrust_gym.security.mutants` (applied in this process):

* **security suite**: the whole attack catalogue is run; the mutant is killed when an
  attack that the clean engine blocks or detects now is neither;
* **safety case**: the default safety case without the claims whose only evidence is the
  security suite (that has its own column); killed when a finding appears that the clean
  engine does not produce (a golden scenario that now fails, an invariant or reason code
  no longer observed, ...);
* **pytest** (only with ``pytest_paths``): ``python -m pytest -x`` on those paths in a
  child process with the mutant applied by the plugin
  :mod:`labtrust_gym.security.mutant_plugin` (``LABTRUST_MUTANT``); killed when the tests
  fail (the same paths must pass without a mutant);
* **verify-bundle --replay** (only when :mod:`labtrust_gym.evidence` is importable): the
  mutant's probe run (:attr:`Mutant.probe`: a benchmark run, or golden scenarios sent
  straight to the engine for controls no benchmark episode reaches) is made with the
  mutant engine writing its episode logs, exported with ``export_evidence`` and verified with
  ``verify_bundle(..., replay=True)`` on the clean engine; killed when it does not verify
  (the clean run's bundle must verify). Without the module the column says so; the
  ``probe`` column still records whether the mutant changed the probe run's episode logs
  at all (the precondition for a replay to notice it).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["kill_matrix", "render_matrix_markdown", "matrix_passed"]

_SUITE_ONLY_TYPES = {"security_suite"}


def _suite_failures() -> set[str]:
    from labtrust_gym.benchmarks.security_runner import run_security_suite

    rep = run_security_suite()
    return {a["attack_id"] for a in rep["attacks"] if not a["passed"]}


def _case_claim_ids() -> list[str]:
    from labtrust_gym.profiles import profile_provider_id
    from labtrust_gym.security.safety_case import get_safety_case_provider

    doc = get_safety_case_provider(profile_provider_id("safety_case_provider_id")).load_claims()
    return [
        c["claim_id"]
        for c in doc["claims"]
        if not all(e["type"] in _SUITE_ONLY_TYPES for e in c["evidence"])
    ]


def _case_findings(claim_ids: Sequence[str]) -> dict[str, set[str]]:
    from labtrust_gym.security.safety_case import run_safety_case

    case = run_safety_case(claim_ids=list(claim_ids))
    out: dict[str, set[str]] = {}
    for c in case["claims"]:
        found = set()
        for e in c["evidence"]:
            if e["ok"] is False:
                found |= {f"{e['type']}: {f}" for f in e.get("findings") or ()} or {e["type"]}
        out[c["claim_id"]] = found
    return out


def _run_pytest(paths: Sequence[str], mutant: str | None) -> tuple[int, str]:
    env = dict(os.environ)
    env.pop("LABTRUST_MUTANT", None)
    if mutant is not None:
        env["LABTRUST_MUTANT"] = mutant
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "labtrust_gym.security.mutant_plugin",
        *paths,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600, check=False)
    lines = proc.stdout.strip().splitlines()
    # The first failing test names what caught the mutant; else pytest's closing summary.
    failed = [
        ln.split(" - ")[0].split(" ", 1)[1] for ln in lines if ln.startswith(("FAILED ", "ERROR "))
    ]
    summary = [
        ln.strip("= ") for ln in lines if (" passed" in ln or " failed" in ln) and " in " in ln
    ]
    return proc.returncode, (failed[0] if failed else summary[-1] if summary else "")


def _probe_label(probe: Mapping[str, Any]) -> str:
    if "scenarios" in probe:
        return "golden " + ", ".join(probe["scenarios"])
    what = str(probe["task"])
    if probe.get("controller", "scripted") != "scripted":
        what += f" ({probe['controller']} team)"
    if probe.get("injection"):
        what += f" + {probe['injection']}"
    return what


def _probe_run(probe: Mapping[str, Any], run_dir: Path) -> list[dict[str, Any]]:
    """The probe's results documents: a benchmark run, or golden scenarios played on the
    engine and written as a run (:mod:`labtrust_gym.security.scenario_run`)."""
    if "scenarios" in probe:
        from labtrust_gym.security.scenario_run import write_scenario_run

        return write_scenario_run(list(probe["scenarios"]), run_dir)
    from labtrust_gym.benchmarks.runner import run_benchmark

    res = run_benchmark(
        probe["task"],
        int(probe.get("episodes", 1)),
        int(probe.get("seed", 0)),
        controller=probe.get("controller", "scripted"),
        scale=probe.get("scale"),
        injection=probe.get("injection"),
        params=probe.get("params"),
        log_dir=run_dir / "logs",
        out=run_dir / "results.json",
    )
    return [res]


def _log_digests(docs: Sequence[Mapping[str, Any]]) -> list[Any]:
    return [ep["metrics"].get("episode_log_sha256") for res in docs for ep in res["episodes"]]


def _bundle_verdict(evidence: Any, run_dir: Path, out: Path) -> tuple[bool, list[str]]:
    bundle = evidence.export_evidence(run_dir, out)
    rep = evidence.verify_bundle(bundle, replay=True)
    return bool(rep.ok), [c.name for c in getattr(rep, "checks", ()) if not c.ok]


def kill_matrix(
    mutant_ids: Sequence[str] | None = None,
    *,
    pytest_paths: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Compute the kill matrix (see the module docstring); returns ``{"mutants": [...],
    "columns": {...}}`` with, per mutant and column, ``status`` (``killed``,
    ``survived``, ``not computed`` or ``error``) and what killed it."""
    from labtrust_gym.security.mutants import MUTANTS, apply_mutant, list_mutants

    say = progress or (lambda msg: None)
    ids = list(mutant_ids or list_mutants())
    evidence_mod: Any = None
    # Without the evidence package the verify-bundle column says it was not computed.
    with contextlib.suppress(ImportError):
        evidence_mod = importlib.import_module("labtrust_gym.evidence")
    say("clean engine: security suite")
    base_suite = _suite_failures()
    claim_ids = _case_claim_ids()
    say("clean engine: safety case")
    base_case = _case_findings(claim_ids)
    base_pytest: tuple[int, str] | None = None
    if pytest_paths:
        say(f"clean engine: pytest {' '.join(pytest_paths)}")
        base_pytest = _run_pytest(pytest_paths, None)
    rows = []
    probe_cache: dict[str, tuple[list[Any], bool | None, list[str]]] = {}
    for mid in ids:
        m = MUTANTS.get(mid)
        row: dict[str, Any] = {"mutant_id": mid, "title": m.title if m else mid}
        say(f"mutant {mid}: security suite and safety case")
        with apply_mutant(mid) as patched:
            row["patched"] = patched
            suite_bad = sorted(_suite_failures() - base_suite)
            case = _case_findings(claim_ids)
        row["security_suite"] = {
            "status": "killed" if suite_bad else "survived",
            "by": suite_bad,
        }
        new = {c: sorted(case.get(c, set()) - base_case.get(c, set())) for c in claim_ids}
        by = sorted(c for c, f in new.items() if f)
        row["safety_case"] = {
            "status": "killed" if by else "survived",
            "by": by,
            "findings": {c: new[c][:5] for c in by},
        }
        if base_pytest is None:
            row["pytest"] = {"status": "not computed", "detail": "no --pytest paths given"}
        elif base_pytest[0] != 0:
            row["pytest"] = {
                "status": "error",
                "detail": f"the clean run of the tests fails: {base_pytest[1]}",
            }
        else:
            say(f"mutant {mid}: pytest")
            rc, tail = _run_pytest(pytest_paths, mid)
            status = "survived" if rc == 0 else "killed" if rc == 1 else "error"
            row["pytest"] = {"status": status, "detail": tail, "returncode": rc}
        assert m is not None
        row.update(_bundle_columns(m, evidence_mod, probe_cache, say))
        rows.append(row)
    return {
        "mutants": rows,
        "columns": {
            "pytest": list(pytest_paths),
            "safety_case_claims": claim_ids,
            "verify_bundle": evidence_mod is not None,
        },
    }


def _bundle_columns(
    m: Any,
    evidence_mod: Any,
    cache: dict[str, tuple[list[Any], bool | None, list[str]]],
    say: Callable[[str], None],
) -> dict[str, Any]:
    """The ``probe`` and ``verify_bundle`` cells of one mutant."""
    from labtrust_gym.security.mutants import apply_mutant

    probe = dict(m.probe)
    key = repr(sorted(probe.items()))
    with tempfile.TemporaryDirectory(prefix="labtrust-mutant-") as tmp:
        root = Path(tmp)
        if key not in cache:
            say(f"clean engine: probe run {_probe_label(probe)}")
            clean = _probe_run(probe, root / "clean")
            ok: bool | None = None
            bad: list[str] = []
            if evidence_mod is not None:
                ok, bad = _bundle_verdict(evidence_mod, root / "clean", root / "clean_bundle")
            cache[key] = (_log_digests(clean), ok, bad)
        clean_digests, clean_ok, clean_bad = cache[key]
        say(f"mutant {m.mutant_id}: probe run {_probe_label(probe)}")
        with apply_mutant(m.mutant_id):
            res = _probe_run(probe, root / "mutant")
        differs = _log_digests(res) != clean_digests
        out: dict[str, Any] = {
            "probe": {"run": probe, "episode_logs_differ": differs},
        }
        if evidence_mod is None:
            out["verify_bundle"] = {
                "status": "not computed",
                "detail": "labtrust_gym.evidence not available",
            }
        elif not clean_ok:
            out["verify_bundle"] = {
                "status": "error",
                "detail": f"the clean run's bundle does not verify: {clean_bad}",
            }
        else:
            ok, bad = _bundle_verdict(evidence_mod, root / "mutant", root / "mutant_bundle")
            out["verify_bundle"] = {"status": "survived" if ok else "killed", "by": bad}
    return out


def matrix_passed(matrix: Mapping[str, Any]) -> bool:
    """Every mutant is killed by the security suite or the safety case, and by
    ``verify-bundle --replay`` wherever that column was computed."""
    for row in matrix["mutants"]:
        if "killed" not in (row["security_suite"]["status"], row["safety_case"]["status"]):
            return False
        if row["verify_bundle"]["status"] in ("survived", "error"):
            return False
    return True


def _cell(col: Mapping[str, Any], limit: int = 4) -> str:
    status = col.get("status", "?")
    by = list(col.get("by") or ())
    if status == "killed" and by:
        shown = ", ".join(by[:limit]) + (f" +{len(by) - limit}" if len(by) > limit else "")
        return f"killed ({shown})"
    if status in ("not computed", "error") and col.get("detail"):
        return f"{status}: {col['detail']}"
    if status == "killed" and col.get("detail"):
        return f"killed ({col['detail']})"
    return str(status)


def render_matrix_markdown(matrix: Mapping[str, Any]) -> str:
    """The kill matrix as a Markdown table, with how each column was computed."""
    cols = matrix.get("columns") or {}
    lines = [
        "| mutant | what it breaks | pytest | security suite | safety case | "
        "verify-bundle --replay | probe run changed |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in matrix["mutants"]:
        probe = r.get("probe") or {}
        what = _probe_label(probe["run"]) if probe.get("run") else ""
        lines.append(
            f"| `{r['mutant_id']}` | {r['title']} | {_cell(r['pytest'])} | "
            f"{_cell(r['security_suite'])} | {_cell(r['safety_case'])} | "
            f"{_cell(r['verify_bundle'])} | "
            f"{'yes' if probe.get('episode_logs_differ') else 'no'} ({what}) |"
        )
    lines += [
        "",
        f"pytest: `python -m pytest -x` on {', '.join(cols.get('pytest') or []) or '(not run)'} "
        "with the mutant applied by `labtrust_gym.security.mutant_plugin`. "
        "Safety case: claims " + ", ".join(cols.get("safety_case_claims") or []) + ". "
        "verify-bundle: "
        + (
            "the probe run's bundle, verified with replay on the clean engine."
            if cols.get("verify_bundle")
            else "not computed (labtrust_gym.evidence not available in this build)."
        ),
    ]
    return "\n".join(lines) + "\n"
