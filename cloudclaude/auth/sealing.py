"""Secrets at rest, sealed with the server key (AES-256-GCM, a subkey per purpose).

A sealed value is ``version byte || 12-byte nonce || ciphertext+tag``; the purpose (``box-key``,
``exit-credentials``) is bound as associated data, so a value sealed for one use does not open
for another. Losing the server key makes every sealed value unreadable, by design.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudclaude.core.serverkey import derive

_VERSION = b"\x01"
_NONCE_BYTES = 12


class SealError(Exception):
    """A sealed value was tampered with, truncated, or sealed with another key or purpose."""


def seal(server_key: bytes, purpose: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    box = AESGCM(derive(server_key, f"seal:{purpose}"))
    return _VERSION + nonce + box.encrypt(nonce, plaintext, purpose.encode())


def unseal(server_key: bytes, purpose: str, sealed: bytes) -> bytes:
    if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != _VERSION:
        raise SealError("not a sealed value of a known version")
    nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
    try:
        return AESGCM(derive(server_key, f"seal:{purpose}")).decrypt(nonce, body, purpose.encode())
    except InvalidTag as exc:
        raise SealError(f"the sealed {purpose} does not open with this server key") from exc
