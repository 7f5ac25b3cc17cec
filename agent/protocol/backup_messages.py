"""Backup messages: a host's home written to, or read from, a socket the caller passes.

Each request travels on its own short connection with the socket attached to its frame
(``SCM_RIGHTS``; handed over in-process in embedded mode), so the home's tar never passes
through the framed protocol and the reply comes when the transfer has ended.
"""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class ExportHome:
    """Write a tar of the host's home into the passed socket (a running box is frozen)."""

    id: int
    host_id: str


@attrs.frozen(kw_only=True)
class ImportHome:
    """Read a tar from the passed socket into the host's empty home on a new disk image."""

    id: int
    host_id: str
    disk_gb: int


@attrs.frozen(kw_only=True)
class HomeArchived:
    id: int
    #: The box was running and was frozen (cgroup freezer) while its home was read.
    frozen: bool


#: Requests that carry exactly one socket with their frame.
TAKES_SOCKET: frozenset[type[Any]] = frozenset({ExportHome, ImportHome})

#: The ``op`` tag of each message on the wire.
OPS: dict[type[Any], str] = {
    ExportHome: "home.export",
    ImportHome: "home.import",
    HomeArchived: "home.archived",
}
