"""The simulated internet's exit servers: one sing-box serving every exit kind, each leaving
from its own address, and the self-signed certificate of the TLS exits and the TLS whoami.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from cryptography import x509

from tests.integration.certs import self_signed
from tests.integration.netsim_layout import DNS_IP, EXIT_NAME, EXIT_SERVERS, RECORDS, WHOAMI_IPS


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the exits and the TLS whoami (every name and address)."""
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in RECORDS]
    addresses = [*WHOAMI_IPS, *(server["server"] for server in EXIT_SERVERS.values())]
    names += [x509.IPAddress(ipaddress.IPv4Address(ip)) for ip in addresses]
    return self_signed(directory, "sim", EXIT_NAME, names)


def exit_server_config(cert: Path, key: Path, log: Path) -> dict[str, Any]:
    """sing-box serving every exit kind, each leaving from (and resolving from) its address."""
    tls = {
        "enabled": True,
        "server_name": EXIT_NAME,
        "certificate_path": str(cert),
        "key_path": str(key),
    }
    inbounds: list[dict[str, Any]] = []
    outbounds: list[dict[str, Any]] = []
    servers: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    for kind, spec in EXIT_SERVERS.items():
        inbound: dict[str, Any] = {
            "type": "socks" if kind == "socks5" else kind,
            "tag": f"in-{kind}",
            "listen": spec["server"],
            "listen_port": spec["port"],
        }
        if kind in ("socks5", "http"):
            inbound["users"] = [{"username": spec["username"], "password": spec["password"]}]
        elif kind == "shadowsocks":
            inbound.update(method=spec["method"], password=spec["password"])
        elif kind == "vmess":
            inbound["users"] = [{"uuid": spec["uuid"], "alterId": spec["alter_id"]}]
        elif kind == "vless":
            inbound["users"] = [{"uuid": spec["uuid"], "flow": spec["flow"]}]
            inbound["tls"] = tls
        elif kind == "trojan":
            inbound["users"] = [{"password": spec["password"]}]
            inbound["tls"] = tls
        inbounds.append(inbound)
        bind = {"inet4_bind_address": spec["server"]}
        servers.append({"type": "udp", "tag": f"dns-{kind}", "server": DNS_IP, **bind})
        outbounds.append(
            {"type": "direct", "tag": f"out-{kind}", "domain_resolver": f"dns-{kind}", **bind}
        )
        rules.append({"inbound": f"in-{kind}", "action": "route", "outbound": f"out-{kind}"})
    return {
        "log": {"level": "info", "timestamp": True, "output": str(log)},
        "dns": {"servers": servers, "strategy": "ipv4_only"},
        "inbounds": inbounds,
        "outbounds": outbounds,
        "route": {"rules": rules, "final": "out-socks5"},
    }
