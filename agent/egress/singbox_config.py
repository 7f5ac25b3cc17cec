"""The sing-box configuration of one gateway, rendered from an exit (DESIGN.md section 7).

A pure function of its inputs (same input, same dict), in the sing-box 1.14 format:

- one ``tun`` inbound (IPv4 only, ``system`` stack, no ``auto_route``: the agent routes);
- one outbound tagged ``exit`` for the exit's kind, dialled with the gateway's routing mark
  (``route.default_mark`` for every socket, and ``routing_mark`` on the dialers themselves);
- DNS: every query the box sends (port 53, UDP or TCP, to any address, or anything sniffed as
  DNS) is hijacked and answered by the one server ``remote``, the exit's ``dns_server``
  reached through the exit over TCP (over UDP only for ``direct``). Every proxy carries TCP;
  many carry no UDP (``ssh -D``, Tor, microsocks and most commercial SOCKS5 servers do CONNECT
  only, an HTTP proxy never relays UDP), so DNS over TCP works through every exit;
- the box's other UDP goes to the exit only when it carries UDP (``ExitSpec.udp``, never for
  ``http``); otherwise sing-box rejects it (ICMP port unreachable to the box) and the gateway's
  firewall counts it (``drop_udp``);
- one UDP path that skips the DNS hijack: from source port ``UDP_PROBE_PORT`` to the exit's
  resolver, port 53, straight through the exit. The exit test (``egress.probe``) asks its TXT
  question that way to learn whether the exit carries UDP. It leads nowhere the hijack does
  not (the same resolver, through the same exit), and exists only where the exit carries UDP
  and the resolver is not a refused destination;
- optionally an ``http`` proxy inbound on the gateway's uplink address (with a password), for
  the daemon's credentials endpoint: its upstream requests leave through the exit like the
  box's own traffic, whatever the allowlist;
- optionally a domain allowlist in a local rule-set file (sing-box reloads local rule-sets
  when the file changes, so the list is edited live without dropping connections).

The allowlist matches the domain the *box's own DNS* gave the destination address for
(``dns.reverse_mapping``), not a domain sniffed from TLS SNI or the HTTP Host header. sing-box
1.13 removed ``sniff_override_destination``, so a sniffed name can no longer redirect a
connection to that name's real address; matching on a sniffed name would let a box send
``SNI allowed.example`` to any address it likes. With reverse mapping a connection passes
only when its destination is an address the exit's resolver returned for an allowed name
(so it does go to the allowed domain's real address); a bare IP literal, or a name the box
resolved elsewhere, matches nothing and is rejected. Mappings live as long as the DNS
answer's TTL and are lost when sing-box restarts (a box then re-resolves).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import attrs

from agent.protocol import messages as m

EXIT_TAG = "exit"
TUN_TAG = "tun-in"
DNS_TAG = "remote"
ALLOWLIST_TAG = "allowlist"
UPSTREAM_TAG = "llm-upstream"
TUN_MTU = 65535
#: The rule-set source format sing-box 1.14 writes (`sing-box rule-set upgrade`).
ALLOWLIST_VERSION = 5
#: Kinds whose exit never carries UDP (whatever ``ExitSpec.udp`` says).
TCP_ONLY_KINDS = frozenset({"http"})
#: The source port of the exit test's UDP question to the exit's resolver (see the module doc).
UDP_PROBE_PORT = 5399
#: Kinds that always speak TLS to the exit server.
TLS_ALWAYS = frozenset({"trojan"})


@attrs.frozen(kw_only=True)
class TunnelLayout:
    """Where the gateway's sing-box sits: its tun, its mark, the exit's resolved address."""

    tun_name: str
    #: CIDR on the tun, e.g. ``100.96.0.1/30``; the box's resolver is the ``.2`` of it.
    tun_address: str
    #: SO_MARK of every socket sing-box opens (policy routing sends these to the uplink);
    #: 0 leaves sockets unmarked (only for tests outside a gateway).
    routing_mark: int
    #: The exit server's IPv4, resolved by the caller (``""`` for kind ``direct``).
    server_ip: str
    #: A local rule-set file (source format) with the allowed domains; ``""``: no allowlist.
    allowlist_path: str = ""
    #: Destinations refused whatever the exit (the host's own addresses, other boxes): even
    #: through a proxy, a box never reaches its own server.
    blocked_cidrs: tuple[str, ...] = ()
    log_level: str = "warn"
    #: The upstream proxy inbound (``""``: none): address, port, user and password.
    upstream_listen: str = ""
    upstream_port: int = 0
    upstream_user: str = ""
    upstream_password: str = attrs.field(default="", repr=False)


def render_config(exit: m.ExitSpec, layout: TunnelLayout) -> dict[str, Any]:
    """The whole sing-box configuration of a gateway for ``exit``."""
    return {
        "log": {"level": layout.log_level, "timestamp": True},
        "dns": _dns(exit, layout),
        "inbounds": [_tun(layout), *_upstream(layout)],
        "outbounds": [_outbound(exit, layout)],
        "route": _route(exit, layout),
    }


#: The rule of a gateway without an allowlist: every destination (sing-box keeps watching the
#: file, so an allowlist can be switched on and off live).
EVERYTHING = {"ip_cidr": ["0.0.0.0/0"]}


def render_allowlist(domains: Sequence[str], always_allowed: Sequence[str] = ()) -> dict[str, Any]:
    """The rule-set source file allowing ``domains`` and their subdomains.

    No domains means no allowlist (everything allowed). ``always_allowed`` (the exit's
    verification endpoints: names or addresses) stays reachable whatever the list says.
    """
    if not domains:
        return {"version": ALLOWLIST_VERSION, "rules": [EVERYTHING]}
    names = set(domains)
    addresses = set()
    for item in always_allowed:
        if _is_ip(item):
            addresses.add(f"{item}/32")
        else:
            names.add(item)
    rules: list[dict[str, Any]] = [{"domain_suffix": sorted(names)}]
    if addresses:
        rules.append({"ip_cidr": sorted(addresses)})
    return {"version": ALLOWLIST_VERSION, "rules": rules}


def carries_udp(exit: m.ExitSpec) -> bool:
    """Whether the box's UDP (other than DNS, which sing-box answers) goes through ``exit``."""
    return exit.udp and exit.kind not in TCP_ONLY_KINDS


def _tun(layout: TunnelLayout) -> dict[str, Any]:
    return {
        "type": "tun",
        "tag": TUN_TAG,
        "interface_name": layout.tun_name,
        "address": [layout.tun_address],
        "mtu": TUN_MTU,
        "stack": "system",
        "auto_route": False,
    }


def _upstream(layout: TunnelLayout) -> list[dict[str, Any]]:
    if not layout.upstream_listen:
        return []
    return [
        {
            "type": "http",
            "tag": UPSTREAM_TAG,
            "listen": layout.upstream_listen,
            "listen_port": layout.upstream_port,
            "users": [{"username": layout.upstream_user, "password": layout.upstream_password}],
        }
    ]


def _mark(layout: TunnelLayout) -> dict[str, Any]:
    return {"routing_mark": layout.routing_mark} if layout.routing_mark else {}


def _outbound(exit: m.ExitSpec, layout: TunnelLayout) -> dict[str, Any]:
    if exit.kind == "direct":
        return {"type": "direct", "tag": EXIT_TAG, **_mark(layout)}
    out: dict[str, Any] = {
        "type": "socks" if exit.kind == "socks5" else exit.kind,
        "tag": EXIT_TAG,
        "server": layout.server_ip,
        "server_port": exit.port,
    }
    if exit.kind == "socks5":
        out["version"] = "5"
        out.update(_credentials(exit))
    elif exit.kind == "http":
        out.update(_credentials(exit))
    elif exit.kind == "shadowsocks":
        out["method"] = exit.method
        out["password"] = exit.password
    elif exit.kind == "vmess":
        out["uuid"] = exit.uuid
        out["security"] = exit.security or "auto"
        out["alter_id"] = exit.alter_id
    elif exit.kind == "vless":
        out["uuid"] = exit.uuid
        if exit.flow:
            out["flow"] = exit.flow
    elif exit.kind == "trojan":
        out["password"] = exit.password
    else:
        raise ValueError(f"unknown exit kind {exit.kind!r}")
    if exit.kind in ("http", "vmess", "vless", "trojan") and (exit.tls or exit.kind in TLS_ALWAYS):
        out["tls"] = _tls(exit)
    out.update(_mark(layout))
    return out


def _credentials(exit: m.ExitSpec) -> dict[str, str]:
    found = {"username": exit.username, "password": exit.password}
    return {key: value for key, value in found.items() if value}


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _tls(exit: m.ExitSpec) -> dict[str, Any]:
    tls: dict[str, Any] = {"enabled": True}
    server_name = exit.tls_server_name or ("" if _is_ip(exit.server) else exit.server)
    if server_name:
        tls["server_name"] = server_name
    if exit.tls_insecure:
        tls["insecure"] = True
    if exit.tls_certificate:
        tls["certificate"] = exit.tls_certificate
    return tls


def _dns(exit: m.ExitSpec, layout: TunnelLayout) -> dict[str, Any]:
    server: dict[str, Any] = {
        "type": "udp" if exit.kind == "direct" else "tcp",
        "tag": DNS_TAG,
        "server": exit.dns_server,
        "server_port": 53,
    }
    if exit.kind == "direct":
        # A detour to a plain direct outbound is refused by sing-box: dial it here instead.
        server.update(_mark(layout))
    else:
        server["detour"] = EXIT_TAG
    dns: dict[str, Any] = {"servers": [server], "final": DNS_TAG, "strategy": "ipv4_only"}
    if layout.allowlist_path:
        dns["reverse_mapping"] = True
    return dns


def _udp_probe_allowed(exit: m.ExitSpec, layout: TunnelLayout) -> bool:
    """The exit test's UDP path exists only where UDP goes to the exit, and never to a
    refused destination (a resolver among the host's addresses or the pool)."""
    if not carries_udp(exit) or not _is_ip(exit.dns_server):
        return False
    resolver = ipaddress.ip_address(exit.dns_server)
    return not any(resolver in ipaddress.ip_network(cidr) for cidr in layout.blocked_cidrs)


def _route(exit: m.ExitSpec, layout: TunnelLayout) -> dict[str, Any]:
    rules: list[dict[str, Any]] = [
        # Only the DNS sniffer: names from TLS SNI / HTTP Host must not decide the allowlist.
        {"action": "sniff", "sniffer": ["dns"]},
    ]
    if _udp_probe_allowed(exit, layout):  # the exit test's UDP question, before the hijack
        rules.append(
            {
                "network": "udp",
                "source_port": [UDP_PROBE_PORT],
                "ip_cidr": [f"{exit.dns_server}/32"],
                "port": 53,
                "action": "route",
                "outbound": EXIT_TAG,
            }
        )
    rules += [
        {"protocol": "dns", "action": "hijack-dns"},
        {"port": 53, "action": "hijack-dns"},
        {"network": "icmp", "action": "reject"},
    ]
    if layout.blocked_cidrs:
        rules.append({"ip_cidr": list(layout.blocked_cidrs), "action": "reject"})
    if layout.upstream_listen:  # the daemon's, to its configured upstream: no allowlist
        rules.append({"inbound": [UPSTREAM_TAG], "action": "route", "outbound": EXIT_TAG})
    if not carries_udp(exit):  # DNS was hijacked above; the firewall counts these
        rules.append({"network": "udp", "action": "reject"})
    route: dict[str, Any] = {"rules": rules}
    if layout.allowlist_path:
        rules.append({"rule_set": ALLOWLIST_TAG, "action": "route", "outbound": EXIT_TAG})
        rules.append({"action": "reject"})
        route["rule_set"] = [
            {
                "type": "local",
                "tag": ALLOWLIST_TAG,
                "format": "source",
                "path": layout.allowlist_path,
            }
        ]
    route["final"] = EXIT_TAG
    if layout.routing_mark:
        route["default_mark"] = layout.routing_mark
    return route
