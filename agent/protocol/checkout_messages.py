"""Checkout messages: a laptop's git checkout mounted into a running box, and taken down.

``MountCheckout`` carries a socket with its frame (``SCM_RIGHTS``; handed over in-process in
embedded mode): a byte stream whose other end serves SFTP (the laptop's checkout). The agent
runs a passive sshfs on it and puts the FUSE mount at ``path`` inside the box. The reply comes
once the mount is in place, before any SFTP byte is read: the caller relays the stream only
after the reply, so waiting for sshfs's handshake here would wait forever.
"""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class MountCheckout:
    """Mount the SFTP stream in the passed socket at ``path`` (absolute) in the running box."""

    id: int
    host_id: str
    path: str


@attrs.frozen(kw_only=True)
class UnmountCheckout:
    """Lazily detach the checkout mount at ``path`` in the box and stop its sshfs.

    ``sshfs_pid`` (from ``CheckoutMounted``) names the mount meant: when another sshfs serves
    ``path`` by now (the client reconnected and mounted again before this late unmount), that
    newer mount is left alone. 0: whatever is mounted there."""

    id: int
    host_id: str
    path: str
    sshfs_pid: int = 0


@attrs.frozen(kw_only=True)
class CheckoutMounted:
    id: int
    path: str
    #: The host pid of the sshfs serving the mount (for logs; it runs unprivileged).
    sshfs_pid: int


#: Requests that carry exactly one socket with their frame.
TAKES_SOCKET: frozenset[type[Any]] = frozenset({MountCheckout})

#: The ``op`` tag of each message on the wire.
OPS: dict[type[Any], str] = {
    MountCheckout: "host.mount_checkout",
    UnmountCheckout: "host.unmount_checkout",
    CheckoutMounted: "host.checkout_mounted",
}
