"""The algorithms the SSH proxy offers its clients: one declared policy, checked by ssh-audit.

Everything on :2222 is negotiated from these lists, which hold only algorithms that
``ssh-audit`` (3.9) rates without a failure. ``tests/integration/test_ssh_audit.py`` runs the
audit against the live proxy. What is left out, and why:

- key exchange: SHA-1 groups, group exchange (clients may ask for 1024-bit groups), every
  NIST-curve exchange including the ML-KEM/NIST hybrids, and the 2048-bit groups;
- host keys: only ed25519 (an RSA host key would also offer SHA-1 ``ssh-rsa``);
- MACs: SHA-1 and MD5, 64-bit tags, and encrypt-and-MAC modes (only ``-etm`` ones remain);
- key exchange also: ``curve25519-sha256@libssh.org``, the pre-RFC name (one more warning);
- compression: none at all, so the relay spends no CPU on zlib.

``curve25519-sha256`` is the only exchange ssh-audit warns about (it is not post-quantum); it
stays because OpenSSH before 9.9, Debian 12's 9.2 among them, has no ``mlkem768x25519-sha256``
and asyncssh has no ``sntrup761x25519-sha512``. ``kex-strict-s-v00@openssh.com`` (the Terrapin
counter-measure) is added by asyncssh itself.

The upstream leg to a box's sshd (``upstream.py``) is not covered: it is an in-host socket the
agent passes over, and it keeps asyncssh's defaults apart from its AES-GCM ciphers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncssh

from cloudclaude.core.settings import SettingsError

#: Key exchange, most preferred first: the post-quantum hybrid with X25519, then X25519.
KEX_ALGS = ("mlkem768x25519-sha256", "curve25519-sha256")
#: Host key algorithms: the proxy's key must be ed25519.
HOST_KEY_ALGS = ("ssh-ed25519",)
#: Ciphers the proxy may offer; ``ssh.ciphers`` picks from these (AEAD only).
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com")
#: MACs (unused with AEAD ciphers, but still offered in the key exchange).
MAC_ALGS = (
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "umac-128-etm@openssh.com",
)
COMPRESSION_ALGS = ("none",)
#: Signatures accepted from users' keys: no SHA-1 ``ssh-rsa``, no DSA, no ssh.com variants.
SIGNATURE_ALGS = (
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "ssh-ed448",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
)


def ciphers(setting: str) -> list[str]:
    """The ciphers ``ssh.ciphers`` asks for, in its order; any outside the policy is refused."""
    names = [name.strip() for name in setting.split(",")]
    refused = [name for name in names if name not in CIPHERS]
    if refused:
        raise SettingsError(
            f"ssh.ciphers: {', '.join(refused)} not allowed (choose from {', '.join(CIPHERS)})"
        )
    return names


def check_host_key(key: asyncssh.SSHKey) -> None:
    """Refuse a host key whose type the policy does not offer (e.g. RSA, NIST ECDSA)."""
    algorithm = key.get_algorithm()
    if algorithm not in HOST_KEY_ALGS:
        raise SettingsError(f"ssh.host_key: {algorithm} keys are not allowed, use ssh-ed25519")


def server_options(cipher_setting: str) -> dict[str, Any]:
    """Keyword arguments for ``asyncssh.create_server`` that apply the policy."""
    return {
        "kex_algs": list(KEX_ALGS),
        "encryption_algs": ciphers(cipher_setting),
        "mac_algs": list(MAC_ALGS),
        "compression_algs": list(COMPRESSION_ALGS),
        "signature_algs": list(SIGNATURE_ALGS),
    }


def unsupported() -> list[str]:
    """Policy entries this asyncssh build cannot do (empty when all is well)."""
    known: dict[str, Sequence[bytes]] = {
        "kex": asyncssh.kex.get_kex_algs(),
        "sig": asyncssh.public_key.get_public_key_algs(),
        "enc": asyncssh.encryption.get_encryption_algs(),
        "mac": asyncssh.mac.get_mac_algs(),
        "cmp": asyncssh.compression.get_compression_algs(),
    }
    wanted = {
        "kex": KEX_ALGS,
        "sig": HOST_KEY_ALGS + SIGNATURE_ALGS,
        "enc": CIPHERS,
        "mac": MAC_ALGS,
        "cmp": COMPRESSION_ALGS,
    }
    return [
        f"{kind}:{name}"
        for kind, names in wanted.items()
        for name in names
        if name.encode() not in known[kind]
    ]
