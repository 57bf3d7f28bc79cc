"""The compiled-policy cache: where it lives, that it can be switched off, that it never
goes inside an artifact root, that a corrupt entry is harmless, and that it saves the
next process the parsing and the validation (and only for unchanged bytes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labtrust_gym.errors import ConfigError, PolicyValidationError
from labtrust_gym.policy import cache
from labtrust_gym.policy.loader import load_policy
from labtrust_gym.policy.yaml_io import load_yaml

POLICY_SRC = Path(__file__).resolve().parents[2] / "policy"


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("LABTRUST_CACHE_DIR", str(d))
    monkeypatch.delenv("LABTRUST_DISABLE_POLICY_CACHE", raising=False)
    return d


def test_where_the_cache_lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABTRUST_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "labtrust-gym" / "policy-cache-v1"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "labtrust-gym" / ("policy-cache-v1")
    monkeypatch.setenv("LABTRUST_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.cache_dir() == tmp_path / "mine" / "policy-cache-v1"
    monkeypatch.setenv("LABTRUST_DISABLE_POLICY_CACHE", "1")
    assert cache.cache_dir() is None
    monkeypatch.setenv("LABTRUST_DISABLE_POLICY_CACHE", "maybe")
    with pytest.raises(ConfigError, match="LABTRUST_DISABLE_POLICY_CACHE"):
        cache.cache_dir()


def test_never_inside_an_artifact_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    (root / "policy").mkdir(parents=True)
    monkeypatch.setenv("LABTRUST_EXTRA_ROOTS", str(root))
    monkeypatch.setenv("LABTRUST_CACHE_DIR", str(root / "policy" / "cache"))
    with pytest.raises(ConfigError, match="inside the artifact root"):
        cache.cache_dir()


def test_a_corrupt_entry_is_a_miss_and_is_rewritten(own_cache: Path, tmp_path: Path) -> None:
    f = tmp_path / "doc.v0.1.yaml"
    f.write_text("a: [1, 2]\nb: {c: x}\n", encoding="utf-8")
    assert load_yaml(f) == {"a": [1, 2], "b": {"c": "x"}}
    (entry,) = (own_cache / "policy-cache-v1" / "yaml").rglob("*.json")
    good = entry.read_bytes()
    for bad in (b"", good[: len(good) // 2], good.replace(b"[1,2]", b"[1,3]"), b"\x00" * 50):
        entry.write_bytes(bad)
        assert load_yaml(f) == {"a": [1, 2], "b": {"c": "x"}}  # the checksum caught it
        assert entry.read_bytes() == good
    entry.unlink()
    entry.parent.chmod(0o500)  # a read-only cache only costs the speed-up
    try:
        assert load_yaml(f) == {"a": [1, 2], "b": {"c": "x"}}
    finally:
        entry.parent.chmod(0o700)


def _probe(env: dict[str, str], pdir: Path) -> dict[str, bool]:
    code = (
        "import json, sys\n"
        "from labtrust_gym.policy.loader import load_policy\n"
        f"load_policy({str(pdir)!r})\n"
        "print(json.dumps({m: m in sys.modules for m in ('yaml', 'jsonschema')}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, bool] = json.loads(proc.stdout)
    return result


def test_an_unchanged_policy_is_neither_parsed_nor_validated_again(
    own_cache: Path, tmp_path: Path
) -> None:
    pdir = tmp_path / "policy"
    shutil.copytree(POLICY_SRC, pdir)
    env = {**os.environ, "LABTRUST_CACHE_DIR": str(own_cache)}
    assert _probe(env, pdir) == {"yaml": True, "jsonschema": True}  # cold: parse, validate
    assert _probe(env, pdir) == {"yaml": False, "jsonschema": False}  # warm: neither
    off = {**env, "LABTRUST_DISABLE_POLICY_CACHE": "1"}
    assert _probe(off, pdir) == {"yaml": True, "jsonschema": True}
    # Changed bytes are parsed and validated again: an invalid change is caught.
    sla = pdir / "sla" / "sla_targets.v0.1.yaml"
    sla.write_text(sla.read_text().replace("rank: 0", "rank: -4", 1))
    with pytest.raises(PolicyValidationError, match="rank"):
        load_policy(pdir)


def test_documents_with_allowed_non_finite_numbers_are_cached_too(
    own_cache: Path, tmp_path: Path
) -> None:
    import math

    f = tmp_path / "g.v0.1.yaml"
    f.write_text("t: [.inf, -.inf, .nan, 1.5]\n", encoding="utf-8")
    first = load_yaml(f, allow_nonfinite=True)
    (entry,) = (own_cache / "policy-cache-v1" / "yaml").rglob("*.json")
    assert entry.read_bytes().split(b"\n", 1)[0].endswith(b" json")
    again = load_yaml(f, allow_nonfinite=True)  # from the cache
    assert again["t"][:2] == [math.inf, -math.inf] and math.isnan(again["t"][2])
    assert again["t"][3] == first["t"][3] == 1.5
    # The cache key leaves out whether non-finite numbers are allowed (a finite document
    # parses the same either way): a cached document holding them is still refused
    # where they are not allowed.
    from labtrust_gym.errors import PolicyError

    with pytest.raises(PolicyError, match="non-finite"):
        load_yaml(f, allow_nonfinite=False)
    assert load_yaml(f, allow_nonfinite=True)["t"][3] == 1.5


def test_a_finite_document_is_served_from_the_cache_whatever_the_opt_in(
    own_cache: Path, tmp_path: Path
) -> None:
    f = tmp_path / "h.v0.1.yaml"
    f.write_text("t: [1.5, 2]\n", encoding="utf-8")
    assert load_yaml(f, allow_nonfinite=False) == {"t": [1.5, 2]}
    entries = list((own_cache / "policy-cache-v1" / "yaml").rglob("*.json"))
    assert len(entries) == 1 and entries[0].read_bytes().split(b"\n", 1)[0].endswith(b"orjson")
    assert load_yaml(f, allow_nonfinite=True) == {"t": [1.5, 2]}
    assert list((own_cache / "policy-cache-v1" / "yaml").rglob("*.json")) == entries


def test_a_whole_bundle_is_served_from_the_cache_until_a_file_changes(
    own_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labtrust_gym.policy import loader

    pdir = tmp_path / "policy"
    shutil.copytree(POLICY_SRC, pdir)
    first = load_policy(pdir)
    loader._CACHE.clear()  # a new process, as far as the loader can tell

    def no_reading(path: object, **kw: object) -> object:
        raise AssertionError(f"read {path} although the bundle was cached")

    monkeypatch.setattr(loader, "load_yaml_digest", no_reading)
    again = load_policy(pdir)
    assert again.fingerprint == first.fingerprint
    assert loader.fingerprint_docs(again.docs) == first.fingerprint
    assert dict(again.sources) == dict(first.sources)
    monkeypatch.undo()
    monkeypatch.setenv("LABTRUST_CACHE_DIR", str(own_cache))

    # A changed file is a miss: its new content is read, and validated.
    loader._CACHE.clear()
    sla = pdir / "sla" / "sla_targets.v0.1.yaml"
    sla.write_text(sla.read_text().replace("rank: 0", "rank: -4", 1))
    with pytest.raises(PolicyValidationError, match="rank"):
        load_policy(pdir)
