"""Per-host algorithm choices and the SHA-1 key classes paramiko 5 no longer ships."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import paramiko
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from paramiko.message import Message

from auditor.remote.algorithms import (
    LEGACY_KEX,
    AuditorTransport,
    KexGroup1SHA1,
    LegacyDSSKey,
    LegacyRSAKey,
    user_key_for,
    wants_legacy,
)


@pytest.fixture
def sock() -> Iterator[socket.socket]:
    left, right = socket.socketpair()  # never connected to anything: lists only
    yield left
    left.close()
    right.close()


def test_modern_hosts_get_no_weak_algorithms(sock: socket.socket) -> None:
    transport = AuditorTransport(sock)
    assert not [c for c in transport.preferred_ciphers if c.endswith("-cbc")]
    assert not [m for m in transport.preferred_macs if "sha1" in m or "md5" in m]
    assert not [k for k in transport.preferred_kex if "sha1" in k]
    assert "ssh-rsa" not in transport.preferred_keys
    assert "ssh-dss" not in transport.preferred_keys


def test_aes_gcm_is_asked_for_first_and_the_rest_kept(sock: socket.socket) -> None:
    for legacy in (False, True):
        ciphers = list(AuditorTransport(sock, legacy=legacy).preferred_ciphers)
        assert ciphers[:2] == ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]
        # A server without GCM (OpenSSH < 6.2, CentOS 5) still finds aes-ctr next.
        assert ciphers[2:5] == ["aes128-ctr", "aes192-ctr", "aes256-ctr"]
        assert ("aes128-cbc" in ciphers) is legacy


def test_legacy_hosts_get_old_algorithms_last(sock: socket.socket) -> None:
    transport = AuditorTransport(sock, legacy=True)
    kex = list(transport.preferred_kex)
    assert kex[-len(LEGACY_KEX) :] == list(LEGACY_KEX)
    assert kex[0] != LEGACY_KEX[0]  # modern first: a modern host still negotiates modern
    keys = list(transport.preferred_keys)
    assert keys.index("ssh-rsa") > keys.index("rsa-sha2-256")
    assert "ssh-dss" in keys
    assert "ssh-dss-cert-v01@openssh.com" not in keys  # unparseable: never offered
    assert "aes128-cbc" in transport.preferred_ciphers
    assert "hmac-sha1" in transport.preferred_macs
    assert "ssh-rsa" in transport.preferred_pubkeys


def test_known_key_types_are_asked_for_first(sock: socket.socket) -> None:
    transport = AuditorTransport(sock, prefer_key_types=("ssh-rsa",))
    assert list(transport.preferred_keys)[:2] == ["rsa-sha2-512", "rsa-sha2-256"]
    legacy = AuditorTransport(sock, legacy=True, prefer_key_types=("ssh-dss",))
    assert legacy.preferred_keys[0] == "ssh-dss"


def test_old_servers_without_server_sig_algs_get_ssh_rsa_signatures(sock: socket.socket) -> None:
    transport = AuditorTransport(sock, legacy=True)
    transport.adapt_user_auth_to_server()  # no ext-info received: pre-7.2 OpenSSH
    assert transport.preferred_pubkeys[0] == "ssh-rsa"
    modern = AuditorTransport(sock)
    modern.adapt_user_auth_to_server()
    assert "ssh-rsa" not in modern.preferred_pubkeys


def test_rsa_sha1_retry_window(sock: socket.socket) -> None:
    transport = AuditorTransport(sock, legacy=True)
    key = paramiko.RSAKey(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert transport.may_retry_rsa_with_sha1(key)
    before = transport.preferred_pubkeys
    with transport.rsa_sha1_signatures():
        assert [k for k in transport.preferred_pubkeys if "rsa" in k] == ["ssh-rsa"]
    assert transport.preferred_pubkeys == before
    assert not AuditorTransport(sock).may_retry_rsa_with_sha1(key)
    assert isinstance(user_key_for(key, transport), LegacyRSAKey)
    assert user_key_for(key, AuditorTransport(sock)) is key


def test_legacy_rsa_signs_and_verifies_ssh_rsa() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = LegacyRSAKey(key=private)
    signed = key.sign_ssh_data(b"exchange hash", "ssh-rsa")
    signed.rewind()
    assert signed.get_text() == "ssh-rsa"
    signed.rewind()
    public = LegacyRSAKey(Message(key.asbytes()))
    assert public.verify_ssh_sig(b"exchange hash", signed)
    signed.rewind()
    assert not public.verify_ssh_sig(b"another hash", signed)
    # SHA-2 signatures still work through the same class.
    modern = key.sign_ssh_data(b"h", "rsa-sha2-256")
    modern.rewind()
    assert public.verify_ssh_sig(b"h", modern)
    # A plain RSAKey (what non-legacy hosts get) refuses SHA-1 signatures.
    signed.rewind()
    assert not paramiko.RSAKey(Message(key.asbytes())).verify_ssh_sig(b"exchange hash", signed)


def test_dss_host_key_verifies_a_server_signature() -> None:
    private = dsa.generate_private_key(key_size=1024)
    numbers = private.public_key().public_numbers()
    blob = Message()
    blob.add_string("ssh-dss")
    for value in (
        numbers.parameter_numbers.p,
        numbers.parameter_numbers.q,
        numbers.parameter_numbers.g,
        numbers.y,
    ):
        blob.add_mpint(value)
    key = LegacyDSSKey(Message(blob.asbytes()))
    assert key.asbytes() == blob.asbytes()
    assert key.get_name() == "ssh-dss" and key.get_bits() == 1024

    r, s = decode_dss_signature(private.sign(b"exchange hash", hashes.SHA1()))
    signature = Message()
    signature.add_string("ssh-dss")
    signature.add_string(r.to_bytes(20, "big") + s.to_bytes(20, "big"))
    signature.rewind()
    assert key.verify_ssh_sig(b"exchange hash", signature)
    signature.rewind()
    assert not key.verify_ssh_sig(b"forged", signature)


def test_group1_prime_is_rfc2409_oakley_group_2() -> None:
    assert KexGroup1SHA1.P.bit_length() == 1024
    assert KexGroup1SHA1.P % 2**64 == 2**64 - 1  # the low 64 bits are all ones
    assert KexGroup1SHA1.P >> 960 == 2**64 - 1  # and so are the high 64


def test_wants_legacy() -> None:
    assert wants_legacy(["10.1.*"], ["10.1.2.3"])
    assert wants_legacy(["*.OLD.example.com"], ["x", "db.old.example.com"])
    assert not wants_legacy([], ["10.1.2.3"])
    assert not wants_legacy(["10.1.*"], ["10.2.0.1", ""])
