"""Triple verification verdicts, the DNS wire format they rest on, and the kill-switch watch."""

from __future__ import annotations

import datetime as dt
import struct
import uuid

import attrs
import pytest
import trio
import trio.testing

from agent.egress import dnswire
from agent.protocol import messages as m
from cloudclaude.background.egress_watch import EgressWatch
from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import LiveSettings, Settings
from cloudclaude.domain.egress_check import judge, udp_step
from cloudclaude.model.exits import Exit, ExitRef
from cloudclaude.model.hosts import Host, HostAction
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

    async def verify_egress(
        self, host_id: str, *, url: str, dns_name: str, timeout_s: float
    ) -> m.VerifyReply:
        raise AssertionError("no exit is checked without exits")


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

    async def running_hosts(self) -> list[Host]:
        return []


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


def test_the_exit_tests_udp_step_is_advice_never_a_failure_of_the_exit() -> None:
    socks = m.ExitSpec(kind="socks5", server="198.18.2.1", port=1080, dns_server="198.18.1.53")
    carried = m.VerifyReply(id=1, udp_checked=True, udp_answers=["198.18.2.1"])
    lost = m.VerifyReply(id=1, udp_checked=True, udp_error="no answer in 5.0s")
    step = udp_step(carried, socks)
    assert step.ok and "198.18.2.1" in step.detail and step.failure == ""
    step = udp_step(lost, socks)
    assert not step.ok and "set udp: false" in step.detail and step.failure == ""
    step = udp_step(lost, attrs.evolve(socks, udp=False))
    assert not step.ok and "refused at the gateway and counted" in step.detail
    step = udp_step(carried, attrs.evolve(socks, udp=False))
    assert step.ok and "udp: false" in step.detail
    http = udp_step(m.VerifyReply(id=1), attrs.evolve(socks, kind="http"))
    assert not http.ok and "http exit" in http.detail
    assert "not checked" in udp_step(m.VerifyReply(id=1), socks).detail


@attrs.define
class ExitAgent:
    """Gateways up for ``up``; each check answers as the exit does now (``answering``)."""

    up: set[str]
    answering: bool = True
    checked: list[str] = attrs.field(factory=list)

    async def list_gateways(self) -> m.GatewayList:
        states = [m.EgressState(host_id=h, exists=True, running=True) for h in sorted(self.up)]
        return m.GatewayList(id=1, gateways=states)

    async def egress_counters(self) -> dict[str, int]:
        return {}

    async def verify_egress(
        self, host_id: str, *, url: str, dns_name: str, timeout_s: float
    ) -> m.VerifyReply:
        self.checked.append(host_id)
        if not self.answering:
            return m.VerifyReply(id=1, http_error="ConnectionResetError", dns_error="no answer")
        return good()


@attrs.define
class ExitHosts(FakeHosts):
    hosts: list[Host] = attrs.field(factory=list)
    degraded: list[tuple[uuid.UUID, str]] = attrs.field(factory=list)

    async def mark_degraded(self, host_id: uuid.UUID, code: str, message: str) -> bool:
        self.degraded.append((host_id, code))
        return True

    async def running_hosts(self) -> list[Host]:
        return self.hosts


@attrs.define
class FakeExits:
    exit_: Exit
    recorded: list[bool] = attrs.field(factory=list)

    async def get(self, exit_id: uuid.UUID) -> Exit:
        assert exit_id == self.exit_.id
        return self.exit_

    async def record_verification(self, exit_id: uuid.UUID, ok: bool, detected_ip: str) -> None:
        self.recorded.append(ok)


def an_exit() -> Exit:
    now = dt.datetime.now(dt.UTC)
    return Exit(
        id=uuid.uuid4(),
        label="socks",
        kind="socks5",
        server="198.18.2.1",
        port=1080,
        expected_ip="198.18.2.1",
        dns_server="198.18.1.53",
        configured_resolvers=None,
        verify_url=URL,
        verify_dns_name=NAME,
        created_at=now,
        updated_at=now,
    )


def a_host(exit_: Exit | None, status: str = "running", code: str | None = None) -> Host:
    now = dt.datetime.now(dt.UTC)
    ref = None
    if exit_ is not None:
        ref = ExitRef(id=exit_.id, label=exit_.label, kind=exit_.kind, verified=exit_.verified)
    return Host(
        id=uuid.uuid4(),
        short_id="h1",
        user_id=uuid.uuid4(),
        status=status,  # type: ignore[arg-type]
        desired_state="running",
        cpus=1.0,
        memory_mb=512,
        pids=100,
        disk_gb=1,
        error_code=code,
        error_message=None,
        image_ref=None,
        timezone="UTC",
        box_public_key=None,
        last_activity_at=None,
        last_used_at=None,
        idle_stop_after_s=None,
        created_at=now,
        updated_at=now,
        egress=ref,
    )


def exit_watch(
    hosts: list[Host], up: list[Host], exit_: Exit
) -> tuple[EgressWatch, ExitAgent, ExitHosts, FakeExits]:
    agent = ExitAgent(up={str(host.id) for host in up})
    handler = ExitHosts(running=set(), hosts=hosts)
    exits = FakeExits(exit_)
    watch = EgressWatch(agent, handler, LiveSettings(Settings()), trio.Event(), exits=exits)
    return watch, agent, handler, exits


async def test_an_exit_that_stops_answering_degrades_its_running_hosts_with_net_004() -> None:
    exit_ = an_exit()
    first, second = a_host(exit_), a_host(exit_)
    elsewhere = a_host(None)  # no exit: nothing to check
    watch, agent, hosts, exits = exit_watch([first, second, elsewhere], [first, second], exit_)
    assert await watch.check_exits_once() == {exit_.id: True}
    assert len(agent.checked) == 1  # one check per exit, through one of its hosts
    assert hosts.degraded == [] and hosts.actions == [] and exits.recorded == []
    agent.answering = False
    assert await watch.check_exits_once() == {exit_.id: False}
    assert hosts.degraded == [(first.id, "NET_004"), (second.id, "NET_004")]
    assert await watch.check_exits_once() == {exit_.id: False}
    assert exits.recorded == [False]  # the exit's failure is recorded once


async def test_hosts_degraded_by_their_exit_are_verified_again_once_it_answers() -> None:
    exit_ = an_exit()
    down = a_host(exit_, "degraded", "NET_004")
    tripped = a_host(exit_, "degraded", "NET_007")  # the kill switch's own verify handles it
    watch, _agent, hosts, _ = exit_watch([down, tripped], [down, tripped], exit_)
    assert await watch.check_exits_once() == {exit_.id: True}
    assert hosts.actions == [(down.id, "verify_egress", "egress.exit.recovered")]
    assert hosts.degraded == []


async def test_an_exit_is_not_judged_without_a_host_whose_gateway_is_up() -> None:
    exit_ = an_exit()
    host = a_host(exit_)
    watch, agent, hosts, _ = exit_watch([host], [], exit_)
    agent.answering = False
    assert await watch.check_exits_once() == {}
    assert agent.checked == [] and hosts.degraded == []
    unverified = attrs.evolve(exit_, verify_url=None, verify_dns_name=None)
    watch, agent, hosts, _ = exit_watch([a_host(unverified)], [], unverified)
    assert await watch.check_exits_once() == {} and agent.checked == []


async def test_without_exits_only_the_kill_switch_is_watched() -> None:
    exit_ = an_exit()
    agent = ExitAgent(up=set(), answering=False)
    watch = EgressWatch(
        agent,
        ExitHosts(running=set(), hosts=[a_host(exit_)]),
        LiveSettings(Settings()),
        trio.Event(),
    )
    assert await watch.check_exits_once() == {} and agent.checked == []


async def test_the_running_watch_checks_exits_every_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    exit_ = an_exit()
    host = a_host(exit_)
    stopping = trio.Event()
    watch, agent, hosts, _ = exit_watch([host], [host], exit_)
    watch.stopping = stopping
    agent.answering = False
    async with trio.open_nursery() as nursery:
        await nursery.start(watch.run)
        with trio.fail_after(60):  # virtual time (autojump): 30 watch intervals
            while not hosts.degraded:
                await trio.sleep(0.1)
        stopping.set()
    assert hosts.degraded[0] == (host.id, "NET_004")
    assert len(agent.checked) >= 1
