"""Triple verification verdicts, the DNS wire format they rest on, and the kill-switch watch."""

from __future__ import annotations

import struct
import uuid

import attrs
import pytest
import trio

from agent.egress import dnswire
from agent.protocol import messages as m
from cloudclaude.background.egress_watch import EgressWatch
from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import LiveSettings, Settings
from cloudclaude.domain.egress_check import judge
from cloudclaude.model.hosts import HostAction
from cloudclaude.model.tasks import Task

URL = "http://198.18.1.1/"
NAME = "myaddr.sim.test"


def verdict(reply: m.VerifyReply, expected_ip: str = "198.18.2.1") -> list[tuple[str, bool]]:
    result = judge(
        reply,
        url=URL,
        expected_ip=expected_ip,
        dns_name=NAME,
        expected_resolvers=["198.18.1.53", expected_ip],
    )
    return [(step.name, step.ok) for step in result.steps]


def good() -> m.VerifyReply:
    return m.VerifyReply(id=1, http_status=200, http_body="198.18.2.1", txt_answers=["198.18.2.1"])


def test_all_three_steps_pass_through_the_exit() -> None:
    assert verdict(good()) == [("http", True), ("address", True), ("dns", True)]


def test_another_address_is_a_mismatch() -> None:
    result = judge(
        good(), url=URL, expected_ip="198.18.2.9", dns_name="", expected_resolvers=["198.18.1.53"]
    )
    assert not result.ok and result.failure is not None
    assert result.failure.failure == "egress_ip_mismatch"
    assert result.detected_ip == "198.18.2.1"


def test_no_answer_fails_the_first_step_and_skips_the_address() -> None:
    reply = attrs.evolve(good(), http_status=0, http_body="", http_error="timed out")
    steps = verdict(reply)
    assert steps[0] == ("http", False) and "address" not in dict(steps)


def test_a_resolver_outside_the_exit_is_a_dns_leak() -> None:
    reply = attrs.evolve(good(), txt_answers=["198.18.0.1"])
    result = judge(
        reply,
        url=URL,
        expected_ip="198.18.2.1",
        dns_name=NAME,
        expected_resolvers=["198.18.1.53", "198.18.2.1"],
    )
    assert result.failure is not None and result.failure.failure == "egress_dns_leak"


def test_a_non_2xx_answer_is_unreachable() -> None:
    assert verdict(attrs.evolve(good(), http_status=502))[0] == ("http", False)


def answer(ident: int, name: str, records: list[tuple[int, bytes]], rcode: int = 0) -> bytes:
    _, question = dnswire.query(name, dnswire.TYPE_TXT)
    header = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, len(records), 0, 0)
    body = question[12:]
    for rtype, data in records:
        body += b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 60, len(data)) + data
    return header + body


def test_txt_and_a_answers_are_read_and_a_foreign_id_refused() -> None:
    txt = bytes([10]) + b"198.18.2.1"
    packet = answer(7, NAME, [(dnswire.TYPE_TXT, txt), (dnswire.TYPE_A, bytes([198, 18, 1, 1]))])
    assert dnswire.answers(packet, 7, dnswire.TYPE_TXT) == ["198.18.2.1"]
    assert dnswire.answers(packet, 7, dnswire.TYPE_A) == ["198.18.1.1"]
    with pytest.raises(dnswire.DnsError, match="another query"):
        dnswire.answers(packet, 8, dnswire.TYPE_TXT)


def test_an_error_rcode_is_an_error() -> None:
    with pytest.raises(dnswire.DnsError, match="rcode 3"):
        dnswire.answers(answer(3, NAME, [], rcode=3), 3, dnswire.TYPE_TXT)


@attrs.define
class FakeAgent:
    trips: dict[str, int]

    async def list_gateways(self) -> m.GatewayList:
        states = [m.EgressState(host_id=h, exists=True, trips=t) for h, t in self.trips.items()]
        return m.GatewayList(id=1, gateways=states)

    async def egress_counters(self) -> dict[str, int]:
        return {"drop_icmp": 3}


@attrs.define
class FakeHosts:
    running: set[uuid.UUID]
    actions: list[tuple[uuid.UUID, str, str]] = attrs.field(factory=list)

    async def mark_degraded(self, host_id: uuid.UUID, code: str, message: str) -> bool:
        return host_id in self.running

    async def system_action(
        self, host_id: uuid.UUID, action: HostAction, audit_type: str, reason: str
    ) -> Task | None:
        self.actions.append((host_id, action, audit_type))
        return None


async def test_a_rising_trip_count_degrades_and_reverifies_but_old_trips_do_not() -> None:
    one, two = uuid.uuid4(), uuid.uuid4()
    agent = FakeAgent({str(one): 2, str(two): 0})
    hosts = FakeHosts(running={one, two})
    watch = EgressWatch(agent, hosts, LiveSettings(Settings()), trio.Event())
    assert await watch.scan_once() == []  # trips from before this daemon are the baseline
    agent.trips[str(two)] = 1
    assert await watch.scan_once() == [two]
    assert hosts.actions == [(two, "verify_egress", "egress.killswitch.tripped")]
    assert await watch.scan_once() == []


async def test_a_trip_of_a_host_that_is_not_running_queues_nothing() -> None:
    host = uuid.uuid4()
    agent = FakeAgent({str(host): 0})
    hosts = FakeHosts(running=set())
    watch = EgressWatch(agent, hosts, LiveSettings(Settings()), trio.Event())
    await watch.scan_once()
    agent.trips[str(host)] = 1
    assert await watch.scan_once() == [host]
    assert hosts.actions == []


async def test_the_firewalls_drop_counts_are_exported() -> None:
    metrics = Metrics()
    watch = EgressWatch(
        FakeAgent({}), FakeHosts(running=set()), LiveSettings(Settings()), trio.Event(), metrics
    )
    await watch.scan_once()
    rendered = metrics.render().decode()
    assert 'cloudclaude_egress_dropped_packets{rule="drop_icmp"} 3.0' in rendered
