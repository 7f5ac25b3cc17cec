"""What the chaos campaign counts once the system settled: orphans of this run's instance.

A gateway (netns ``cc<tag>-gw<slot>``, root links ``cc<tag>[uvx]<slot>``, one sing-box) is
expected only for a host the daemon means to run; a container or a loop device only for a host
that is not deleted; the host's nftables table ``cloudclaude_<tag>`` only while a gateway is.
Everything else of this instance is an orphan, and so is whatever the agent's ``ListGateways``
reports as a leftover.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import attrs
import trio

from agent.egress import singbox_process
from agent.egress.layout import instance_tag
from agent.ops.names import HOST_LABEL, INSTANCE_LABEL
from cloudclaude.agent_client.handle import open_agent
from cloudclaude.core.settings import Settings


@attrs.frozen
class Orphans:
    leftovers: list[str]
    containers: list[str]
    netns: list[str]
    veths: list[str]
    singbox: list[int]
    loops: list[str]
    nft_tables: list[str]

    def counts(self) -> dict[str, int]:
        return {field.name: len(getattr(self, field.name)) for field in attrs.fields(Orphans)}

    def total(self) -> int:
        return sum(self.counts().values())


def _out(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False).stdout


def _slot(name: str) -> int | None:
    match = re.search(r"(\d+)$", name)
    return int(match[1]) if match else None


async def _gateways(settings: Settings) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """The agent's leftovers, and host id → (slot, sing-box pid) of each gateway."""
    async with open_agent(settings) as agent:
        listing = await agent.list_gateways()
    gateways = {}
    for gateway in listing.gateways:
        slot = _slot(gateway.netns) if gateway.netns else None
        gateways[gateway.host_id] = (-1 if slot is None else slot, gateway.singbox_pid)
    return list(listing.leftovers), gateways


def count_orphans(
    settings: Settings, agent_state: Path, instance: str, running: set[str], live: set[str]
) -> Orphans:
    """``running``: hosts meant to run; ``live``: hosts not deleted (both by id)."""
    leftovers, gateways = trio.run(_gateways, settings)
    tag = instance_tag(instance)
    slots = {slot for host_id, (slot, _) in gateways.items() if host_id in running}
    pids = {pid for host_id, (_, pid) in gateways.items() if host_id in running}
    netns = [
        name
        for name in _out("ip", "netns", "list").split()
        if name.startswith(f"cc{tag}-gw") and _slot(name) not in slots
    ]
    links = [
        str(link.get("ifname", "")) for link in json.loads(_out("ip", "-j", "link", "show") or "[]")
    ]
    veths = [
        name
        for name in links
        if re.fullmatch(rf"cc{tag}[uvx]\d+", name) and _slot(name) not in slots
    ]
    singbox = [pid for pid in singbox_process.running_for(agent_state) if pid not in pids]
    containers = []
    docker = ("docker", "-H", f"unix://{settings.agent.docker_socket}")
    listed = _out(*docker, "ps", "-a", "--filter", f"label={INSTANCE_LABEL}={instance}")
    for line in listed.splitlines()[1:]:
        container_id = line.split()[0]
        host_id = _out(
            *docker, "inspect", "-f", f'{{{{index .Config.Labels "{HOST_LABEL}"}}}}', container_id
        ).strip()
        if host_id not in live:
            containers.append(f"{container_id} ({host_id})")
    loops = []
    volumes = str(agent_state / "volumes") + "/"
    for device in json.loads(_out("losetup", "-J", "-l") or '{"loopdevices": []}').get(
        "loopdevices", []
    ):
        backing = str(device.get("back-file") or "").removesuffix(" (deleted)")
        if backing.startswith(volumes):
            host_id = Path(backing).name.removesuffix(".ext4")
            if host_id not in live or "(deleted)" in str(device.get("back-file")):
                loops.append(f"{device.get('name')} {backing}")
    table = f"cloudclaude_{tag}"
    tables = [
        line.split()[-1]
        for line in _out("nft", "list", "tables").splitlines()
        if line.split()[-1:] == [table] and not slots
    ]
    return Orphans(leftovers, containers, netns, veths, singbox, loops, tables)
