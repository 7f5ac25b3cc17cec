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


# --- egress (DESIGN.md section 7) -----------------------------------------------------------

EXIT_KINDS = ("direct", "socks5", "http", "shadowsocks", "vmess", "vless", "trojan")


@attrs.frozen(kw_only=True)
class ExitSpec:
    """One exit as sing-box needs it: credentials in clear (the wire is root-only, never logged).

    ``server`` is an address or a name; the agent resolves a name once per setup, so sing-box
    and the firewall agree on the one address the gateway may reach.
    """

    kind: str
    server: str = ""
    port: int = 0
    username: str = ""
    password: str = ""
    #: shadowsocks: the cipher (``aes-128-gcm``, ``chacha20-ietf-poly1305``, ``2022-…``).
    method: str = ""
    #: vmess / vless: the user id.
    uuid: str = ""
    #: vmess: ``auto``, ``aes-128-gcm``, ``chacha20-poly1305``, ``none``…
    security: str = ""
    alter_id: int = 0
    #: vless: ``""`` or ``xtls-rprx-vision``.
    flow: str = ""
    #: TLS to the exit server (always on for trojan).
    tls: bool = False
    tls_server_name: str = ""
    tls_insecure: bool = False
    #: PEM of a certificate to trust for the exit server (self-signed exits).
    tls_certificate: str = ""
    #: The resolver reached through the exit (DNS of the box is answered from it).
    dns_server: str = ""


@attrs.frozen(kw_only=True)
class GatewaySpec:
    exit: ExitSpec
    #: When not empty, only these domains (and their subdomains) are reachable.
    allowed_domains: list[str] = attrs.field(factory=list)
    #: Names or addresses reachable whatever the allowlist (the verification endpoints).
    always_allowed: list[str] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class EgressState:
    """A host's gateway as the agent sees it."""

    host_id: str
    exists: bool
    #: sing-box runs (the tun is up).
    running: bool = False
    singbox_pid: int = 0
    #: How often sing-box was found dead and restarted since the gateway was set up.
    trips: int = 0
    box_address: str = ""
    gateway_address: str = ""
    dns_address: str = ""
    exit_kind: str = ""
    exit_address: str = ""
    netns: str = ""


@attrs.frozen(kw_only=True)
class SetupEgress:
    """(Re)build a running box's gateway: netns, veths, nftables, sing-box (idempotent)."""

    id: int
    host_id: str
    gateway: GatewaySpec


@attrs.frozen(kw_only=True)
class TeardownEgress:
    """Stop sing-box and remove the gateway netns, its veths and rules if present."""

    id: int
    host_id: str


@attrs.frozen(kw_only=True)
class EgressReply:
    id: int
    egress: EgressState


@attrs.frozen(kw_only=True)
class SetAllowlist:
    """Replace a gateway's domain allowlist live (empty: no allowlist)."""

    id: int
    host_id: str
    allowed_domains: list[str]


@attrs.frozen(kw_only=True)
class VerifyEgress:
    """Measure from inside the box's netns, as its traffic goes: GET ``url``, TXT ``dns_name``.

    The agent only observes (with progress per step); the daemon judges against the exit.
    """

    id: int
    host_id: str
    url: str = ""
    dns_name: str = ""
    timeout_s: float = 10.0


@attrs.frozen(kw_only=True)
class ProbeExit:
    """Test an exit with no box: a throwaway namespace behind a gateway, verified like a box."""

    id: int
    exit: ExitSpec
    url: str = ""
    dns_name: str = ""
    timeout_s: float = 10.0


@attrs.frozen(kw_only=True)
class VerifyReply:
    id: int
    #: The HTTP status (0: no answer) and the body's first line (the caller's address).
    http_status: int = 0
    http_body: str = ""
    http_error: str = ""
    txt_answers: list[str] = attrs.field(factory=list)
    dns_error: str = ""


@attrs.frozen(kw_only=True)
class ListGateways:
    """Every gateway of this instance, and leftovers (a netns without state, stray veths)."""

    id: int


@attrs.frozen(kw_only=True)
class GatewayList:
    id: int
    gateways: list[EgressState]
    #: Names of namespaces, links or processes that belong to no known gateway.
    leftovers: list[str] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class SweepGateways:
    """Remove leftovers (``GatewayList.leftovers``); the reply lists what was removed."""

    id: int


@attrs.frozen(kw_only=True)
class EgressCounters:
    """Packets the firewall dropped, by rule, summed over every gateway and the host."""

    id: int


@attrs.frozen(kw_only=True)
class CountersReply:
    id: int
    dropped: dict[str, int]


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
    | SetupEgress
    | TeardownEgress
    | SetAllowlist
    | VerifyEgress
    | ProbeExit
    | ListGateways
    | SweepGateways
    | EgressCounters
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
    | EgressReply
    | VerifyReply
    | GatewayList
    | CountersReply
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
    SetupEgress: "egress.setup",
    TeardownEgress: "egress.teardown",
    EgressReply: "egress.reply",
    SetAllowlist: "egress.allowlist",
    VerifyEgress: "egress.verify",
    VerifyReply: "egress.verify.reply",
    ProbeExit: "egress.probe",
    ListGateways: "egress.list",
    SweepGateways: "egress.sweep",
    GatewayList: "egress.list.reply",
    EgressCounters: "egress.counters",
    CountersReply: "egress.counters.reply",
    Done: "done",
}

converter = strict_converter()
# One union holds every message, so each side decodes any frame with one call.
Message = Hello | HelloReply | Request | Reply
configure_tagged_union(Message, converter, tag_generator=lambda cls: _OPS[cls], tag_name="op")


def op_name(message_type: type[Any]) -> str:
    return _OPS[message_type]
