"""Names and addresses of one host's gateway, derived from its slot in the egress pool.

Every running host gets a /29 of the pool (slot ``n`` starts at ``pool + 8n``): the box↔gateway
veth is its first /30 (gateway ``+1``, box ``+2``), the gateway↔host uplink its second (host
``+5``, gateway ``+6``). Slot 0 is never handed out: its first /30 is the tun inside every
gateway, whose ``+2`` is the box's resolver (DNS sent there enters the tun and sing-box answers
it). Names carry a short tag of the agent's instance, so several installations (and test runs)
share one kernel, and the reconciler finds leftovers by prefix.
"""

from __future__ import annotations

import hashlib
import ipaddress

import attrs

from agent.errors import VALIDATION_FAILED, AgentError

#: Inside a gateway netns the names are fixed; only root-netns names must be unique.
GATEWAY_UPLINK = "up0"
GATEWAY_BOX = "box0"
TUN = "tun0"
#: The box's one interface, as every box image expects.
BOX_INTERFACE = "eth0"
#: SO_MARK of every socket sing-box opens; policy routing sends only these out of the uplink.
ROUTING_MARK = 0x2A
UPLINK_TABLE = 100
#: The box's packets are routed by this table (only ``default dev tun0``); the main table has
#: no default route at all, since sing-box drops every connection when that route changes.
BOX_TABLE = 200
#: The box↔gateway veth carries whole 64 KiB segments (MTU 1500 costs 90 % of throughput).
VETH_MTU = 65000
TUN_MTU = 65535
#: nftables table of the agent, in the host and in every gateway and box namespace.
TABLE = "cloudclaude"
#: The sing-box of the gateway in slot ``n`` runs as uid and gid ``SINGBOX_ID_BASE + n``: one
#: unprivileged id per gateway (no passwd entry needed), so no sing-box can read another's
#: files, signal or trace it. Slots are unique on the kernel, so the ids are too. The range lies
#: where systemd allocates nothing (above its container ranges, below its foreign range).
SINGBOX_ID_BASE = 0x77000000
#: The box's credentials endpoint: a TCP port on every address of its gateway, reached from the
#: box at the tun's own address (the same in every gateway, so every box gets one fixed URL).
#: The daemon holds the listening socket (the agent makes it in the gateway's netns).
LLM_PORT = 4180
#: sing-box's HTTP proxy inbound on the gateway's uplink address: the daemon dials the
#: credentials endpoint's upstream through it, so that traffic leaves by the box's exit too.
LLM_UPSTREAM_PORT = 4181
LLM_UPSTREAM_USER = "cloudclaude"


def instance_tag(instance: str) -> str:
    """Four hex digits naming this installation in interface and namespace names."""
    return hashlib.sha256(instance.encode()).hexdigest()[:4]


def parse_pool(text: str) -> ipaddress.IPv4Network:
    try:
        pool = ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise AgentError(VALIDATION_FAILED, f"egress pool {text!r}: {exc}") from exc
    if pool.prefixlen > 28:
        raise AgentError(VALIDATION_FAILED, f"egress pool {text} is too small (at most /28)")
    return pool


def slots_in(pool: ipaddress.IPv4Network) -> range:
    return range(1, pool.num_addresses // 8)


def free_slot(pool: ipaddress.IPv4Network, used: set[int]) -> int:
    for slot in slots_in(pool):
        if slot not in used:
            return slot
    raise AgentError("NET_003", f"the egress pool {pool} has no free address block left")


@attrs.frozen(kw_only=True)
class GatewayLayout:
    host_id: str
    slot: int
    tag: str
    pool: ipaddress.IPv4Network

    def _at(self, offset: int) -> str:
        return str(self.pool.network_address + 8 * self.slot + offset)

    @property
    def netns(self) -> str:
        return f"cc{self.tag}-gw{self.slot}"

    @property
    def uplink_host(self) -> str:
        """The uplink's end in the host's namespace."""
        return f"cc{self.tag}u{self.slot}"

    @property
    def uplink_peer(self) -> str:
        """The uplink's other end until it is moved into the gateway and renamed."""
        return f"cc{self.tag}v{self.slot}"

    @property
    def box_peer(self) -> str:
        """The box end of the box↔gateway veth until it is moved into the box and renamed."""
        return f"cc{self.tag}x{self.slot}"

    @property
    def gateway_address(self) -> str:
        return self._at(1)

    @property
    def box_address(self) -> str:
        return self._at(2)

    @property
    def uplink_host_address(self) -> str:
        return self._at(5)

    @property
    def uplink_gateway_address(self) -> str:
        return self._at(6)

    @property
    def singbox_id(self) -> int:
        """The uid and gid this gateway's sing-box runs as."""
        return SINGBOX_ID_BASE + self.slot

    @property
    def tun_cidr(self) -> str:
        return tun_cidr(self.pool)

    @property
    def dns_address(self) -> str:
        return dns_address(self.pool)


def tun_cidr(pool: ipaddress.IPv4Network) -> str:
    return f"{pool.network_address + 1}/30"


def llm_address(pool: ipaddress.IPv4Network) -> str:
    """Where a box reaches its credentials endpoint: the tun's own address in its gateway."""
    return str(pool.network_address + 1)


def llm_url(pool: ipaddress.IPv4Network) -> str:
    """``ANTHROPIC_BASE_URL`` of every box of this pool."""
    return f"http://{llm_address(pool)}:{LLM_PORT}"


def dns_address(pool: ipaddress.IPv4Network) -> str:
    """The resolver every box is given: inside the tun's /30, so DNS always enters the tunnel."""
    return str(pool.network_address + 2)


def host_prefix(tag: str) -> str:
    """Prefix of every root-namespace link and namespace this instance makes."""
    return f"cc{tag}"
