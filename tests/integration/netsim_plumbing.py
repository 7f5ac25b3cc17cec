"""The simulated internet's plumbing: commands in its namespace, the veth and addresses, the
nft counters, stopping its processes, and sweeping what a crashed run left behind.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from agent.egress import plumbing, singbox_process
from tests.integration.netsim_layout import (
    COUNTERS,
    DNS_IP,
    EXIT_SERVERS,
    EXITS_NET,
    OTHER_EXIT_SERVERS,
    ROGUE_DNS_IP,
    SERVICES_NET,
    WHOAMI_IPS,
    Names,
)

#: How long a server of the simulated internet may take to start.
START_TIMEOUT_S = 10.0
#: Where instances keep their working directories (``<prefix>-*``, swept with the instance).
WORK_ROOT = "/tmp"


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result


def ip_batch(*commands: str, netns: str = "") -> None:
    """Run ``ip`` commands in one process (in ``netns`` when given)."""
    where = ["-n", netns] if netns else []
    script = "".join(f"{command}\n" for command in commands)
    result = subprocess.run(
        ["ip", *where, "-batch", "-"], input=script, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(where)} -batch failed: {result.stderr.strip()}")


def netns_pids(netns: str) -> list[int]:
    out = run("ip", "netns", "pids", netns, check=False).stdout
    return [int(pid) for pid in out.split()]


def kill_pids(pids: list[int], grace_s: float = 2.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for pid in pids:
        while singbox_process.running(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            if singbox_process.running(pid):
                os.kill(pid, signal.SIGKILL)


def sweep(names: Names, keep: Path | None = None) -> None:
    """Remove what an instance with these names left behind (processes, netns, veth, files).

    Only call it holding the instance's lock (or for names no running instance uses).
    """
    if plumbing.netns_exists(names.netns):
        kill_pids(netns_pids(names.netns))
        run("ip", "netns", "del", names.netns, check=False)
    for link in plumbing.links_with_prefix(f"{names.prefix}-"):
        run("ip", "link", "del", link, check=False)
    for stale in Path(WORK_ROOT).glob(f"{names.prefix}-*"):
        if stale != keep and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def ns_exec(names: Names, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command in the simulated internet's namespace."""
    return run("ip", "netns", "exec", names.netns, *args)


def plumb(names: Names, workdir: Path) -> None:
    """Make the namespace, its veth to the root netns, its addresses and the nft counters."""
    n = names
    prefixlen = ipaddress.IPv4Network(n.link).prefixlen
    ip_batch(
        f"netns add {n.netns}",
        f"link add {n.root_veth} type veth peer name {n.inner_veth}",
        f"link set {n.inner_veth} netns {n.netns}",
    )
    # IPv6 off before any link is up: no router solicitations, no link-local noise.
    sysctl(f"net/ipv6/conf/{n.root_veth}/disable_ipv6", "1")
    ns_exec(n, "sh", "-c", "for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 >$f; done")
    root = [f"addr add {n.root_address}/{prefixlen} dev {n.root_veth}"]
    root.append(f"link set {n.root_veth} up")
    if n.route:
        root.append(f"route replace 198.18.0.0/16 via {n.inner_address} dev {n.root_veth}")
    ip_batch(*root)
    local = [*WHOAMI_IPS, DNS_IP, ROGUE_DNS_IP]
    local += [server["server"] for server in EXIT_SERVERS.values()]
    local += [server["server"] for server in OTHER_EXIT_SERVERS.values()]
    ip_batch(
        "link set lo up",
        *(f"addr add {ip}/32 dev lo" for ip in local),
        f"addr add {n.inner_address}/{prefixlen} dev {n.inner_veth}",
        f"link set {n.inner_veth} up",
        netns=n.netns,
    )
    ruleset = workdir / "counters.nft"
    ruleset.write_text(nft_ruleset(n))
    ns_exec(n, "nft", "-f", str(ruleset))


def nft_ruleset(names: Names) -> str:
    # nft 1.0.6 refuses keywords (icmp, ip6) as object names: every counter is "n_<name>".
    counters = "\n".join(f"  counter n_{name} {{}}" for name in COUNTERS)
    return f"""table netdev {names.table} {{
{counters}
  chain ingress {{
    type filter hook ingress device "{names.inner_veth}" priority 0; policy accept;
    meta protocol arp accept
    meta protocol ip6 counter name "n_ip6" accept
    meta protocol != ip counter name "n_other" accept
    ip protocol icmp counter name "n_icmp" accept
    ip daddr {SERVICES_NET} counter name "n_services" accept
    ip daddr {EXITS_NET} counter name "n_exit_servers" accept
    counter name "n_other" accept
  }}
}}
"""


def sysctl(path: str, value: str) -> None:
    Path("/proc/sys", path).write_text(value)
