"""Who is on the other end of a Unix socket (SO_PEERCRED, SO_PEERGROUPS), read before any byte.

Both the agent socket and the daemon's control socket admit a caller by its kernel-reported
uid and groups, never by anything the caller sends.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Collection

import attrs

SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)
_UCRED = struct.Struct("3i")


@attrs.frozen(kw_only=True)
class PeerCred:
    pid: int
    uid: int
    gid: int
    groups: tuple[int, ...]


def peer_credentials(sock: socket.socket) -> PeerCred:
    """The connecting process's pid, uid, primary gid and supplementary groups."""
    pid, uid, gid = _UCRED.unpack(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    )
    groups: tuple[int, ...] = ()
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 4 * 256)
        groups = struct.unpack(f"{len(raw) // 4}I", raw)
    except OSError:  # kernels before 4.13 have no SO_PEERGROUPS: primary gid only
        groups = ()
    return PeerCred(pid=pid, uid=uid, gid=gid, groups=tuple(groups))


def is_allowed(cred: PeerCred, uids: Collection[int], gids: Collection[int]) -> bool:
    """True when the peer's uid is allowed or its primary or any supplementary group is."""
    if cred.uid in uids:
        return True
    return cred.gid in gids or any(g in gids for g in cred.groups)
