"""Gateways test agents left behind (a killed daemon's, a crashed run's), found and removed.

Every test agent uses the test pool, so a gateway namespace, root link or host nftables table
whose addresses lie in it is a test's; sing-box processes of test agents run in gateway
directories under /tmp. A production gateway (another pool, under /var/lib) is never touched.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from pathlib import Path

from agent.egress import singbox_process
from agent.egress.host_rules import remove_host_rules

POOL = ipaddress.IPv4Network("198.19.0.0/16")
_TABLE = re.compile(r"^cloudclaude_([0-9a-f]{4})$")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False)


def _in_pool(addr_json: str) -> bool:
    try:
        links = json.loads(addr_json or "[]")
    except json.JSONDecodeError:
        return False
    return any(
        ipaddress.IPv4Address(info["local"]) in POOL
        for link in links
        for info in link.get("addr_info", [])
        if info.get("family") == "inet"
    )


def remove_gateway_leftovers() -> list[str]:
    removed: list[str] = []
    for pid, config in singbox_process.running_for(Path("/tmp")).items():
        singbox_process.stop(pid, config)
        removed.append(f"process {pid}")
    for name in _run("ip", "netns", "list").stdout.split():
        if re.fullmatch(r"cc[0-9a-f]{4}-gw\d+", name) and _in_pool(
            _run("ip", "-n", name, "-j", "addr", "show").stdout
        ):
            _run("ip", "netns", "delete", name)
            removed.append(f"netns {name}")
    for link in json.loads(_run("ip", "-j", "addr", "show").stdout or "[]"):
        name = str(link.get("ifname", ""))
        if re.fullmatch(r"cc[0-9a-f]{4}[uv]\d+", name) and _in_pool(json.dumps([link])):
            _run("ip", "link", "delete", name)
            removed.append(f"link {name}")
    for line in _run("nft", "list", "tables").stdout.splitlines():
        table = line.split()[-1] if line.startswith("table inet ") else ""
        match = _TABLE.match(table)
        if match and str(POOL) in _run("nft", "list", "table", "inet", table).stdout:
            remove_host_rules(match[1])
            removed.append(f"table {table}")
    return removed
