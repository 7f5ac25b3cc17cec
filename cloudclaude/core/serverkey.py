"""The server key: one 32-byte secret file (mode 0600) in the state directory.

It is the one root secret: JWT signing keys are derived from it, and later features seal
credentials at rest with it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_BYTES = 32
FILE_NAME = "server.key"


class ServerKeyError(Exception):
    """The key file is unreadable, of the wrong size, or readable by others."""


def load_or_create(state_dir: Path) -> bytes:
    """Read ``state_dir/server.key``, creating it (0600, atomically) when missing."""
    path = state_dir / FILE_NAME
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(KEY_BYTES))
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ServerKeyError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    data = path.read_bytes()
    if len(data) != KEY_BYTES:
        raise ServerKeyError(f"{path} holds {len(data)} bytes, expected {KEY_BYTES}")
    return data


def derive(server_key: bytes, purpose: str) -> bytes:
    """A 32-byte subkey for ``purpose`` (e.g. ``jwt:<kid>``): HMAC-SHA256 of the server key."""
    return hmac.new(server_key, purpose.encode(), hashlib.sha256).digest()
