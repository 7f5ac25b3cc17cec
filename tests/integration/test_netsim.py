"""The simulated internet itself (real namespaces, real sing-box), and through it the rendered
outbound and DNS section of every exit kind against real exit servers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx
import pytest

from agent.egress import plumbing
from tests.integration import netsim
from tests.integration.netsim import KINDS, MYADDR_NAME, SimInternet

pytestmark = pytest.mark.integration


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def queries_for(sim: SimInternet, name: str, qtype: str, before: int) -> list[dict[str, str]]:
    return [q for q in sim.dns_queries()[before:] if (q["name"], q["type"]) == (name, qtype)]


def test_whoami_and_dns_from_the_root_netns_see_the_link_address(
    sim_internet: SimInternet,
) -> None:
    sim = sim_internet
    sim.reset_counters()
    for ip in netsim.WHOAMI_IPS:
        assert httpx.get(f"http://{ip}/", timeout=5).text == "198.18.0.1"
    assert netsim.dns_query(netsim.DNS_IP, MYADDR_NAME, "TXT") == ["198.18.0.1"]
    assert netsim.dns_query(netsim.ROGUE_DNS_IP, MYADDR_NAME, "TXT", tcp=True) == ["198.18.0.1"]
    assert sim.counters()["services"] > 0
    assert sim.counters()["exit_servers"] == 0


def test_the_dns_server_answers_and_logs_every_query(sim_internet: SimInternet) -> None:
    sim = sim_internet
    before = len(sim.dns_queries())
    for name, address in netsim.RECORDS.items():
        assert netsim.dns_query(netsim.DNS_IP, name) == [address]
    assert netsim.dns_query(netsim.DNS_IP, "whoami.sim.test", "AAAA") == []
    with pytest.raises(LookupError, match="rcode 3"):
        netsim.dns_query(netsim.DNS_IP, "nowhere.sim.test")
    logged = sim.dns_queries()[before:]
    assert len(logged) == len(netsim.RECORDS) + 2
    assert logged[-1] == {
        "name": "nowhere.sim.test",
        "type": "A",
        "source": "198.18.0.1",
        "server": netsim.DNS_IP,
        "transport": "udp",
    }


def test_bytes_and_tls_whoami(sim_internet: SimInternet) -> None:
    reply = httpx.get("http://198.18.1.1/bytes/3000000", timeout=10)
    assert len(reply.content) == 3_000_000 and not reply.content.strip(b"\0")
    context = ssl.create_default_context(cafile=str(sim_internet.cert_path))
    for ip in netsim.TLS_WHOAMI_IPS:
        assert httpx.get(f"https://{ip}/", verify=context, timeout=5).text == "198.18.0.1"


def test_exits_describe_every_kind(sim_internet: SimInternet) -> None:
    exits = sim_internet.exits()
    assert tuple(exits) == KINDS
    assert exits["direct"]["expected_ip"] == "198.18.0.1" and "server" not in exits["direct"]
    for kind in KINDS[1:]:
        assert exits[kind]["expected_ip"] == exits[kind]["server"]
        assert sim_internet.exit_spec(kind).kind == kind
    assert "BEGIN CERTIFICATE" in sim_internet.exit_spec("trojan").tls_certificate


@pytest.mark.parametrize("kind", KINDS)
def test_each_exit_kind_carries_the_rendered_outbound_and_dns(
    sim_internet: SimInternet, workdir: Path, kind: str
) -> None:
    sim = sim_internet
    expected = sim.exits()[kind]["expected_ip"]
    spec = sim.exit_spec(kind)
    context = ssl.create_default_context(cafile=str(sim.cert_path))
    with netsim.local_client(spec, workdir) as client:
        sim.reset_counters()
        before = len(sim.dns_queries())
        with httpx.Client(proxy=client.proxy_url, timeout=10, verify=context) as http:
            assert http.get("http://198.18.1.1/").text == expected
            # A name the exit resolves itself (from its own address).
            assert http.get("http://whoami.sim.test/").text == expected
            assert http.get("https://allowed.sim.test/").text == expected
        for tcp in (False, True):
            answer = netsim.dns_query(
                "127.0.0.1", MYADDR_NAME, "TXT", port=client.dns_port, tcp=tcp
            )
            assert answer == [expected]
        # The rendered DNS server: reached through the exit, over TCP through every proxy (many
        # carry no UDP), over UDP only for direct (sing-box 1.14's TCP transport also asks A
        # and AAAA of the name: not counted).
        asked = queries_for(sim, MYADDR_NAME, "TXT", before)
        transport = "udp" if kind == "direct" else "tcp"
        assert [(q["source"], q["server"], q["transport"]) for q in asked] == [
            (expected, netsim.DNS_IP, transport)
        ]
        counters = sim.counters()
        if kind == "direct":
            assert counters["services"] > 0 and counters["exit_servers"] == 0, counters
        else:
            assert counters["services"] == 0 and counters["exit_servers"] > 0, counters
        assert counters["icmp"] == counters["ip6"] == counters["other"] == 0, counters


@pytest.mark.parametrize("name", list(netsim.OTHER_EXIT_SERVERS))
def test_exit_servers_that_are_not_sing_box_carry_the_rendered_outbound_and_dns(
    sim_internet: SimInternet, workdir: Path, name: str
) -> None:
    # microsocks does CONNECT only: DNS over TCP through the exit is what makes it usable.
    sim = sim_internet
    spec = sim.other_exit_spec(name)
    expected, resolver = netsim.seen_by(name, "198.18.1.1"), netsim.seen_by(name, netsim.DNS_IP)
    with netsim.local_client(spec, workdir) as client:
        sim.reset_counters()
        before = len(sim.dns_queries())
        with httpx.Client(proxy=client.proxy_url, timeout=10) as http:
            assert http.get("http://198.18.1.1/").text == expected
            assert len(http.get("http://198.18.1.1/bytes/1000000").content) == 1_000_000
        for tcp in (False, True):
            answer = netsim.dns_query(
                "127.0.0.1", MYADDR_NAME, "TXT", port=client.dns_port, tcp=tcp
            )
            assert answer == [resolver]
        asked = queries_for(sim, MYADDR_NAME, "TXT", before)
        assert [(q["source"], q["server"], q["transport"]) for q in asked] == [
            (resolver, netsim.DNS_IP, "tcp")
        ]
        counters = sim.counters()
        assert counters["services"] == 0 and counters["exit_servers"] > 0, counters
        assert counters["icmp"] == counters["ip6"] == counters["other"] == 0, counters


def test_a_connect_only_socks_server_relays_no_udp(sim_internet: SimInternet) -> None:
    """microsocks answers UDP ASSOCIATE with "command not supported" (as ``ssh -D`` does)."""
    spec = sim_internet.other_exit_spec("microsocks")
    with socket.create_connection((spec.server, spec.port), timeout=5) as sock:
        sock.sendall(b"\x05\x01\x02")  # version 5, one method: user/password
        assert sock.recv(2) == b"\x05\x02"
        user, password = spec.username.encode(), spec.password.encode()
        sock.sendall(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
        assert sock.recv(2) == b"\x01\x00"
        sock.sendall(b"\x05\x03\x00\x01" + bytes(6))  # UDP ASSOCIATE 0.0.0.0:0
        reply = sock.recv(10)
    assert reply[:2] == b"\x05\x07", reply  # 7: command not supported


def test_a_wrong_credential_gets_nothing_through(sim_internet: SimInternet, workdir: Path) -> None:
    bad = attrs.evolve(sim_internet.exit_spec("socks5"), password="wrong")
    with (
        netsim.local_client(bad, workdir) as client,
        httpx.Client(proxy=client.proxy_url) as http,
        pytest.raises(httpx.HTTPError),
    ):
        http.get("http://198.18.1.1/", timeout=5).raise_for_status()


SECOND = netsim.Names(prefix="ccsimt", link="198.18.255.0/30", route=False)


def _gone(names: netsim.Names) -> bool:
    return not plumbing.netns_exists(names.netns) and not plumbing.links_with_prefix(
        f"{names.prefix}-"
    )


@pytest.fixture
def second_names() -> Iterator[netsim.Names]:
    netsim.sweep(SECOND)
    yield SECOND
    netsim.sweep(SECOND)


def test_a_second_instance_starts_serves_and_is_removed(second_names: netsim.Names) -> None:
    sim = SimInternet(second_names)
    sim.start()
    try:
        assert plumbing.netns_exists(second_names.netns)
        seen = sim.ns_exec("curl", "-sS", "-m", "3", "http://198.18.1.1/").stdout
        assert seen == "198.18.1.1"  # asked from inside: the namespace's own address
        workdir = sim.workdir
    finally:
        sim.stop()
    assert _gone(second_names)
    assert not workdir.exists()


def test_leftovers_of_a_crashed_run_are_swept(second_names: netsim.Names) -> None:
    crashed = SimInternet(second_names)
    crashed.start()
    pids = netsim.netns_pids(second_names.netns)
    # The servers, the exits' sing-box and the exit servers that are not sing-box.
    assert len(pids) == 2 + len(netsim.OTHER_EXIT_SERVERS)
    # A crash: the lock goes with the process, everything else stays.
    assert crashed._lock is not None
    crashed._lock.close()
    crashed._lock = None
    orphans = list(crashed._processes)
    crashed._processes.clear()
    again = SimInternet(second_names)
    try:
        again.start()
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
        assert not crashed.workdir.exists()
        assert len(netsim.netns_pids(second_names.netns)) == len(pids)
    finally:
        again.stop()
        crashed.stop()
        for process in orphans:
            process.wait()
    assert _gone(second_names)


def _zombie(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True
