"""Box image and host messages: one container per host, its logs, stats, ports, activity.

Re-exported by ``agent.protocol.messages``, which holds the wire's tagged unions. No request
names a host path, an image or a command: the agent derives the mounts from its own config,
runs only the image it built, and each look at a box is a named operation read from the host
(``HostActivity``: cgroup CPU and /proc), so a compromised daemon cannot turn the agent into
host root.
"""

from __future__ import annotations

from typing import Any

import attrs

# --- images ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class EnsureImage:
    """Build the box image unless one from the same inputs exists (progress while building).

    The build inputs a caller gives: ``claude_code_version`` (``image.claude_code_version``), an
    npm version checked by the agent, empty for the version ``image/Dockerfile`` pins; and
    ``extra_packages`` (``image.extra_packages``), Debian package names separated by spaces or
    commas, each checked by the agent, empty for none.
    """

    id: int
    force: bool = False
    claude_code_version: str = ""
    extra_packages: str = ""


@attrs.frozen(kw_only=True)
class ImageReady:
    id: int
    image: str
    image_id: str
    built: bool


# --- hosts (one container each) --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class BoxSpec:
    """A host's limits and identity (DESIGN.md section 6).

    The image (the one this agent built), the mounts (the home volume and the agent's
    ``extra_mounts``) and the resolver (the gateway's) are the agent's choice, never the
    caller's.
    """

    cpus: float = 2.0
    memory_mb: int = 4096
    pids: int = 1024
    disk_gb: int = 20
    timezone: str = "UTC"
    authorized_key: str = ""
    hostname: str = ""
    #: Claude Code in the box talks to its gateway's credentials endpoint (the user's choice;
    #: off: they sign in with their own subscription). The URL is the agent's.
    llm_gateway: bool = False


@attrs.frozen(kw_only=True)
class CreateHost:
    """Create the container and home volume if absent (never replaces a container).

    A new container runs the image of these inputs (``EnsureImage``), built first if absent.
    """

    id: int
    host_id: str
    spec: BoxSpec
    claude_code_version: str = ""
    extra_packages: str = ""


@attrs.frozen(kw_only=True)
class StartHost:
    id: int
    host_id: str


@attrs.frozen(kw_only=True)
class StopHost:
    id: int
    host_id: str
    grace_s: int = 10


@attrs.frozen(kw_only=True)
class RemoveHost:
    """Remove the container if present; ``purge`` also removes the home volume."""

    id: int
    host_id: str
    purge: bool = False


@attrs.frozen(kw_only=True)
class InspectHost:
    id: int
    host_id: str


@attrs.frozen(kw_only=True)
class ListHosts:
    """Every container and home volume the agent manages (labels), orphans included."""

    id: int


@attrs.frozen(kw_only=True)
class HostState:
    host_id: str
    exists: bool
    running: bool = False
    status: str = "absent"
    container_id: str = ""
    pid: int = 0
    image: str = ""
    started_at: str = ""


@attrs.frozen(kw_only=True)
class HostReply:
    id: int
    host: HostState


@attrs.frozen(kw_only=True)
class HostList:
    id: int
    hosts: list[HostState]
    volumes: list[str]


@attrs.frozen(kw_only=True)
class HostLogs:
    id: int
    host_id: str
    tail: int = 200


@attrs.frozen(kw_only=True)
class LogsReply:
    id: int
    text: str


@attrs.frozen(kw_only=True)
class HostStats:
    id: int
    host_id: str


@attrs.frozen(kw_only=True)
class StatsReply:
    id: int
    cpu_percent: float
    memory_bytes: int
    memory_limit_bytes: int
    pids: int
    #: The box's disk image (home and writable layer), from ``statvfs`` on its mount on the
    #: host; 0 and 0 when the image is not mounted.
    disk_used_bytes: int = 0
    disk_total_bytes: int = 0


@attrs.frozen(kw_only=True)
class OpenPort:
    """A TCP socket connected to ``127.0.0.1:port`` inside the box's network namespace.

    Sent on its own short connection; the ``PortOpened`` reply carries the socket (SCM_RIGHTS in
    socket mode, the object itself in embedded mode).
    """

    id: int
    host_id: str
    port: int


@attrs.frozen(kw_only=True)
class PortOpened:
    id: int


@attrs.frozen(kw_only=True)
class HostActivity:
    """A running box's use, read by the agent from the host (cgroup, ``/proc``), not the box."""

    id: int
    host_id: str


@attrs.frozen(kw_only=True)
class ActivityReply:
    """Counters that only grow while the container runs; compare two looks of one start."""

    id: int
    #: When the container started (dockerd's ``State.StartedAt``): a new start resets counters.
    started_at: str
    #: CPU seconds the whole container has used since it started (its cgroup).
    cpu_s: float
    #: CPU seconds used so far by the Claude Code processes running now.
    claude_cpu_s: float
    claude_processes: int


#: The ``op`` tag of each message on the wire.
OPS: dict[type[Any], str] = {
    EnsureImage: "image.ensure",
    ImageReady: "image.ready",
    CreateHost: "host.create",
    StartHost: "host.start",
    StopHost: "host.stop",
    RemoveHost: "host.remove",
    InspectHost: "host.inspect",
    ListHosts: "host.list",
    HostReply: "host.reply",
    HostList: "host.list.reply",
    HostLogs: "host.logs",
    LogsReply: "host.logs.reply",
    HostStats: "host.stats",
    StatsReply: "host.stats.reply",
    OpenPort: "port.open",
    PortOpened: "port.opened",
    HostActivity: "host.activity",
    ActivityReply: "host.activity.reply",
}
