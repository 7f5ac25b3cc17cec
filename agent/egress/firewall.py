"""nftables rulesets of the egress design (DESIGN.md section 7), rendered by pure functions.

Three places get a ``table inet cloudclaude`` (the host's is named per instance), each replaced
atomically in one ``nft -f`` transaction (add, delete, define), never ``flush ruleset``:

- the box netns: out only through its veth, never IPv6, ICMP, or link-local;
- the gateway netns: box traffic only into the tun; out of the uplink only sing-box's marked
  sockets, and only to the exit server (``direct``: to any public address); in, only the box to
  its credentials endpoint and the host's end of the uplink to sing-box's upstream proxy;
- the host: forwards and masquerades the uplinks, and keeps them off host services and other
  boxes.

Every drop goes through a named counter, so dropped packets show up as metrics.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Sequence

from agent.egress import layout as lay
from agent.errors import AgentError

#: Never reachable through a ``direct`` exit: private, shared, loopback, link-local, multicast.
NON_PUBLIC = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
COUNTERS = (
    "drop_ipv6",
    "drop_icmp",
    "drop_link_local",
    "drop_other",
    "drop_host",
    "drop_exit",
    "drop_udp",
)


def _counters() -> str:
    return "".join(f"  counter {name} {{}}\n" for name in COUNTERS)


def _replace(table: str, body: str) -> str:
    """An nft script that swaps ``table`` for ``body`` atomically (it may not exist yet)."""
    return f"table inet {table} {{}}\ndelete table inet {table}\ntable inet {table} {{\n{body}}}\n"


def box_ruleset() -> str:
    """The box may send only IPv4, only out of its veth, never ICMP or to link-local."""
    iface = lay.BOX_INTERFACE
    body = _counters() + (
        "  chain output {\n"
        "    type filter hook output priority 0; policy drop;\n"
        "    oif lo accept\n"
        '    meta nfproto ipv6 counter name "drop_ipv6" drop\n'
        '    meta l4proto icmp counter name "drop_icmp" drop\n'
        '    ip daddr 169.254.0.0/16 counter name "drop_link_local" drop\n'
        f'    oifname "{iface}" meta l4proto {{ tcp, udp }} accept\n'
        '    counter name "drop_other" drop\n'
        "  }\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy drop;\n"
        "    iif lo accept\n"
        "    ct state established,related accept\n"
        '    counter name "drop_other" drop\n'
        "  }\n"
    )
    return _replace(lay.TABLE, body)


def gateway_ruleset(
    *,
    exit_kind: str,
    server_ip: str,
    port: int,
    host_addresses: Sequence[str],
    pool: str,
    uplink_host: str,
    exit_udp: bool = True,
) -> str:
    """Box traffic goes only into the tun; only sing-box's marked sockets leave the uplink.

    Through an exit that carries no UDP (``exit_udp`` false), sing-box rejects the box's UDP
    other than DNS; ``drop_udp`` counts those packets on their way into the tun.

    Two services listen in the gateway: the box's credentials endpoint (``LLM_PORT``, the box
    only) and sing-box's upstream proxy (``LLM_UPSTREAM_PORT``, the uplink's host end only).
    """
    ipaddress.IPv4Address(uplink_host)
    llm, upstream = lay.LLM_PORT, lay.LLM_UPSTREAM_PORT
    up, box, tun = lay.GATEWAY_UPLINK, lay.GATEWAY_BOX, lay.TUN
    mark = f"0x{lay.ROUTING_MARK:x}"
    if exit_kind == "direct":
        blocked = ", ".join([*NON_PUBLIC, pool, *sorted(set(host_addresses))])
        exit_rules = (
            f'    oifname "{up}" ip daddr {{ {blocked} }} counter name "drop_exit" drop\n'
            f'    oifname "{up}" meta mark {mark} meta l4proto {{ tcp, udp }} accept\n'
        )
    else:
        ipaddress.IPv4Address(server_ip)  # rendered only for a resolved address
        to_exit = f'    oifname "{up}" meta mark {mark} ip daddr {server_ip}'
        exit_rules = f"{to_exit} meta l4proto {{ tcp, udp }} th dport {port} accept\n"
        if exit_kind == "socks5" and exit_udp:  # UDP ASSOCIATE relays on a port it picks
            exit_rules += f"{to_exit} meta l4proto udp accept\n"
    refused_udp = ""
    if not exit_udp:  # counted here, refused by sing-box (DNS, port 53, is answered)
        refused_udp = (
            f'    iifname "{box}" oifname "{tun}" udp dport != 53 counter name "drop_udp"\n'
        )
    body = _counters() + (
        "  chain input {\n"
        "    type filter hook input priority 0; policy drop;\n"
        "    iif lo accept\n"
        '    meta nfproto ipv6 counter name "drop_ipv6" drop\n'
        f'    iifname "{tun}" accept\n'
        "    ct state established,related accept\n"
        f'    iifname "{box}" tcp dport {llm} accept\n'
        f'    iifname "{up}" ip saddr {uplink_host} tcp dport {upstream} accept\n'
        '    counter name "drop_other" drop\n'
        "  }\n"
        "  chain forward {\n"
        "    type filter hook forward priority 0; policy drop;\n"
        '    meta nfproto ipv6 counter name "drop_ipv6" drop\n'
        # sing-box's refusals (ICMP port unreachable for rejected UDP) reach the box.
        f'    iifname "{tun}" oifname "{box}" icmp type destination-unreachable accept\n'
        '    meta l4proto icmp counter name "drop_icmp" drop\n'
        f"{refused_udp}"
        f'    iifname "{box}" oifname "{tun}" accept\n'
        f'    iifname "{tun}" oifname "{box}" accept\n'
        '    counter name "drop_other" drop\n'
        "  }\n"
        "  chain output {\n"
        "    type filter hook output priority 0; policy drop;\n"
        "    oif lo accept\n"
        '    meta nfproto ipv6 counter name "drop_ipv6" drop\n'
        f'    oifname "{tun}" accept\n'
        f'    oifname "{box}" ct state established,related accept\n'
        f'    oifname "{up}" ip daddr {uplink_host} tcp sport {upstream} '
        "ct state established accept\n"
        f'    oifname "{up}" meta l4proto icmp counter name "drop_icmp" drop\n'
        f"{exit_rules}"
        '    counter name "drop_exit" drop\n'
        "  }\n"
    )
    return _replace(lay.TABLE, body)


def host_table(tag: str) -> str:
    return f"{lay.TABLE}_{tag}"


def host_ruleset(tag: str, pool: str) -> str:
    """Uplinks are forwarded (masqueraded) but reach no host service and no other gateway."""
    uplinks = f"{lay.host_prefix(tag)}u*"
    body = _counters() + (
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n"
        f'    iifname "{uplinks}" ct state established,related accept\n'
        f'    iifname "{uplinks}" counter name "drop_host" drop\n'
        "  }\n"
        "  chain forward {\n"
        "    type filter hook forward priority 0; policy accept;\n"
        f'    iifname "{uplinks}" meta nfproto ipv6 counter name "drop_ipv6" drop\n'
        f'    iifname "{uplinks}" ip daddr {{ {pool}, 127.0.0.0/8, 169.254.0.0/16 }} '
        'counter name "drop_host" drop\n'
        f'    iifname "{uplinks}" accept\n'
        f'    oifname "{uplinks}" ct state established,related accept\n'
        f'    oifname "{uplinks}" counter name "drop_other" drop\n'
        "  }\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f'    ip saddr {pool} oifname != "{uplinks}" masquerade\n'
        "  }\n"
    )
    return _replace(host_table(tag), body)


def nft_argv(*, netns: str = "", pid: int = 0) -> list[str]:
    """``nft`` run in a named namespace, a process's namespace, or the host's."""
    if netns:
        return ["ip", "netns", "exec", netns, "nft"]
    if pid:
        return ["nsenter", "-t", str(pid), "-n", "nft"]
    return ["nft"]


def apply(script: str, *, netns: str = "", pid: int = 0) -> None:
    """Load ``script`` in one transaction (blocking: run it on a worker thread)."""
    done = subprocess.run(
        [*nft_argv(netns=netns, pid=pid), "-f", "-"],
        input=script,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        where = netns or (f"pid {pid}" if pid else "host")
        raise AgentError("NET_003", f"nftables in {where}: {done.stderr.strip()[:500]}")


def dropped(tag: str, gateway_netns: Sequence[str]) -> dict[str, int]:
    """Packets each named counter dropped, summed over the host's table and every gateway's
    (blocking: run it on a worker thread). A table that is gone counts nothing."""
    totals: dict[str, int] = dict.fromkeys(COUNTERS, 0)
    places = [(nft_argv(), host_table(tag))]
    places += [(nft_argv(netns=netns), lay.TABLE) for netns in gateway_netns]
    for argv, table in places:
        done = subprocess.run(
            [*argv, "-j", "list", "counters", "table", "inet", table],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            continue
        for item in json.loads(done.stdout).get("nftables", []):
            counter = item.get("counter")
            if counter and counter.get("name") in totals:
                totals[counter["name"]] += int(counter.get("packets", 0))
    return totals
