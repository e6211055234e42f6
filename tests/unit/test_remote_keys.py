"""Loading our own private keys: every way it can go wrong says so, without secrets."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import paramiko
import pytest

from auditor.remote import KeyFileError
from auditor.remote.paramiko_connector import _KeyCache

SECRET = "s3cret passphrase"

pytestmark = pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="needs ssh-keygen")


def keygen(path: Path, kind: str, passphrase: str = "", pem: bool = False) -> Path:
    args = ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-f", str(path)]
    if pem:
        args += ["-m", "PEM"]
    subprocess.run(args, check=True)
    return path


@pytest.mark.parametrize(("kind", "pem"), [("ed25519", False), ("ecdsa", False), ("rsa", True)])
def test_plain_keys_load(tmp_path: Path, kind: str, pem: bool) -> None:
    key = _KeyCache(None).load(keygen(tmp_path / "k", kind, pem=pem))
    assert isinstance(key, paramiko.PKey) and key.can_sign()


@pytest.mark.parametrize(("kind", "pem"), [("ed25519", False), ("rsa", True), ("rsa", False)])
def test_encrypted_key_without_passphrase(tmp_path: Path, kind: str, pem: bool) -> None:
    path = keygen(tmp_path / "k", kind, SECRET, pem=pem)
    with pytest.raises(KeyFileError, match="is encrypted and no passphrase was given"):
        _KeyCache(None).load(path)
    assert _KeyCache(SECRET).load(path).can_sign()


def test_wrong_passphrase_never_echoes_it(tmp_path: Path) -> None:
    path = keygen(tmp_path / "k", "ed25519", SECRET)
    with pytest.raises(KeyFileError) as caught:
        _KeyCache("not the " + SECRET).load(path)
    assert "wrong passphrase?" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_passphrase_meant_for_another_key_does_not_break_a_plain_one(tmp_path: Path) -> None:
    assert _KeyCache(SECRET).load(keygen(tmp_path / "k", "ed25519")).can_sign()


def test_missing_and_garbage_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        _KeyCache(None).load(tmp_path / "nope")
    garbage = tmp_path / "garbage"
    garbage.write_text("hello\n")
    with pytest.raises(KeyFileError, match="not a private key"):
        _KeyCache(None).load(garbage)


def test_keys_are_read_once(tmp_path: Path) -> None:
    cache = _KeyCache(None)
    path = keygen(tmp_path / "k", "ed25519")
    first = cache.load(path)
    path.unlink()
    assert cache.load(path) is first
