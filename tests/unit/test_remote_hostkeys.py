"""Host key policy: known_hosts parsing, strict, tofu (with concurrent writers)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import shutil
import subprocess
import threading
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from auditor.remote import (
    ChangedHostKeyError,
    FailureKind,
    HostCertificateError,
    HostKeyPolicy,
    UnknownHostKeyError,
    fingerprint,
)
from auditor.remote.hostkeys import (
    KnownHostsIndex,
    OfferedKey,
    default_tofu_file,
    known_hosts_name,
    parse_known_hosts,
)


def new_pkey() -> paramiko.PKey:
    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()
    )
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))


def ed25519_key() -> OfferedKey:
    return OfferedKey.from_pkey(new_pkey())


def line(names: str, key: OfferedKey, marker: str = "") -> str:
    body = f"{names} {key.key_type} {base64.b64encode(key.blob).decode()}"
    return f"{marker} {body}\n" if marker else body + "\n"


def hashed(name: str) -> str:
    salt = b"0123456789abcdefghij"
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


@pytest.fixture
def key() -> OfferedKey:
    return ed25519_key()


def test_known_hosts_name() -> None:
    assert known_hosts_name("10.0.0.5", 22) == "10.0.0.5"
    assert known_hosts_name("10.0.0.5", 2222) == "[10.0.0.5]:2222"


@pytest.mark.parametrize(
    ("patterns", "name", "expected"),
    [
        ("web1,10.0.0.5", "10.0.0.5", True),
        ("[10.0.0.5]:2222", "[10.0.0.5]:2222", True),
        ("[10.0.0.5]:2222", "10.0.0.5", False),
        ("[10.0.0.5]:2222", "[10.0.0.5]:2223", False),
        ("*.example.com", "WEB1.Example.com", True),
        ("10.0.0.?", "10.0.0.7", True),
        ("10.0.0.*,!10.0.0.9", "10.0.0.9", False),
        ("10.0.0.*,!10.0.0.9", "10.0.0.8", True),
        (hashed("10.0.0.5"), "10.0.0.5", True),
        (hashed("10.0.0.5"), "10.0.0.6", False),
        (hashed("[10.0.0.5]:2222"), "[10.0.0.5]:2222", True),
    ],
)
def test_pattern_matching(patterns: str, name: str, expected: bool, key: OfferedKey) -> None:
    (entry,) = parse_known_hosts(line(patterns, key), "kh")
    assert entry.matches(name) is expected


def test_the_index_finds_what_a_scan_of_every_line_finds(key: OfferedKey) -> None:
    other = ed25519_key()
    text = "".join(
        [
            line("web1,10.0.0.5", key),
            line("10.0.0.*,!10.0.0.9", other),
            line(hashed("10.0.0.5"), other),
            line("WEB1", other, marker="@revoked"),
            line("[10.0.0.5]:2222,db1", key),
            line("*.Example.com", key),
            line("10.0.0.9,web9", other),
            line("10.0.0.5", other),
        ]
    )
    entries = parse_known_hosts(text, "kh")
    index = KnownHostsIndex(entries)
    names = ["10.0.0.5", "web1", "10.0.0.9", "Web9", "[10.0.0.5]:2222", "DB1", "a.example.COM"]
    for size in range(len(names) + 1):
        for start in range(len(names)):
            asked = names[start : start + size]
            scan = [e for e in entries if any(e.matches(n) for n in asked)]
            assert index.matching(asked) == scan, asked
    found = index.matching(["10.0.0.5", "web1"])
    assert [e.source for e in found] == ["kh:1", "kh:2", "kh:3", "kh:4", "kh:8"]


def test_parsing_keeps_file_and_line_and_skips_junk(key: OfferedKey) -> None:
    text = "# comment\n\nnot-enough-fields\nhost ssh-ed25519 !!notbase64!!\n" + line("h", key)
    (entry,) = parse_known_hosts(text, "/x/known_hosts")
    assert entry.source == "/x/known_hosts:5"
    assert entry.fingerprint == key.fingerprint


@pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="ssh-keygen not installed")
def test_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True
    )
    pub = (tmp_path / "k.pub").read_text().split()
    expected = subprocess.run(
        ["ssh-keygen", "-lf", str(tmp_path / "k.pub")], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert fingerprint(base64.b64decode(pub[1])) == expected


def test_strict_accepts_a_known_key(tmp_path: Path, key: OfferedKey) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(line("[10.0.0.5]:2222", key))
    HostKeyPolicy("strict", known_hosts=[known]).verify(["[10.0.0.5]:2222"], key)


def test_strict_refuses_an_unknown_key(tmp_path: Path, key: OfferedKey) -> None:
    policy = HostKeyPolicy("strict", known_hosts=[tmp_path / "missing"], tofu_file=tmp_path / "t")
    with pytest.raises(UnknownHostKeyError) as caught:
        policy.verify(["10.0.0.5"], key)
    assert "unknown host key for 10.0.0.5" in str(caught.value)
    assert caught.value.fingerprint == key.fingerprint
    assert not (tmp_path / "t").exists()  # strict never writes


def test_a_changed_key_is_refused_with_both_fingerprints(tmp_path: Path, key: OfferedKey) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("# first line\n" + line("10.0.0.5", key))
    other = ed25519_key()
    for policy in ("strict", "tofu"):
        checker = HostKeyPolicy(policy, known_hosts=[known], tofu_file=tmp_path / "tofu")
        with pytest.raises(ChangedHostKeyError) as caught:
            checker.verify(["10.0.0.5"], other)
        error = caught.value
        assert error.known_fingerprint == key.fingerprint
        assert error.offered_fingerprint == other.fingerprint
        assert error.known_at == f"{known}:2"
        assert key.fingerprint in str(error) and other.fingerprint in str(error)
    assert not (tmp_path / "tofu").exists()


def test_a_host_known_only_by_another_key_type_is_refused(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    rsa = OfferedKey(key_type="ssh-rsa", blob=b"\x00\x00\x00\x07ssh-rsa-fake")
    known.write_text(line("10.0.0.5", rsa))
    with pytest.raises(ChangedHostKeyError):
        HostKeyPolicy("tofu", known_hosts=[known], tofu_file=tmp_path / "t").verify(
            ["10.0.0.5"], ed25519_key()
        )


def test_a_revoked_key_is_refused(tmp_path: Path, key: OfferedKey) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(line("*", key, marker="@revoked") + line("10.0.0.5", key))
    with pytest.raises(ChangedHostKeyError, match="REVOKED"):
        HostKeyPolicy("strict", known_hosts=[known]).verify(["10.0.0.5"], key)


def test_known_key_types_for_preference(tmp_path: Path, key: OfferedKey) -> None:
    known = tmp_path / "known_hosts"
    rsa = OfferedKey(key_type="ssh-rsa", blob=b"rsa")
    known.write_text(line("web1", rsa) + line("10.0.0.5", key))
    policy = HostKeyPolicy("strict", known_hosts=[known])
    assert policy.known_key_types(["10.0.0.5", "web1"]) == ("ssh-rsa", "ssh-ed25519")
    assert policy.known_key_types(["10.0.0.6"]) == ()


def test_tofu_records_first_sight_then_trusts_it(tmp_path: Path, key: OfferedKey) -> None:
    store = tmp_path / "share" / "auditor" / "known_hosts"
    policy = HostKeyPolicy("tofu", known_hosts=[], tofu_file=store)
    policy.verify(["[10.0.0.5]:2222", "[web1]:2222"], key)
    assert store.read_text() == line("[10.0.0.5]:2222", key)
    assert store.stat().st_mode & 0o777 == 0o600
    policy.verify(["[10.0.0.5]:2222"], key)  # trusted now, not recorded twice
    assert store.read_text().count("\n") == 1
    # A later run (new policy object) sees it, and refuses a different key.
    later = HostKeyPolicy("tofu", known_hosts=[], tofu_file=store)
    later.verify(["[10.0.0.5]:2222"], key)
    with pytest.raises(ChangedHostKeyError):
        later.verify(["[10.0.0.5]:2222"], ed25519_key())


def test_tofu_writers_do_not_lose_entries(tmp_path: Path) -> None:
    store = tmp_path / "known_hosts"
    # Two policies on one file stand for two concurrent runs; threads for workers.
    policies = [HostKeyPolicy("tofu", known_hosts=[], tofu_file=store) for _ in range(2)]
    keys = {f"10.0.{i // 256}.{i % 256}": ed25519_key() for i in range(40)}
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        for i, (name, key) in enumerate(keys.items()):
            if i % 8 == n:
                policies[n % 2].verify([name], key)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = parse_known_hosts(store.read_text(), str(store))
    assert sorted(e.patterns[0] for e in entries) == sorted(keys)


def test_tofu_race_on_one_host_keeps_the_first_key(tmp_path: Path, key: OfferedKey) -> None:
    store = tmp_path / "known_hosts"
    first = HostKeyPolicy("tofu", known_hosts=[], tofu_file=store)
    second = HostKeyPolicy("tofu", known_hosts=[], tofu_file=store)
    second.known_key_types(["10.0.0.5"])  # loaded (empty) before the first one recorded
    first.verify(["10.0.0.5"], key)
    with pytest.raises(ChangedHostKeyError):
        second.verify(["10.0.0.5"], ed25519_key())


def test_default_tofu_file_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_tofu_file() == tmp_path / "auditor" / "known_hosts"


def test_works_as_a_paramiko_missing_host_key_policy(tmp_path: Path) -> None:
    policy = HostKeyPolicy("strict", known_hosts=[], tofu_file=tmp_path / "t")
    assert isinstance(policy, paramiko.MissingHostKeyPolicy)
    with pytest.raises(UnknownHostKeyError):
        policy.missing_host_key(paramiko.SSHClient(), "10.0.0.5", new_pkey())


def test_unknown_policy_name() -> None:
    with pytest.raises(ValueError, match="strict"):
        HostKeyPolicy("yolo")


@pytest.mark.parametrize("policy", ["strict", "tofu"])
def test_a_host_only_a_certificate_authority_vouches_for_is_its_own_failure(
    tmp_path: Path, key: OfferedKey, policy: str
) -> None:
    """@cert-authority lines are not ignored silently: CA checking is not supported, so a host
    known only through one fails with its own kind, under tofu too (recording whatever key
    answers first would replace the CA's word with a guess)."""
    known = tmp_path / "known_hosts"
    known.write_text(line("*.corp.example.com", ed25519_key(), marker="@cert-authority"))
    tofu = tmp_path / "tofu"
    checker = HostKeyPolicy(policy, known_hosts=[known], tofu_file=tofu)
    with pytest.raises(HostCertificateError) as caught:
        checker.verify(["web01.corp.example.com", "10.0.0.5"], key)
    assert caught.value.kind is FailureKind.HOST_CERTIFICATE
    assert "CA checking is not supported" in str(caught.value) and f"{known}:1" in str(caught.value)
    assert not tofu.exists()
    # The host's own key beside the CA line: checked as usual.
    known.write_text(known.read_text() + line("web01.corp.example.com", key))
    HostKeyPolicy(policy, known_hosts=[known], tofu_file=tofu).verify(
        ["web01.corp.example.com"], key
    )
    # A CA for other hosts changes nothing for this one.
    other = HostKeyPolicy("strict", known_hosts=[known], tofu_file=tofu)
    with pytest.raises(UnknownHostKeyError) as plain:
        other.verify(["db01.example.org"], key)
    assert not isinstance(plain.value, HostCertificateError)
