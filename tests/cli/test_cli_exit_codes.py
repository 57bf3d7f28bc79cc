"""Exit codes of every command (except the assurance commands) match the README:
0 success, 1 a check failed or a run released nothing, 2 bad usage or input. Bad input
(unknown ids, bad or missing files, options that do not apply) is exit 2 with a message
naming the culprit, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from labtrust_gym.benchmarks.runner import run_benchmark, write_results
from labtrust_gym.cli.main import main
from labtrust_gym.config import get_policy_dir

COORD_SPEC = {
    "version": "0.1",
    "study_id": "codes",
    "task": "coord_scale",
    "scales": [{"name": "scale_preset", "values": ["small_smoke"]}],
    "methods": ["scripted_team"],
    "injections": ["none"],
    "episodes_per_cell": 1,
    "base_seed": 1,
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good and bad inputs of every kind the commands read."""
    d = tmp_path_factory.mktemp("inputs")
    res = run_benchmark("qc_cascade", 1, 0, params={"max_steps": 30}, log_dir=d / "logs")
    write_results(res, d / "results.json")
    log = Path(res["logs"][0])
    lines = log.read_bytes().splitlines()
    rec = json.loads(lines[2])
    rec["t_s"] = rec.get("t_s", 0) + 1  # one edited record: the chain no longer verifies
    (d / "tampered.jsonl").write_bytes(
        b"\n".join([*lines[:2], json.dumps(rec).encode(), *lines[3:]]) + b"\n"
    )
    (d / "not_json.json").write_text("not json\n", encoding="utf-8")
    (d / "latin1.json").write_bytes(b"\xff\xfe{")
    (d / "hollow.json").write_text(
        json.dumps({"schema_version": "labtrust.results.v0.1"}), encoding="utf-8"
    )
    (d / "empty_dir").mkdir()
    (d / "a_file").write_text("x", encoding="utf-8")
    (d / "bad.yaml").write_text("a: [\n", encoding="utf-8")
    (d / "coord.yaml").write_text(yaml.safe_dump(COORD_SPEC), encoding="utf-8")
    (d / "plain.yaml").write_text(
        yaml.safe_dump({**COORD_SPEC, "task": "qc_cascade", "scales": []}), encoding="utf-8"
    )
    pol = d / "broken_policy"
    shutil.copytree(get_policy_dir(), pol)
    zones = pol / "zones" / "zone_layout.v0.1.yaml"
    zones.write_text(zones.read_text(encoding="utf-8").replace("zones:", "zonez:", 1), "utf-8")
    return {
        "results": d / "results.json",
        "log": log,
        **{p.stem: p for p in d.iterdir() if p.stem != "results"},
        "missing": d / "no_such_file.json",
        "dir": d,
    }


# (id, argv with {placeholders} from `files`, exit code, text stderr must contain)
CASES: list[tuple[str, list[str], int, str]] = [
    ("no command", [], 2, "usage"),
    ("unknown command", ["frobnicate"], 2, "frobnicate"),
    ("unknown profile", ["--profile", "nope", "list-tasks"], 2, "'nope'"),
    ("list-tasks", ["list-tasks"], 0, ""),
    # run-benchmark
    ("rb unknown task", ["run-benchmark", "--task", "nope"], 2, "unknown task 'nope'"),
    (
        "rb unknown method",
        ["run-benchmark", "--task", "coord_scale", "--coord-method", "nope"],
        2,
        "'nope'",
    ),
    (
        "rb unknown injection",
        ["run-benchmark", "--task", "coord_risk", "--injection", "INJ-NOPE"],
        2,
        "INJ-NOPE",
    ),
    (
        "rb unknown scale",
        ["run-benchmark", "--task", "coord_scale", "--scale", "nope"],
        2,
        "'nope'",
    ),
    (
        "rb scale n/a",
        ["run-benchmark", "--task", "qc_cascade", "--scale", "small_smoke"],
        2,
        "no scale config",
    ),
    (
        "rb random+method",
        [
            "run-benchmark",
            "--task",
            "coord_scale",
            "--controller",
            "random",
            "--coord-method",
            "market_auction",
        ],
        2,
        "--coord-method",
    ),
    (
        "rb injection n/a",
        ["run-benchmark", "--task", "qc_cascade", "--injection", "INJ-NET-DELAY-001"],
        2,
        "does not take risk injections",
    ),
    (
        "rb episodes 0",
        ["run-benchmark", "--task", "qc_cascade", "--episodes", "0"],
        2,
        "--episodes",
    ),
    (
        "rb bad controller",
        ["run-benchmark", "--task", "qc_cascade", "--controller", "bogus"],
        2,
        "bogus",
    ),
    ("rb bad timing", ["run-benchmark", "--task", "qc_cascade", "--timing", "bogus"], 2, "bogus"),
    (
        "rb out is a dir",
        ["run-benchmark", "--task", "qc_cascade", "--out", "{dir}"],
        2,
        "is a directory",
    ),
    # quick-eval
    ("qe out-dir is a file", ["quick-eval", "--out-dir", "{a_file}"], 2, "a_file"),
    # run-summary, summarize-results
    ("rs ok", ["run-summary", "--run", "{results}"], 0, ""),
    ("rs missing", ["run-summary", "--run", "{missing}"], 2, "no_such_file.json"),
    ("rs not json", ["run-summary", "--run", "{not_json}"], 2, "not valid JSON"),
    ("rs not utf-8", ["run-summary", "--run", "{latin1}"], 2, "not UTF-8"),
    ("rs hollow results", ["run-summary", "--run", "{hollow}"], 2, "hollow.json"),
    ("rs no results", ["run-summary", "--run", "{empty_dir}"], 2, "no results files"),
    ("sr ok", ["summarize-results", "--in", "{results}", "--out", "{dir}/summary"], 0, ""),
    (
        "sr missing",
        ["summarize-results", "--in", "{missing}", "--out", "{dir}/s"],
        2,
        "no_such_file",
    ),
    ("sr hollow", ["summarize-results", "--in", "{hollow}", "--out", "{dir}/s"], 2, "hollow.json"),
    (
        "sr out is a file",
        ["summarize-results", "--in", "{results}", "--out", "{a_file}"],
        2,
        "a_file",
    ),
    # replay
    ("replay ok", ["replay", "{log}"], 0, ""),
    ("replay tampered", ["replay", "{tampered}"], 1, ""),
    ("replay missing", ["replay", "{missing}"], 2, "no_such_file.json"),
    ("replay directory", ["replay", "{empty_dir}"], 2, "empty_dir"),
    ("replay not json", ["replay", "{not_json}"], 2, "not JSON"),
    # determinism-report
    ("dr unknown task", ["determinism-report", "--task", "nope"], 2, "unknown task 'nope'"),
    ("dr episodes 0", ["determinism-report", "--episodes", "0"], 2, "--episodes"),
    ("dr out is a dir", ["determinism-report", "--out", "{dir}"], 2, "is a directory"),
    # bench
    ("bench unknown target", ["bench", "nope"], 2, "nope"),
    ("bench unknown method", ["bench", "coord", "--method", "nope"], 2, "'nope'"),
    ("bench coord unknown scale", ["bench", "coord", "--scale", "nope"], 2, "'nope'"),
    ("bench env unknown scale", ["bench", "env", "--scale", "nope"], 2, "'nope'"),
    ("bench unknown task", ["bench", "episodes", "--task", "nope"], 2, "'nope'"),
    ("bench steps 0", ["bench", "env", "--steps", "0"], 2, "--steps"),
    ("bench rounds 0", ["bench", "engine", "--rounds", "0"], 2, "--rounds"),
    ("bench repeats 0", ["bench", "engine", "--repeats", "0"], 2, "--repeats"),
    # validate-policy, plugins, artifacts
    ("vp broken policy", ["validate-policy", "--policy-dir", "{broken_policy}"], 1, "zone_layout"),
    ("vp missing dir", ["validate-policy", "--policy-dir", "{missing}"], 2, "no_such_file"),
    ("vp unknown partner", ["validate-policy", "--partner", "nope"], 2, "'nope'"),
    ("plugins list", ["plugins", "list"], 0, ""),
    ("artifacts roots", ["artifacts", "roots"], 0, ""),
    ("artifacts unknown kind", ["artifacts", "which", "bogus", "x"], 2, "bogus"),
    ("artifacts unknown name", ["artifacts", "which", "studies", "nope"], 2, "'nope'"),
    # studies
    ("study dry run", ["run-study", "--spec", "{coord}", "--out", "{dir}/st", "--dry-run"], 0, ""),
    (
        "study missing spec",
        ["run-study", "--spec", "{missing}", "--out", "{dir}/st"],
        2,
        "no_such_file",
    ),
    ("study bad yaml", ["run-study", "--spec", "{bad}", "--out", "{dir}/st"], 2, "bad.yaml"),
    (
        "study workers 0",
        ["run-study", "--spec", "{coord}", "--out", "{dir}/st", "--workers", "0"],
        2,
        "--workers",
    ),
    (
        "study scheduler n/a",
        ["run-study", "--spec", "{coord}", "--out", "{dir}/st", "--scheduler", "tcp://h:1"],
        2,
        "--scheduler",
    ),
    ("study out is a file", ["run-study", "--spec", "{coord}", "--out", "{a_file}"], 2, "a_file"),
    (
        "coord study plain task",
        ["run-coordination-study", "--spec", "{plain}", "--out", "{dir}/st"],
        2,
        "qc_cascade",
    ),
    ("plots missing", ["make-plots", "--run", "{missing}"], 2, "does not exist"),
    ("plots on a file", ["make-plots", "--run", "{a_file}"], 2, "is not a directory"),
    ("plots no manifest", ["make-plots", "--run", "{empty_dir}"], 2, "no study manifest"),
]


@pytest.mark.parametrize(
    ("argv", "code", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_exit_code(
    argv: list[str],
    code: int,
    says: str,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [a.format(**files) for a in argv]
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse errors exit 2 from inside main
        rc = int(exc.code or 0)
    captured = capsys.readouterr()
    assert rc == code, captured.err
    assert "Traceback" not in captured.err
    # errors go to stderr; a failed check may list its findings on stdout
    assert says in (captured.err if code == 2 else captured.err + captured.out)
