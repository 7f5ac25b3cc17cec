"""Egress messages (DESIGN.md section 7): exits, gateways, verification, firewall counters.

Re-exported by ``agent.protocol.messages``, which holds the wire's tagged unions.
"""

from __future__ import annotations

from typing import Any

import attrs

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
    #: The resolver reached through the exit (DNS of the box is answered from it, over TCP
    #: through every proxy exit).
    dns_server: str = ""
    #: The exit relays UDP (SOCKS5 UDP ASSOCIATE, shadowsocks/vmess/vless/trojan UDP). False:
    #: the gateway refuses the box's UDP (DNS aside) and counts it. Never true for ``http``.
    udp: bool = True


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
    """Test an exit with no box: a throwaway namespace behind a gateway, verified like a box.

    The gateway lets UDP through whatever ``exit.udp`` says, and with a ``dns_name`` the reply
    also tells whether the exit carries UDP (the same TXT question over UDP, see
    ``VerifyReply.udp_checked``).
    """

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
    #: ``egress.probe`` only: the TXT question was also sent over UDP through the exit; its
    #: answers (the resolver saw the exit's address) or why none came.
    udp_checked: bool = False
    udp_answers: list[str] = attrs.field(factory=list)
    udp_error: str = ""


@attrs.frozen(kw_only=True)
class OpenLlmListener:
    """The listening socket of a running host's credentials endpoint (``LLM_PORT`` inside its
    gateway, reachable from its box alone). Sent on its own short connection; the reply carries
    the socket (SCM_RIGHTS in socket mode, the object itself in embedded mode)."""

    id: int
    host_id: str


@attrs.frozen(kw_only=True)
class LlmListenerOpened:
    """Where the daemon dials the upstream: the gateway's sing-box proxy, out by the exit."""

    id: int
    proxy_address: str
    proxy_port: int
    proxy_username: str
    proxy_password: str = attrs.field(repr=False)


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
    #: Unexpected errors the agent's kill-switch watch survived since it started.
    watch_errors: int = 0


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


#: The ``op`` tag of each message on the wire.
OPS: dict[type[Any], str] = {
    SetupEgress: "egress.setup",
    TeardownEgress: "egress.teardown",
    EgressReply: "egress.reply",
    SetAllowlist: "egress.allowlist",
    VerifyEgress: "egress.verify",
    VerifyReply: "egress.verify.reply",
    ProbeExit: "egress.probe",
    OpenLlmListener: "egress.llm_listener",
    LlmListenerOpened: "egress.llm_listener.opened",
    ListGateways: "egress.list",
    SweepGateways: "egress.sweep",
    GatewayList: "egress.list.reply",
    EgressCounters: "egress.counters",
    CountersReply: "egress.counters.reply",
}
