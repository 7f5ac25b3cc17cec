"""The SSH proxy's algorithm policy: supported by asyncssh, and enforced at start-up."""

from __future__ import annotations

import asyncssh
import pytest

from cloudclaude.core.settings import SettingsError
from cloudclaude.sshproxy import algorithms


def test_every_policy_algorithm_is_supported_by_asyncssh() -> None:
    assert algorithms.unsupported() == []


def test_the_policy_keeps_chacha20_and_the_x25519_hybrid_first() -> None:
    assert "chacha20-poly1305@openssh.com" in algorithms.CIPHERS
    assert algorithms.KEX_ALGS[0] == "mlkem768x25519-sha256"


def test_ciphers_outside_the_policy_are_refused() -> None:
    assert algorithms.ciphers("aes128-gcm@openssh.com, chacha20-poly1305@openssh.com") == [
        "aes128-gcm@openssh.com",
        "chacha20-poly1305@openssh.com",
    ]
    with pytest.raises(SettingsError, match="aes128-ctr"):
        algorithms.ciphers("aes128-gcm@openssh.com,aes128-ctr")


def test_only_ed25519_host_keys_are_accepted() -> None:
    algorithms.check_host_key(asyncssh.generate_private_key("ssh-ed25519"))
    with pytest.raises(SettingsError, match="ecdsa-sha2-nistp256"):
        algorithms.check_host_key(asyncssh.generate_private_key("ecdsa-sha2-nistp256"))
