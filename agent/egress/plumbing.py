"""Links, addresses, routes and namespaces of a gateway, with pyroute2 (blocking: worker threads).

``build`` makes a fresh gateway for a running box: the gateway netns (in a user namespace of its
own, see ``owned_netns``), the uplink veth from the host into it, the box↔gateway veth with its
box end moved into the container's netns, policy routing that sends only sing-box's marked
packets out of the uplink, and IPv6 off. ``destroy`` removes it all; removing the netns takes
both veths with it, the host end is deleted first so nothing is left while the kernel frees the
namespace. Both are idempotent.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from agent.egress import layout as lay
from agent.egress import owned_netns
from agent.egress.layout import GatewayLayout
from agent.errors import AgentError

SETUP_FAILED = "NET_003"


@contextmanager
def _ipr(namespace: str = "") -> Iterator[IPRoute]:
    ipr = IPRoute(netns=namespace) if namespace else IPRoute()
    try:
        yield ipr
    finally:
        ipr.close()


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def _require(ipr: IPRoute, name: str) -> int:
    index = _index(ipr, name)
    if index is None:
        raise AgentError(SETUP_FAILED, f"link {name} vanished while setting up the gateway")
    return index


def sysctl(namespace: str, pairs: dict[str, str]) -> None:
    argv = ["ip", "netns", "exec", namespace, "sysctl", "-q", "-w"]
    done = subprocess.run(
        [*argv, *(f"{key}={value}" for key, value in pairs.items())],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AgentError(SETUP_FAILED, f"sysctl in {namespace}: {done.stderr.strip()[:300]}")


def netns_exists(name: str) -> bool:
    return os.path.exists(os.path.join(netns.NETNS_RUN_DIR, name))


def build(layout: GatewayLayout, box_pid: int) -> None:
    """A fresh gateway for the box whose init is ``box_pid`` (any old one is removed first)."""
    destroy(layout)
    try:
        _build(layout, box_pid)
    except NetlinkError as exc:
        destroy(layout)
        raise AgentError(SETUP_FAILED, f"gateway {layout.netns}: netlink: {exc}") from exc
    except BaseException:
        destroy(layout)
        raise


def _build(layout: GatewayLayout, box_pid: int) -> None:
    ns = layout.netns
    owned_netns.create(ns, layout.singbox_id)
    sysctl(
        ns,
        {
            "net.ipv6.conf.all.disable_ipv6": "1",
            "net.ipv6.conf.default.disable_ipv6": "1",
            "net.ipv4.ip_forward": "1",
            "net.ipv4.conf.all.rp_filter": "0",
            "net.ipv4.conf.default.rp_filter": "0",
        },
    )
    with _ipr() as host:
        host.link("add", ifname=layout.uplink_host, kind="veth", peer=layout.uplink_peer)
        host.link("set", index=_require(host, layout.uplink_peer), net_ns_fd=ns)
        index = _require(host, layout.uplink_host)
        host.addr("add", index=index, address=layout.uplink_host_address, prefixlen=30)
        host.link("set", index=index, state="up")
    with _ipr(ns) as gw:
        gw.link("set", index=_require(gw, "lo"), state="up")
        up = _require(gw, layout.uplink_peer)
        gw.link("set", index=up, ifname=lay.GATEWAY_UPLINK)
        gw.addr("add", index=up, address=layout.uplink_gateway_address, prefixlen=30)
        gw.link("set", index=up, state="up")
        gw.link("add", ifname=lay.GATEWAY_BOX, kind="veth", peer=layout.box_peer)
        box = _require(gw, lay.GATEWAY_BOX)
        gw.link("set", index=box, mtu=lay.VETH_MTU)
        gw.addr("add", index=box, address=layout.gateway_address, prefixlen=30)
        gw.link("set", index=box, state="up")
        peer = _require(gw, layout.box_peer)
        gw.link("set", index=peer, mtu=lay.VETH_MTU)
        gw.link("set", index=peer, net_ns_pid=box_pid)
        # Only sing-box's own (marked) sockets may use the uplink; the box's packets may only
        # enter the tun (its table is empty while sing-box is down: nothing leaves then).
        gw.rule("add", fwmark=lay.ROUTING_MARK, table=lay.UPLINK_TABLE, priority=100)
        gw.rule("add", iifname=lay.GATEWAY_BOX, table=lay.BOX_TABLE, priority=200)
        gw.rule("add", iifname=lay.GATEWAY_BOX, action="blackhole", priority=201)
        gw.route(
            "add",
            dst="0.0.0.0/0",
            gateway=layout.uplink_host_address,
            oif=up,
            table=lay.UPLINK_TABLE,
        )
    with _ipr(f"/proc/{box_pid}/ns/net") as inside:
        old = _index(inside, lay.BOX_INTERFACE)
        if old is not None:
            # The last gateway's end: its netns is gone by name but may still be held (the
            # daemon's credentials-endpoint socket lives in it until it takes the new one).
            inside.link("del", index=old)
        eth = _require(inside, layout.box_peer)
        inside.link("set", index=eth, ifname=lay.BOX_INTERFACE)
        inside.addr("add", index=eth, address=layout.box_address, prefixlen=30)
        inside.link("set", index=eth, state="up")
        inside.route("replace", dst="0.0.0.0/0", gateway=layout.gateway_address, oif=eth)


def route_tun(layout: GatewayLayout, wait_s: float) -> None:
    """Route the box into sing-box's tun once it exists (the route dies with the tun)."""
    deadline = time.monotonic() + wait_s
    with _ipr(layout.netns) as gw:
        while True:
            tun = _index(gw, lay.TUN)
            if tun is not None:
                break
            if time.monotonic() > deadline:
                raise AgentError(SETUP_FAILED, f"sing-box made no {lay.TUN} in {wait_s}s")
            time.sleep(0.02)
        gw.link("set", index=tun, state="up")
        gw.route("replace", dst="0.0.0.0/0", oif=tun, table=lay.BOX_TABLE)


def tun_exists(layout: GatewayLayout) -> bool:
    if not netns_exists(layout.netns):
        return False
    with _ipr(layout.netns) as gw:
        return _index(gw, lay.TUN) is not None


def destroy(layout: GatewayLayout) -> None:
    delete_link(layout.uplink_host)
    delete_link(layout.uplink_peer)
    if netns_exists(layout.netns):
        netns.remove(layout.netns)


def delete_link(name: str) -> bool:
    with _ipr() as host:
        index = _index(host, name)
        if index is None:
            return False
        try:
            host.link("del", index=index)
        except NetlinkError:
            return False
        return True


def remove_netns(name: str) -> None:
    if netns_exists(name):
        netns.remove(name)


def links_with_prefix(prefix: str) -> list[str]:
    with _ipr() as host:
        return sorted(
            name
            for link in host.get_links()
            if (name := str(link.get("IFLA_IFNAME") or "")).startswith(prefix)
        )


def namespaces_with_prefix(prefix: str) -> list[str]:
    try:
        names = os.listdir(netns.NETNS_RUN_DIR)
    except FileNotFoundError:
        return []
    return sorted(name for name in names if name.startswith(prefix))


def host_addresses() -> list[str]:
    """Every IPv4 address of the host's own interfaces (a direct exit may reach none of them)."""
    with _ipr() as host:
        return sorted(
            {
                str(addr.get("IFA_ADDRESS"))
                for addr in host.get_addr(family=socket.AF_INET)
                if addr.get("IFA_ADDRESS")
            }
        )
