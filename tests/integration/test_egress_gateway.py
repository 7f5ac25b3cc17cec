"""A box's gateway on the real kernel: every exit kind live, DNS through the tunnel, leaks, and
isolation from the host and other boxes, against the simulated internet (``netsim``), with leak
cases run as root in the box. The agent is embedded; its pool is the test pool inside
198.18.0.0/15. The gateway over time (kill switch, allowlist edits, adoption) is in
``test_gateway_lifecycle``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from agent.egress import plumbing
from agent.protocol import messages as m
from cloudclaude.agent_client.handle import Agent
from tests.integration.box_exec import BoxExec
from tests.integration.netsim import SimInternet
from tests.integration.test_boxes import run, started
from tests.polling import quiet

KINDS = ("direct", "socks5", "http", "shadowsocks", "vmess", "vless", "trojan")
WHOAMI = "http://198.18.1.1/"
MYADDR = "myaddr.sim.test"


async def running_box(agent: Agent, make: Callable[[], str], sim: SimInternet, kind: str) -> str:
    host_id = make()
    await started(agent, host_id, disk_gb=1)
    await agent.setup_egress(host_id, m.GatewaySpec(exit=sim.exit_spec(kind)))
    return host_id


async def root(agent: Agent, host_id: str, script: str) -> BoxExec:
    return await run(agent, host_id, script, user="root")


@pytest.mark.parametrize("kind", KINDS)
async def test_each_exit_kind_carries_http_and_dns_through_the_exit(
    box_agent: Agent, new_host: Callable[[], str], sim_internet: SimInternet, kind: str
) -> None:
    sim = sim_internet
    host_id = await running_box(box_agent, new_host, sim, kind)
    expected = sim.exits()[kind]["expected_ip"]
    sim.reset_counters()
    seen = await box_agent.verify_egress(host_id, url=WHOAMI, dns_name=MYADDR, timeout_s=10)
    assert (seen.http_status, seen.http_body) == (200, expected), seen
    assert seen.txt_answers == [expected], seen
    # The box's own tools agree: curl and dig use the box's resolver and routes.
    reply = await run(box_agent, host_id, "curl -sS -m 10 http://whoami.sim.test/")
    assert reply.exit_code == 0 and reply.stdout.strip() == expected, reply
    assert any(q["source"] == expected and q["name"] == MYADDR for q in sim.dns_queries())
    if kind != "direct":
        assert sim.counters()["services"] == 0, sim.counters()  # nothing bypassed the exit


async def settled(sim: SimInternet) -> dict[str, int]:
    """The sim's counters once they, and its DNS log, have stayed the same for a second.

    Read before asserting that nothing leaked: a stray packet still in flight has landed by then.
    """

    def read() -> tuple[dict[str, int], int]:
        return sim.counters(), len(sim.dns_queries())

    with trio.fail_after(30):
        counters, _ = await quiet(lambda: trio.to_thread.run_sync(read))
    return counters


async def leak_case(agent: Agent, host_id: str, sim: SimInternet, script: str) -> BoxExec:
    """Run ``script`` as root in the box and show nothing reached the sim but via the exit."""
    sim.reset_counters()
    before = len(sim.dns_queries())
    reply = await root(agent, host_id, script)
    counters = await settled(sim)
    assert counters["services"] == 0 and counters["icmp"] == 0, (script, counters)
    assert counters["ip6"] == 0 and counters["other"] == 0, (script, counters)
    late = sim.dns_queries()[before:]
    assert not [q for q in late if q["server"] == "198.18.1.99"], late
    return reply


@pytest.fixture
async def socks_box(
    box_agent: Agent, new_host: Callable[[], str], sim_internet: SimInternet
) -> str:
    return await running_box(box_agent, new_host, sim_internet, "socks5")


async def test_dns_to_any_resolver_is_answered_through_the_tunnel(
    box_agent: Agent, socks_box: str, sim_internet: SimInternet
) -> None:
    exit_ip = sim_internet.exits()["socks5"]["expected_ip"]
    for flags in ("", "+tcp"):
        reply = await leak_case(
            box_agent,
            socks_box,
            sim_internet,
            f"dig +short +time=3 +tries=1 {flags} @198.18.1.99 TXT {MYADDR}",
        )
        # Hijacked: the logging resolver behind the exit answered, asked by the exit.
        assert reply.stdout.strip().strip('"') == exit_ip, reply


async def test_dns_over_tls_to_any_address_goes_through_the_exit_only(
    box_agent: Agent, socks_box: str, sim_internet: SimInternet
) -> None:
    await leak_case(
        box_agent, socks_box, sim_internet, "curl -sS -m 3 https://198.18.1.99:853/ || true"
    )


async def test_no_icmp_leaves_the_box_raw_or_unprivileged(
    box_agent: Agent, socks_box: str, sim_internet: SimInternet
) -> None:
    reply = await leak_case(
        box_agent,
        socks_box,
        sim_internet,
        "ping -c 2 -W 1 198.18.1.1; echo rc=$?; python3 - <<'EOF'\n"
        "import socket\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)\n"
        "s.settimeout(1)\n"
        "try:\n"
        "    s.sendto(b'\\x08\\x00\\xf7\\xff\\x00\\x00\\x00\\x00', ('198.18.1.1', 0))\n"
        "    s.recvfrom(64)\n"
        "    print('dgram-ping-answered')\n"
        "except OSError as e:\n"
        "    print('dgram-ping-failed', e)\n"
        "EOF",
    )
    assert "rc=0" not in reply.stdout and "dgram-ping-answered" not in reply.stdout, reply


async def test_no_ipv6_link_local_or_metadata_address_is_reachable(
    box_agent: Agent, socks_box: str, sim_internet: SimInternet
) -> None:
    reply = await leak_case(
        box_agent,
        socks_box,
        sim_internet,
        "for url in http://169.254.169.254/ http://169.254.1.1/ 'http://[64:ff9b::c612:101]/'; do"
        ' curl -sS -m 2 "$url" >/dev/null 2>&1 && echo "reached $url"; done;'
        " cat /proc/sys/net/ipv6/conf/all/disable_ipv6",
    )
    assert "reached" not in reply.stdout and reply.stdout.strip().endswith("1"), reply


async def test_raw_and_packet_sockets_cannot_be_opened_even_as_root(
    box_agent: Agent, socks_box: str, sim_internet: SimInternet
) -> None:
    script = (
        "python3 - <<'EOF'\n"
        "import socket\n"
        "for args in [(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),\n"
        "             (socket.AF_PACKET, socket.SOCK_RAW, 0x0300)]:\n"
        "    try:\n"
        "        socket.socket(*args)\n"
        "        print('opened', args[0])\n"
        "    except PermissionError:\n"
        "        print('refused')\n"
        "EOF"
    )
    reply = await leak_case(box_agent, socks_box, sim_internet, script)
    assert reply.stdout.split() == ["refused", "refused"], reply


async def test_connecting_to_the_exit_server_directly_still_goes_through_sing_box(
    box_agent: Agent, socks_box: str, sim_internet: SimInternet
) -> None:
    # 198.18.2.2 is the http exit's server: the socks exit is the one bound to this box.
    await leak_case(
        box_agent,
        socks_box,
        sim_internet,
        "curl -sS -m 3 http://198.18.2.2:3128/ >/dev/null 2>&1; "
        "curl -sS -m 3 http://198.18.2.1:1080/ >/dev/null 2>&1; true",
    )


CANARY = "cc-canary"
#: Read a line from target:port as a box would (a tun proxy completes every TCP handshake
#: itself, so only an answer from the far end proves a connection reached anything).
READ = "timeout 3 bash -c 'exec 3<>/dev/tcp/{target}/{port}; head -c 64 <&3' 2>/dev/null; true"


async def canary_listener(nursery: trio.Nursery, address: str = "0.0.0.0") -> int:
    """A host service on every address that greets with the canary."""
    listeners = await trio.open_tcp_listeners(0, host=address)

    async def greet(stream: trio.SocketStream) -> None:
        async with stream:
            await stream.send_all(CANARY.encode() + b"\n")

    nursery.start_soon(trio.serve_listeners, greet, listeners)
    port: int = listeners[0].socket.getsockname()[1]
    return port


async def test_host_services_and_other_boxes_are_out_of_reach(
    box_agent: Agent, new_host: Callable[[], str], sim_internet: SimInternet
) -> None:
    first = await running_box(box_agent, new_host, sim_internet, "direct")
    second = await running_box(box_agent, new_host, sim_internet, "socks5")
    states = {g.host_id: g for g in (await box_agent.list_gateways()).gateways}
    # A service in the second box on all its addresses, as a careless user might run.
    await root(
        box_agent,
        second,
        "nohup python3 -c \"import socket\ns=socket.create_server(('0.0.0.0',7777))\n"
        "while True:\n c,_=s.accept(); c.sendall(b'cc-canary\\n'); c.close()\" "
        ">/dev/null 2>&1 &",
    )
    assert (
        CANARY in (await root(box_agent, second, READ.format(target="127.0.0.1", port=7777))).stdout
    )
    async with trio.open_nursery() as nursery:
        port = await canary_listener(nursery)
        found = await trio.to_thread.run_sync(plumbing.host_addresses)
        host_addresses = [a for a in found if not a.startswith("127.")]
        hosts = [(a, port) for a in [*host_addresses, "127.0.0.1"]]
        for me, other in ((first, second), (second, first)):
            targets = [
                *hosts,
                (states[other].box_address, 7777),  # the other box
                (states[me].gateway_address, port),  # its own gateway
                (states[other].gateway_address, port),
            ]
            for target, target_port in targets:
                reply = await root(box_agent, me, READ.format(target=target, port=target_port))
                assert CANARY not in reply.stdout, (me, target, target_port)
        nursery.cancel_scope.cancel()
    # Unix sockets of the host (agent, ctl, Postgres live in /run and /tmp) are not in the
    # box's filesystem: a socket made on the host is not there.
    paths = [Path("/run") / f"cc-canary-{first}.sock", Path("/tmp") / f"cc-canary-{first}.sock"]
    made = []
    try:
        for path in paths:
            made.append(trio.socket.socket(socket.AF_UNIX))
            await made[-1].bind(str(path))
            made[-1].listen()
        listing = " ".join(str(path) for path in paths)
        reply = await root(box_agent, first, f"ls {listing} 2>&1; true")
        assert reply.stdout.count("No such file") == 2, reply
    finally:
        for sock in made:
            sock.close()
        for path in paths:
            path.unlink(missing_ok=True)
