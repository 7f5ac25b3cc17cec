"""Box image and host messages: one container per host, its logs, stats, exec, ports, activity.

Re-exported by ``agent.protocol.messages``, which holds the wire's tagged unions.
"""

from __future__ import annotations

from typing import Any

import attrs

# --- images ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class EnsureImage:
    """Build the box image unless one from the same inputs exists (progress while building)."""

    id: int
    force: bool = False


@attrs.frozen(kw_only=True)
class ImageReady:
    id: int
    image: str
    image_id: str
    built: bool


# --- hosts (one container each) --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class HostMount:
    """A host path an admin configured to appear in boxes."""

    source: str
    target: str
    read_only: bool = True


@attrs.frozen(kw_only=True)
class BoxSpec:
    """What a host's container is made from (DESIGN.md section 6)."""

    cpus: float = 2.0
    memory_mb: int = 4096
    pids: int = 1024
    disk_gb: int = 20
    timezone: str = "UTC"
    authorized_key: str = ""
    hostname: str = ""
    image: str = ""
    dns: list[str] = attrs.field(factory=list)
    mounts: list[HostMount] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class CreateHost:
    """Create the container and home volume if absent (never replaces a container)."""

    id: int
    host_id: str
    spec: BoxSpec


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


@attrs.frozen(kw_only=True)
class ExecInHost:
    """Run an argv (never a shell string) in a running box."""

    id: int
    host_id: str
    argv: list[str]
    user: str = ""


@attrs.frozen(kw_only=True)
class ExecReply:
    id: int
    exit_code: int
    stdout: str
    stderr: str


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
    """The in-box activity signals the idle scanner needs (a running box only)."""

    id: int
    host_id: str


@attrs.frozen(kw_only=True)
class ActivityReply:
    id: int
    #: Newest input of any tmux client, seconds since the epoch (0: no client).
    tmux_activity_at: float
    tmux_clients: int
    #: CPU seconds used so far by processes named ``claude`` (Claude Code).
    claude_cpu_s: float


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
    ExecInHost: "host.exec",
    ExecReply: "host.exec.reply",
    OpenPort: "port.open",
    PortOpened: "port.opened",
    HostActivity: "host.activity",
    ActivityReply: "host.activity.reply",
}
