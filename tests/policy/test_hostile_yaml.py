"""Hostile policy files: each is a clear error naming the file, the key path and the fix —
exit 1 from ``validate-policy``, exit 2 from a run — and never a traceback, a silent
choice, a hang or a memory blow-up. Measured with a copy of ``policy/`` under
``LABTRUST_POLICY_DIR``, as the issue did."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from labtrust_gym.cli.main import main
from labtrust_gym.errors import PolicyFileError
from labtrust_gym.policy.yaml_io import load_yaml, parse_yaml

POLICY_SRC = Path(__file__).resolve().parents[2] / "policy"


@pytest.fixture
def pdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dst = tmp_path / "policy"
    shutil.copytree(POLICY_SRC, dst)
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(dst))
    monkeypatch.setenv("LABTRUST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("LABTRUST_PROFILE", raising=False)
    monkeypatch.chdir(tmp_path)
    return dst


def _sub(path: Path, pattern: str, repl: str) -> None:
    text = path.read_text(encoding="utf-8")
    new, n = re.subn(pattern, repl, text, count=1, flags=re.M)
    assert n == 1, (path, pattern)
    path.write_text(new, encoding="utf-8")


EQUIP = "equipment/equipment_registry.v0.1.yaml"
SLA = "sla/sla_targets.v0.1.yaml"
EMITS = "emits/emits_vocab.v0.1.yaml"
ZONES = "zones/zone_layout.v0.1.yaml"
INV = "invariants/invariant_registry.v0.1.yaml"


def _dup(p: Path) -> None:
    _sub(p / EQUIP, r"^(    capacity: 8\n)", r"\1    capacity: 1\n")


def _inf(p: Path) -> None:
    _sub(p / SLA, r"target_tat_s: *[0-9.]+", "target_tat_s: .inf")


def _nan(p: Path) -> None:
    _sub(p / SLA, r"target_tat_s: *[0-9.]+", "target_tat_s: .nan")


def _overflow(p: Path) -> None:
    _sub(p / SLA, r"target_tat_s: *[0-9.]+", "target_tat_s: 1.0e+999")


def _huge(p: Path) -> None:
    _sub(p / EQUIP, r"^    capacity: 2\b", "    capacity: 1000000000000000")


def _bigint(p: Path) -> None:
    _sub(p / EQUIP, r"^    capacity: 2\b", "    capacity: 18446744073709551617")


def _utf8(p: Path) -> None:
    f = p / ZONES
    data = f.read_bytes()
    i = data.index(b"\n", 200)
    f.write_bytes(data[:i] + b" # caf\xe9" + data[i:])


def _bomb(p: Path) -> None:
    lines = ["x_bomb:", "  a0: &a0 [l, l, l, l, l, l, l, l, l]"]
    for k in range(1, 10):
        lines.append(f"  a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 9) + "]")
    f = p / EMITS
    f.write_text(f.read_text(encoding="utf-8") + "\n".join(lines) + "\n", encoding="utf-8")


def _big(p: Path) -> None:
    f = p / EMITS
    text = f.read_text(encoding="utf-8")
    extra = "".join(f"  - BULK_EMIT_{i:07d}_PADDING_PADDING\n" for i in range(1_100_000))
    f.write_text(text.replace("emits:\n", "emits:\n" + extra, 1), encoding="utf-8")
    assert f.stat().st_size > 40_000_000


def _handler(p: Path) -> None:
    _sub(p / INV, r"check: *[A-Za-z_]+", "check: no_such_check")


#: case -> (mutation, file, key path, words of the message and its fix)
CASES: dict[str, tuple[Callable[[Path], None], str, str, tuple[str, ...]]] = {
    "duplicate key": (
        _dup,
        EQUIP,
        "device_types.CENTRIFUGE.capacity",
        ("duplicate key 'capacity'", "remove or rename one"),
    ),
    ".inf": (_inf, SLA, "priorities.STAT.target_tat_s", ("non-finite number", "finite")),
    ".nan": (_nan, SLA, "priorities.STAT.target_tat_s", ("non-finite number '.nan'",)),
    "1.0e+999": (_overflow, SLA, "priorities.STAT.target_tat_s", ("non-finite number '1.0e+999'",)),
    "absurd size": (
        _huge,
        EQUIP,
        "device_types.CHEM.capacity",
        ("must be <= 1000", "1000000000000000"),
    ),
    "64-bit overflow": (
        _bigint,
        EQUIP,
        "device_types.CHEM.capacity",
        ("too large",),
    ),
    "non-UTF-8 byte": (
        _utf8,
        ZONES,
        "",
        ("byte 0xe9 at byte offset", "line 3, column", "re-save the file as UTF-8"),
    ),
    "alias bomb": (
        _bomb,
        EMITS,
        "x_bomb",
        ("nodes with its aliases", "alias bomb", "remove the nested aliases"),
    ),
    "40 MB file": (_big, EMITS, "", ("MiB", "over the 4.0 MiB limit", "split it or trim it")),
    "unregistered handler": (
        _handler,
        INV,
        "invariants[0].logic_template.parameters.check",
        ("INV-SPEC-001", "'state.no_such_check'", "not registered", "register the handler"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_validate_policy_and_a_run_name_the_file_key_and_fix(
    case: str, pdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mutate, rel, key, words = CASES[case]
    mutate(pdir)
    path = str(pdir / rel)

    assert main(["validate-policy"]) == 1
    out, err = capsys.readouterr()
    line = next((ln for ln in out.splitlines() if ln.startswith(path + ":")), None)
    assert line is not None, out + err
    assert line.startswith(f"{path}: {key or '<root>'}")
    for w in words:
        assert w in line, (w, line)
    assert "Traceback" not in err

    assert main(["run-benchmark", "--task", "throughput_sla", "--episodes", "1"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("labtrust: error:"), err
    assert path in err and (not key or key in err), err
    for w in words:
        assert w in err, (w, err)
    assert "Traceback" not in err and "throughput" not in out  # no episode ran


def test_each_problem_is_located_by_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "x.v0.1.yaml"
    f.write_text("a:\n  b: 1\n  c: [1, 2]\n  b: 3\n", encoding="utf-8")
    with pytest.raises(PolicyFileError) as err:
        load_yaml(f)
    e = err.value
    assert (e.file, e.key_path, e.line, e.column) == (str(f), "a.b", 4, 3)
    assert "first given on line 2" in e.problem
    # YAML equal keys are duplicates too: 1 and 0x1 are the same int, true and True too.
    for text in ("1: a\n0x1: b\n", "true: a\nTrue: b\n"):
        with pytest.raises(PolicyFileError, match="duplicate key"):
            parse_yaml(text, "t.yaml")


def test_merge_keys_and_plain_aliases_still_work() -> None:
    doc = parse_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b, *b]\n", "t.yaml")
    assert doc["other"] == {"x": 1, "y": 3}
    assert doc["list"] == [{"x": 1, "y": 2}] * 2


def test_recursive_alias_and_deep_nesting_are_refused() -> None:
    with pytest.raises(PolicyFileError, match="recursive alias"):
        parse_yaml("a: &a [1, *a]\n", "t.yaml")
    with pytest.raises(PolicyFileError, match="levels deep, over the limit of 64"):
        parse_yaml("a: " + "[" * 69 + "1" + "]" * 69 + "\n", "t.yaml")


def test_a_schema_opts_in_to_non_finite_numbers_per_place(
    pdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The golden scenarios feed .inf/.nan event times to the engine on purpose: their
    schema allows them there (x-allow-nonfinite), and nowhere else."""
    golden = pdir / "golden" / "golden_scenarios.v0.1.yaml"
    assert ".nan" in golden.read_text(encoding="utf-8")
    assert main(["validate-policy"]) == 0
    capsys.readouterr()
    # An arrival time is a number without the opt-in: .inf there is a problem.
    _sub(golden, r"(arrival_schedule:\n\s*- t_s: )[0-9.]+", r"\g<1>.inf")
    assert main(["validate-policy"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"arrival_schedule\[0\]\.t_s: non-finite number inf is not allowed", out)


def test_the_size_cap_is_checked_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sparse 1 GB file is refused from its size: nothing is read or parsed."""
    f = tmp_path / "huge.v0.1.yaml"
    with f.open("wb") as fh:
        fh.truncate(1 << 30)
    with pytest.raises(PolicyFileError, match=r"1024\.0 MiB .* over the 4\.0 MiB limit"):
        load_yaml(f)
    monkeypatch.setenv("LABTRUST_YAML_MAX_BYTES", "lots")
    with pytest.raises(Exception, match="LABTRUST_YAML_MAX_BYTES='lots' must be a whole number"):
        load_yaml(f)
