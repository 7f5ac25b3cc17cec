"""Exits as users have them, on the real kernel: exit servers that are not sing-box (Debian's
microsocks, tinyproxy, ss-server) behind a box's gateway; DNS over TCP through an exit that
carries no UDP; the box's other UDP refused and counted when the exit cannot carry it; and the
exit test telling whether an exit carries UDP. The agent is embedded; the simulated internet
is ``netsim``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent.protocol import messages as m
from cloudclaude.agent_client.handle import Agent
from tests.integration.netsim import DNS_IP, MYADDR_NAME, OTHER_EXIT_SERVERS, SimInternet, seen_by
from tests.integration.test_boxes import run, started
from tests.integration.test_egress_gateway import leak_case

WHOAMI = "http://198.18.1.1/"
#: Sends three UDP datagrams to a port of the simulated internet that is not DNS, and tells
#: what came back for each: an ICMP port unreachable (``refused``) or nothing (``silence``).
UDP_SEND = """python3 - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
s.connect(("198.18.1.1", 9999))
seen = []
for _ in range(3):
    try:
        s.send(b"cc-udp-canary")
        s.recv(64)
        seen.append("answered")
    except ConnectionRefusedError:
        seen.append("refused")
    except TimeoutError:
        seen.append("silence")
print(" ".join(seen))
EOF"""


async def box_behind(
    agent: Agent, make: Callable[[], str], spec: m.ExitSpec
) -> tuple[str, m.EgressState]:
    host_id = make()
    await started(agent, host_id, disk_gb=1)
    state = await agent.setup_egress(host_id, m.GatewaySpec(exit=spec))
    return host_id, state


@pytest.mark.parametrize("name", list(OTHER_EXIT_SERVERS))
async def test_exit_servers_that_are_not_sing_box_carry_a_boxs_http_and_dns(
    box_agent: Agent, new_host: Callable[[], str], sim_internet: SimInternet, name: str
) -> None:
    sim = sim_internet
    spec = sim.other_exit_spec(name)  # udp left at its default: DNS does not depend on it
    expected, resolver = seen_by(name, "198.18.1.1"), seen_by(name, DNS_IP)
    host_id, _ = await box_behind(box_agent, new_host, spec)
    sim.reset_counters()
    before = len(sim.dns_queries())
    seen = await box_agent.verify_egress(host_id, url=WHOAMI, dns_name=MYADDR_NAME, timeout_s=10)
    assert (seen.http_status, seen.http_body) == (200, expected), seen
    assert seen.txt_answers == [resolver], seen
    # The box's own tools: a name resolved by the box, then fetched, both through the exit.
    reply = await run(box_agent, host_id, "curl -sS -m 10 http://whoami.sim.test/")
    assert reply.exit_code == 0 and reply.stdout.strip() == expected, reply
    asked = [q for q in sim.dns_queries()[before:] if q["name"] in (MYADDR_NAME, "whoami.sim.test")]
    assert asked and {(q["source"], q["transport"]) for q in asked} == {(resolver, "tcp")}
    assert sim.counters()["services"] == 0, sim.counters()  # nothing bypassed the exit


@pytest.mark.parametrize("name", ["microsocks", "tinyproxy"])
async def test_a_boxs_udp_through_an_exit_without_udp_is_refused_counted_and_kept_in(
    box_agent: Agent, new_host: Callable[[], str], sim_internet: SimInternet, name: str
) -> None:
    spec = sim_internet.other_exit_spec(name, udp=False)
    host_id, _ = await box_behind(box_agent, new_host, spec)
    counted = (await box_agent.egress_counters())["drop_udp"]
    reply = await leak_case(box_agent, host_id, sim_internet, UDP_SEND)
    assert reply.stdout.split() == ["refused"] * 3, reply
    assert (await box_agent.egress_counters())["drop_udp"] >= counted + 3
    # DNS over UDP from the box is still answered (hijacked, asked over TCP through the exit).
    dig = await run(box_agent, host_id, f"dig +short +time=3 +tries=1 TXT {MYADDR_NAME}")
    assert dig.stdout.strip().strip('"') == spec.server, dig


async def test_a_boxs_udp_goes_to_an_exit_that_carries_it_uncounted(
    box_agent: Agent, new_host: Callable[[], str], sim_internet: SimInternet
) -> None:
    # The counter and the refusal are the exit's lack of UDP, not every gateway's.
    host_id, _ = await box_behind(box_agent, new_host, sim_internet.other_exit_spec("ss-server"))
    counted = (await box_agent.egress_counters())["drop_udp"]
    reply = await run(box_agent, host_id, UDP_SEND)
    assert reply.stdout.split() == ["silence"] * 3, reply  # no service there: no answer
    assert (await box_agent.egress_counters())["drop_udp"] == counted


#: Whether each exit server relays UDP, as its exit test must find (None: an http exit, not
#: asked). microsocks does CONNECT only, like ``ssh -D``.
CARRIES_UDP: dict[str, bool | None] = {
    "sing-box socks5": True,
    "microsocks": False,
    "tinyproxy": None,
    "ss-server": True,
    "v2ray-vmess": True,
    "v2ray-vless": True,
    "trojan": True,
}


@pytest.mark.parametrize(("exit_name", "carried"), list(CARRIES_UDP.items()))
async def test_an_exit_test_tells_whether_the_exit_carries_udp(
    box_agent: Agent, sim_internet: SimInternet, exit_name: str, carried: bool | None
) -> None:
    sim = sim_internet
    if exit_name == "sing-box socks5":
        spec = sim.exit_spec("socks5")
        expected = resolver = spec.server
    else:  # udp: false as set makes no difference: the test finds out
        spec = sim.other_exit_spec(exit_name, udp=False)
        expected, resolver = seen_by(exit_name, "198.18.1.1"), seen_by(exit_name, DNS_IP)
    sim.reset_counters()
    reply = await box_agent.probe_exit(spec, url=WHOAMI, dns_name=MYADDR_NAME, timeout_s=10)
    # The exit verifies either way: DNS went over TCP.
    assert (reply.http_status, reply.http_body, reply.txt_answers) == (200, expected, [resolver])
    if carried is None:  # an http exit: nothing to ask
        assert not reply.udp_checked and not reply.udp_answers, reply
    elif carried:
        assert reply.udp_checked and reply.udp_answers == [resolver], reply
    else:
        assert reply.udp_checked and not reply.udp_answers and reply.udp_error, reply
    counters = sim.counters()
    assert counters["services"] == 0 and counters["other"] == 0, counters
    listing = await box_agent.list_gateways()
    assert not listing.gateways and not listing.leftovers, listing
