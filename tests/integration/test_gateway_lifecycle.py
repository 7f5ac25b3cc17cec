"""A box's gateway over time on the real kernel: the kill switch when sing-box dies, removal
with its box, live allowlist edits, and adoption by a restarted agent, against the simulated
internet (``netsim``). Helpers are shared with ``test_egress_gateway``.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from agent.protocol import messages as m
from agent.runtime import open_runtime
from cloudclaude.agent_client.client import AgentError, embedded
from cloudclaude.agent_client.handle import Agent
from tests.integration import boxes
from tests.integration.netsim import SimInternet
from tests.integration.test_boxes import run, started
from tests.integration.test_egress_gateway import MYADDR, WHOAMI, root, running_box, settled
from tests.polling import quiet, until


async def test_the_kill_switch_holds_when_sing_box_dies(
    slow_watch_agent: Agent, sim_internet: SimInternet, boxes_state: Path
) -> None:
    host_id = boxes.new_host_id()
    try:
        await kill_switch_case(slow_watch_agent, host_id, sim_internet, boxes_state)
    finally:
        with trio.CancelScope(shield=True):
            await slow_watch_agent.remove_host(host_id, purge=True)


async def kill_switch_case(agent: Agent, host_id: str, sim: SimInternet, boxes_state: Path) -> None:
    await started(agent, host_id, disk_gb=1)
    await agent.setup_egress(host_id, m.GatewaySpec(exit=sim.exit_spec("socks5")))
    state_file = boxes_state / "gateways" / host_id / "state.json"
    os.kill(json.loads(state_file.read_text())["pid"], signal.SIGKILL)
    # From this moment nothing reaches the simulated internet, until the agent restarts it.
    sim.reset_counters()
    reply = await root(
        agent,
        host_id,
        "curl -sS -m 1 http://198.18.1.1/; dig +short +time=1 +tries=1 @198.18.1.99 TXT "
        f"{MYADDR}; true",
    )
    assert sim.exits()["socks5"]["expected_ip"] not in reply.stdout, reply
    counters = await settled(sim)
    assert not any(counters.values()), counters

    async def restarted() -> bool:
        listing = await agent.list_gateways()
        state = next(g for g in listing.gateways if g.host_id == host_id)
        return state.trips == 1 and state.running

    with trio.fail_after(20):
        await until(restarted, interval=0.1)
    seen = await agent.verify_egress(host_id, url=WHOAMI, dns_name=MYADDR, timeout_s=10)
    assert seen.http_body == sim.exits()["socks5"]["expected_ip"], seen


async def test_a_gateway_is_gone_with_its_box(
    box_agent: Agent, new_host: Callable[[], str], sim_internet: SimInternet
) -> None:
    host_id = await running_box(box_agent, new_host, sim_internet, "socks5")
    netns = next(
        g.netns for g in (await box_agent.list_gateways()).gateways if g.host_id == host_id
    )
    await box_agent.stop_host(host_id)
    listing = await box_agent.list_gateways()
    assert host_id not in {g.host_id for g in listing.gateways}
    assert not Path("/run/netns", netns).exists()
    assert not [x for x in listing.leftovers if netns in x]
    with pytest.raises(AgentError):
        await box_agent.verify_egress(host_id, url=WHOAMI, dns_name="", timeout_s=2)


async def test_an_allowlist_admits_only_its_domains_and_is_edited_live(
    box_agent: Agent, new_host: Callable[[], str], sim_internet: SimInternet
) -> None:
    sim = sim_internet
    exit_ip: str = sim.exits()["socks5"]["expected_ip"]
    host_id = new_host()
    await started(box_agent, host_id, disk_gb=1)
    spec = m.GatewaySpec(
        exit=sim.exit_spec("socks5"),
        allowed_domains=["allowed.sim.test"],
        always_allowed=["198.18.1.1"],  # the exit's verify_url
    )
    await box_agent.setup_egress(host_id, spec)
    seen = await box_agent.verify_egress(host_id, url=WHOAMI, dns_name=MYADDR, timeout_s=10)
    assert seen.http_body == exit_ip and seen.txt_answers == [exit_ip], seen

    async def fetch(args: str) -> str:
        reply = await run(box_agent, host_id, f"curl -sS -m 5 {args} || echo refused")
        return reply.stdout.strip()

    async def through_exit(args: str) -> bool:
        return await fetch(args) == exit_ip

    async def downloaded() -> int:
        reply = await run(box_agent, host_id, "stat -c %s /tmp/slow.bin 2>/dev/null; true")
        return int(reply.stdout.strip() or 0)

    async def download_done() -> str:
        reply = await run(
            box_agent, host_id, "pgrep -x curl >/dev/null || stat -c %s /tmp/slow.bin"
        )
        return reply.stdout.strip()

    assert await fetch("http://allowed.sim.test/") == exit_ip
    assert await fetch("http://other.sim.test/") == "refused"
    assert await fetch("http://198.18.1.3/") == "refused"  # a bare address
    # A Host header or SNI naming the allowed domain does not open another address.
    assert await fetch("--resolve allowed.sim.test:80:198.18.1.3 http://allowed.sim.test/") == (
        "refused"
    )
    assert await fetch(
        "-k --resolve allowed.sim.test:443:198.18.1.3 https://allowed.sim.test/"
    ) == ("refused")

    # A slow download through the allowed domain survives two edits of the list.
    await run(
        box_agent,
        host_id,
        "nohup curl -sS -m 60 --limit-rate 2M -o /tmp/slow.bin "
        "http://allowed.sim.test/bytes/6000000 >/dev/null 2>&1 &",
    )
    with trio.fail_after(30):  # its connection is open and carrying data
        await until(downloaded, interval=0.1)
    await box_agent.set_allowlist(host_id, ["allowed.sim.test", "other.sim.test"])
    with trio.fail_after(30):  # sing-box reloads the rule-set file on its own
        await until(lambda: through_exit("http://other.sim.test/"), interval=0.2)
    await box_agent.set_allowlist(host_id, [])  # no allowlist: any destination
    with trio.fail_after(30):
        await until(lambda: through_exit("http://198.18.1.3/"), interval=0.2)
    with trio.fail_after(60):  # the download ends (curl gives up after 60 s)
        size = await until(download_done, interval=0.5)
    assert size == "6000000", size


async def test_a_restarted_agent_adopts_the_running_sing_box(
    boxes_state: Path, box_image: str, sim_internet: SimInternet
) -> None:
    host_id = boxes.new_host_id()
    config = boxes.agent_config(boxes_state)
    try:
        async with open_runtime(config) as dispatcher, embedded(dispatcher) as client:
            first = Agent("embedded", client)
            await started(first, host_id, disk_gb=1)
            before = await first.setup_egress(
                host_id, m.GatewaySpec(exit=sim_internet.exit_spec("shadowsocks"))
            )
        # The agent is gone; its sing-box is not. A new agent finds and keeps it.
        async with open_runtime(config) as dispatcher, embedded(dispatcher) as client:
            second = Agent("embedded", client)

            async def gateway() -> tuple[m.EgressState, list[str]]:
                listing = await second.list_gateways()
                [state] = [g for g in listing.gateways if g.host_id == host_id]
                return state, listing.leftovers

            # Unchanged over several watch intervals: had the new agent taken its sing-box
            # for dead, the watch would have restarted it (a new pid, a trip) by then.
            with trio.fail_after(30):
                state, leftovers = await quiet(gateway, window=4 * config.egress_watch_s)
            assert state.running and state.singbox_pid == before.singbox_pid and state.trips == 0
            assert not leftovers, leftovers
            seen = await second.verify_egress(host_id, url=WHOAMI, dns_name="", timeout_s=10)
            assert seen.http_body == sim_internet.exits()["shadowsocks"]["expected_ip"], seen
    finally:
        async with open_runtime(config) as dispatcher, embedded(dispatcher) as client:
            with trio.CancelScope(shield=True):
                await Agent("embedded", client).remove_host(host_id, purge=True)
