"""The host's share of egress: the instance's nftables table and its ``DOCKER-USER`` rules.

Docker sets the iptables FORWARD policy to DROP, so besides forwarding and masquerading the
uplinks in its own table, the agent lets them through Docker's chain. Both go when the last
gateway of the instance does.
"""

from __future__ import annotations

import subprocess

from agent.egress import firewall
from agent.egress import layout as lay
from agent.errors import EGRESS_SETUP_FAILED, AgentError


def apply_host_rules(tag: str, pool: str) -> None:
    firewall.apply(firewall.host_ruleset(tag, pool))
    for rule in docker_user_rules(tag):
        _iptables_ensure(rule)


def remove_host_rules(tag: str) -> None:
    """The last gateway of instance ``tag`` went: the host keeps nothing of it."""
    table = firewall.host_table(tag)
    subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True, check=False)
    for rule in docker_user_rules(tag):
        _iptables_delete(rule)


def docker_user_rules(tag: str) -> list[list[str]]:
    """Docker sets FORWARD to DROP; these let the uplinks (and their replies) through."""
    uplinks = f"{lay.host_prefix(tag)}u+"
    return [
        ["DOCKER-USER", "-i", uplinks, "-j", "ACCEPT"],
        [
            "DOCKER-USER",
            "-o",
            uplinks,
            "-m",
            "conntrack",
            "--ctstate",
            "RELATED,ESTABLISHED",
            "-j",
            "ACCEPT",
        ],
    ]


def _iptables(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", *argv], capture_output=True, text=True, check=False)


def _iptables_ensure(rule: list[str]) -> None:
    if _iptables("-S", "DOCKER-USER").returncode != 0:
        return  # no Docker chain: FORWARD is not Docker's to drop
    if _iptables("-C", *rule).returncode != 0:
        done = _iptables("-I", *rule)
        if done.returncode != 0:
            raise AgentError(EGRESS_SETUP_FAILED, f"iptables: {done.stderr.strip()[:300]}")


def _iptables_delete(rule: list[str]) -> None:
    while _iptables("-C", *rule).returncode == 0:
        if _iptables("-D", *rule).returncode != 0:
            return
