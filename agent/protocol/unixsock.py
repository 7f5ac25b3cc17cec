"""A listening Unix socket at a path, replacing a stale one left by a previous run."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

BACKLOG = 64


def bind_unix_listener(path: Path, mode: int) -> socket.socket:
    """Listen on ``path`` with file ``mode``; a leftover socket file there is removed first.

    Admission is decided by peer credentials, not by the mode, which only narrows who can
    connect at all.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, mode)
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock
