"""The simulated internet's fixed layout: addresses, DNS records, exit servers, and the names
of one instance (see ``netsim`` for the picture). The agent's egress tests rely on these values.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import attrs

KINDS = ("direct", "socks5", "http", "shadowsocks", "vmess", "vless", "trojan")
WHOAMI_IPS = ("198.18.1.1", "198.18.1.2", "198.18.1.3")
TLS_WHOAMI_IPS = ("198.18.1.2", "198.18.1.3")
DNS_IP = "198.18.1.53"
ROGUE_DNS_IP = "198.18.1.99"
MYADDR_NAME = "myaddr.sim.test"
VERIFY_URL = "http://198.18.1.1/"
EXIT_NAME = "exit.sim.test"
RECORDS = {
    "whoami.sim.test": "198.18.1.1",
    "allowed.sim.test": "198.18.1.2",
    "other.sim.test": "198.18.1.3",
    EXIT_NAME: "198.18.2.6",
}
SERVICES_NET = "198.18.1.0/24"
EXITS_NET = "198.18.2.0/24"
COUNTERS = ("services", "exit_servers", "icmp", "ip6", "other")
#: The part of each exit's admin-API body that is the server's; credentials are test-only.
EXIT_SERVERS: dict[str, dict[str, Any]] = {
    "socks5": {
        "server": "198.18.2.1",
        "port": 1080,
        "username": "sim-user",
        "password": "sim-socks-pass",
    },
    "http": {
        "server": "198.18.2.2",
        "port": 3128,
        "username": "sim-user",
        "password": "sim-http-pass",
    },
    "shadowsocks": {
        "server": "198.18.2.3",
        "port": 8388,
        "method": "aes-128-gcm",
        "password": "sim-ss-pass",
    },
    "vmess": {
        "server": "198.18.2.4",
        "port": 10086,
        "uuid": "3f6c1a52-8a6f-4b0e-9a53-6d1f2c3b4a01",
        "security": "auto",
        "alter_id": 0,
    },
    "vless": {
        "server": "198.18.2.5",
        "port": 443,
        "uuid": "3f6c1a52-8a6f-4b0e-9a53-6d1f2c3b4a02",
        "flow": "xtls-rprx-vision",
        "tls": True,
        "tls_insecure": False,
    },
    "trojan": {
        "server": "198.18.2.6",
        "port": 443,
        "password": "sim-trojan-pass",
        "tls": True,
        "tls_server_name": EXIT_NAME,
        "tls_insecure": False,
    },
}
#: Exit servers that are not sing-box (Debian packages), one process each, each on its own
#: address: exit name → its part of the exit's admin-API body (with its kind). microsocks does
#: CONNECT only (no UDP ASSOCIATE, like ``ssh -D``); ss-server relays UDP (``-u``). trojan-gfw
#: cannot bind its outgoing connections: the kernel gives them the destination's own address
#: (the whoami at ``VERIFY_URL`` sees 198.18.1.1), so its exit expects that
#: (``netsim_others.seen_as``).
OTHER_EXIT_SERVERS: dict[str, dict[str, Any]] = {
    "microsocks": {
        "kind": "socks5",
        "server": "198.18.2.11",
        "port": 1080,
        "username": "sim-user",
        "password": "sim-micro-pass",
    },
    "tinyproxy": {
        "kind": "http",
        "server": "198.18.2.12",
        "port": 8888,
        "username": "sim-user",
        "password": "sim-tiny-pass",
    },
    "ss-server": {
        "kind": "shadowsocks",
        "server": "198.18.2.13",
        "port": 8388,
        "method": "chacha20-ietf-poly1305",
        "password": "sim-ss-libev-pass",
    },
    "v2ray-vmess": {
        "kind": "vmess",
        "server": "198.18.2.14",
        "port": 10086,
        "uuid": "3f6c1a52-8a6f-4b0e-9a53-6d1f2c3b4a14",
        "security": "auto",
        "alter_id": 0,
    },
    "v2ray-vless": {
        "kind": "vless",
        "server": "198.18.2.15",
        "port": 443,
        "uuid": "3f6c1a52-8a6f-4b0e-9a53-6d1f2c3b4a15",
        "tls": True,
        "tls_server_name": EXIT_NAME,
    },
    "trojan": {
        "kind": "trojan",
        "server": "198.18.2.16",
        "port": 443,
        "password": "sim-trojan-gfw-pass",
        "tls_server_name": EXIT_NAME,
    },
}
START_TIMEOUT_S = 10.0


@attrs.frozen(kw_only=True)
class Names:
    """The names and link addresses of one instance (tests may make a second one)."""

    prefix: str = "ccsim"
    #: The veth /30: root end ``+1``, namespace end ``+2``.
    link: str = "198.18.0.0/30"
    #: Route 198.18.0.0/16 from the root netns into the namespace (only one instance may).
    route: bool = True

    @property
    def netns(self) -> str:
        return f"{self.prefix}-inet"

    @property
    def root_veth(self) -> str:
        return f"{self.prefix}-r"

    @property
    def inner_veth(self) -> str:
        return f"{self.prefix}-i"

    @property
    def table(self) -> str:
        return self.prefix.replace("-", "_")

    def _at(self, offset: int) -> str:
        return str(ipaddress.IPv4Network(self.link).network_address + offset)

    @property
    def root_address(self) -> str:
        return self._at(1)

    @property
    def inner_address(self) -> str:
        return self._at(2)
