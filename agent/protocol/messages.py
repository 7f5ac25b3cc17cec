"""Agent protocol messages: frozen keyword-only attrs classes, tagged by ``"op"``.

A connection starts with ``Hello``/``HelloReply``; then every request carries an ``id`` that its
replies repeat, so several requests run at once on one connection. Long operations send
``Progress`` replies before their final one. Later features add their requests here.
"""

from __future__ import annotations

from typing import Any

import attrs
from cattrs.strategies import configure_tagged_union

from agent.protocol.codec import strict_converter

PROTOCOL_VERSION = 1


@attrs.frozen(kw_only=True)
class Hello:
    protocol_version: int
    client: str = ""


@attrs.frozen(kw_only=True)
class HelloReply:
    protocol_version: int
    agent_version: str


@attrs.frozen(kw_only=True)
class Ping:
    """Liveness: the agent answers ``Pong`` with its version and uptime."""

    id: int


@attrs.frozen(kw_only=True)
class Pong:
    id: int
    agent_version: str
    uptime_s: float


@attrs.frozen(kw_only=True)
class Progress:
    id: int
    stage: str
    percent: int = 0
    message: str = ""


@attrs.frozen(kw_only=True)
class ErrorReply:
    """A failed request (``id`` None when the request could not be read at all)."""

    id: int | None
    code: str
    message: str


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


@attrs.frozen(kw_only=True)
class Done:
    id: int
    changed: bool


Request = (
    Ping
    | EnsureImage
    | CreateHost
    | StartHost
    | StopHost
    | RemoveHost
    | InspectHost
    | ListHosts
    | HostLogs
    | HostStats
    | ExecInHost
    | OpenPort
    | HostActivity
)
Reply = (
    Pong
    | Progress
    | ErrorReply
    | ImageReady
    | HostReply
    | HostList
    | LogsReply
    | StatsReply
    | ExecReply
    | PortOpened
    | ActivityReply
    | Done
)

_OPS: dict[type[Any], str] = {
    Hello: "hello",
    HelloReply: "hello.reply",
    Ping: "ping",
    Pong: "pong",
    Progress: "progress",
    ErrorReply: "error",
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
    Done: "done",
}

converter = strict_converter()
# One union holds every message, so each side decodes any frame with one call.
Message = Hello | HelloReply | Request | Reply
configure_tagged_union(Message, converter, tag_generator=lambda cls: _OPS[cls], tag_name="op")


def op_name(message_type: type[Any]) -> str:
    return _OPS[message_type]
