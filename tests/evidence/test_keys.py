"""The audit key: LABTRUST_AUDIT_KEY, a lab profile's audit_key, the per-install key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from labtrust_gym.cli.main import main
from labtrust_gym.errors import ConfigError
from labtrust_gym.evidence.crypto import parse_public_key
from labtrust_gym.evidence.keys import (
    AUDIT_KEY_ENV,
    audit_key,
    config_dir,
    generate_key_file,
    per_install_key_path,
)
from labtrust_gym.extensions import use_lab_profile


def test_the_session_never_uses_the_real_home() -> None:
    assert Path(os.environ["XDG_CONFIG_HOME"]) != Path.home() / ".config"
    assert not str(config_dir()).startswith(str(Path.home() / ".config"))
    assert audit_key().source.startswith(AUDIT_KEY_ENV)


def test_per_install_key_is_made_once_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(AUDIT_KEY_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    first = audit_key()
    note = capsys.readouterr().err
    path = per_install_key_path()
    assert path == tmp_path / "cfg" / "labtrust" / "audit_key.pem" == first.path
    assert "created a per-install audit signing key" in note and first.key_id in note
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = audit_key()
    assert second.key_id == first.key_id
    assert capsys.readouterr().err == ""  # the note is shown once
    # A concurrent creator's key wins: generating again never replaces it.
    _, created = generate_key_file(path)
    assert not created and audit_key().key_id == first.key_id


def test_env_key_errors_name_the_variable_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigError, match=f"{AUDIT_KEY_ENV}=.*no such key file"):
        audit_key()
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    monkeypatch.setenv(AUDIT_KEY_ENV, str(junk))
    with pytest.raises(ConfigError, match="junk.pem.*not an unencrypted Ed25519"):
        audit_key()
    hexkey = tmp_path / "hex.key"
    hexkey.write_text("11" * 32 + "\n")
    monkeypatch.setenv(AUDIT_KEY_ENV, str(hexkey))
    assert audit_key().public_key_hex == (
        "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737"
    )


def test_lab_profile_audit_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ext"
    (root / "policy" / "lab_profiles").mkdir(parents=True)
    (root / "policy" / "keys").mkdir()
    generate_key_file(root / "policy" / "keys" / "lab.pem")
    monkeypatch.setenv("LABTRUST_EXTRA_ROOTS", str(root))
    doc = {
        "version": "0.1",
        "profile_id": "keyed",
        "description": "a lab with its key",
        "audit_key": "keys/lab.pem",
    }
    (root / "policy" / "lab_profiles" / "keyed.v0.1.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.delenv(AUDIT_KEY_ENV)
    with use_lab_profile("keyed"):
        k = audit_key()
    assert k.path == root / "policy" / "keys" / "lab.pem"
    assert "lab profile keyed" in k.source
    other = tmp_path / "env.pem"
    generate_key_file(other)
    monkeypatch.setenv(AUDIT_KEY_ENV, str(other))
    with use_lab_profile("keyed"):
        assert audit_key().path == other  # the variable overrides the profile


def test_audit_key_command_writes_the_public_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pub.pem"
    assert main(["audit-key", "--public-out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert parse_public_key(out.read_text()).hex() == audit_key().public_key_hex
    assert audit_key().key_id in printed
    assert "PRIVATE" not in out.read_text()
