"""Secrets at rest, sealed with the server key (AES-256-GCM, a subkey per purpose).

A sealed value is ``version byte || 12-byte nonce || ciphertext+tag``. Version 2 (written today)
binds ``purpose || NUL || owning row id`` as associated data, so a value sealed for one use does
not open for another, and a value copied into another row (a host's box key moved to another
host) does not open there either. Version 1 bound only the purpose; it is still read, and
``cloudclaude.domain.resealing`` rewrites every stored version-1 value as version 2. Losing the
server key makes every sealed value unreadable, by design.
"""

from __future__ import annotations

import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudclaude.core.serverkey import derive

V1 = 1
V2 = 2
_NONCE_BYTES = 12
_MIN_LEN = 1 + _NONCE_BYTES + 16


class SealError(Exception):
    """A sealed value was tampered with, truncated, moved, or sealed with another key or purpose."""


def _associated(version: int, purpose: str, owner: uuid.UUID) -> bytes:
    if version == V1:
        return purpose.encode()
    return purpose.encode() + b"\x00" + str(owner).encode()


def seal(server_key: bytes, purpose: str, plaintext: bytes, *, owner: uuid.UUID) -> bytes:
    """``plaintext`` sealed (version 2) for ``purpose`` in the row whose id is ``owner``."""
    nonce = os.urandom(_NONCE_BYTES)
    box = AESGCM(derive(server_key, f"seal:{purpose}"))
    return bytes([V2]) + nonce + box.encrypt(nonce, plaintext, _associated(V2, purpose, owner))


def version(sealed: bytes) -> int | None:
    """The format version of a sealed value (None when it is not one)."""
    return sealed[0] if len(sealed) >= _MIN_LEN and sealed[0] in (V1, V2) else None


def unseal(server_key: bytes, purpose: str, sealed: bytes, *, owner: uuid.UUID) -> bytes:
    """The plaintext of a version 1 or 2 value; a version 2 value opens only in ``owner``'s row."""
    ver = version(sealed)
    if ver is None:
        raise SealError("not a sealed value of a known version")
    nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
    box = AESGCM(derive(server_key, f"seal:{purpose}"))
    try:
        return box.decrypt(nonce, body, _associated(ver, purpose, owner))
    except InvalidTag as exc:
        raise SealError(
            f"the sealed {purpose} does not open with this server key in this row"
        ) from exc
