"""The stats sampler with fakes: bounded history per running host, stopped hosts dropped,
agent errors and silence survived."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from pathlib import Path

import trio
import trio.testing

from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentError
from cloudclaude.background.host_stats import StatsSampler
from cloudclaude.core.settings import LiveSettings, ScannerSettings, Settings
from cloudclaude.domain.host_usage import HostUsage, UsageSample, server_capacity
from cloudclaude.model.hosts import Host
from tests.unit.test_idle import host

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class FakeHosts:
    def __init__(self, hosts: list[Host]) -> None:
        self.hosts = hosts

    async def running_hosts(self) -> Sequence[Host]:
        return list(self.hosts)


class FakeAgent:
    def __init__(self) -> None:
        self.failing: set[str] = set()
        self.hanging: set[str] = set()
        self.asked: list[str] = []

    async def host_stats(self, host_id: str) -> m.StatsReply:
        self.asked.append(host_id)
        if host_id in self.failing:
            raise AgentError("HOST_002", "host is not running")
        if host_id in self.hanging:
            await trio.sleep_forever()
        return m.StatsReply(
            id=0,
            cpu_percent=50.0,
            memory_bytes=100,
            memory_limit_bytes=1000,
            pids=3,
            disk_used_bytes=10,
            disk_total_bytes=20,
        )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


def live(period_s: float = 30) -> LiveSettings:
    return LiveSettings(Settings(scanners=ScannerSettings(stats_period_s=period_s)))


def sampler(
    hosts: list[Host], usage: HostUsage | None = None
) -> tuple[StatsSampler, FakeAgent, Clock]:
    agent, clock = FakeAgent(), Clock()
    return (
        StatsSampler(
            FakeHosts(hosts), agent, usage or HostUsage(), live(), trio.Event(), clock=clock
        ),
        agent,
        clock,
    )


def sample(at: dt.datetime) -> UsageSample:
    return UsageSample(at=at, cpu_percent=1, memory_bytes=1, memory_limit_bytes=2)


async def test_each_running_host_gets_a_sample_with_its_values() -> None:
    a, b = host(), host()
    scanner, _agent, _clock = sampler([a, b])
    assert await scanner.sample_once() == 2
    latest = scanner.usage.latest(a.id)
    assert latest is not None and latest.at == T0
    assert (latest.cpu_percent, latest.memory_bytes, latest.disk_used_bytes) == (50.0, 100, 10)
    assert set(scanner.usage.hosts()) == {a.id, b.id}


async def test_a_host_that_stopped_is_dropped() -> None:
    a, b = host(), host()
    scanner, _agent, _clock = sampler([a, b])
    await scanner.sample_once()
    assert isinstance(scanner.store, FakeHosts)
    scanner.store.hosts = [b]
    await scanner.sample_once()
    assert scanner.usage.hosts() == [b.id]
    assert scanner.usage.history(a.id) == ()


async def test_agent_errors_cost_one_sample_not_the_round() -> None:
    a, b = host(), host()
    scanner, agent, _clock = sampler([a, b])
    agent.failing.add(str(a.id))
    assert await scanner.sample_once() == 1
    assert scanner.usage.latest(a.id) is None and scanner.usage.latest(b.id) is not None


async def test_a_silent_agent_is_given_up_on_after_one_period(
    autojump_clock: trio.testing.MockClock,
) -> None:
    a, b = host(), host()
    scanner, agent, _clock = sampler([a, b])
    agent.hanging.add(str(a.id))
    start = trio.current_time()
    assert await scanner.sample_once() == 1
    assert trio.current_time() - start == 30


async def test_history_keeps_only_the_window() -> None:
    usage, h = HostUsage(window_s=3600), uuid.uuid4()
    for minute in range(0, 121, 1):
        usage.record(h, sample(T0 + dt.timedelta(minutes=minute)))
    history = usage.history(h)
    assert history[0].at == T0 + dt.timedelta(minutes=60)
    assert history[-1].at == T0 + dt.timedelta(minutes=120)


async def test_history_is_capped_whatever_the_period() -> None:
    usage, h = HostUsage(max_samples=10), uuid.uuid4()
    for second in range(100):
        usage.record(h, sample(T0 + dt.timedelta(seconds=second)))
    assert len(usage.history(h)) == 10
    assert usage.history(h)[-1].at == T0 + dt.timedelta(seconds=99)


async def test_the_sampler_runs_each_period_until_stopped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    a = host()
    scanner, agent, _clock = sampler([a])
    async with trio.open_nursery() as nursery:
        await nursery.start(scanner.run)
        await trio.sleep(95)
        scanner.stopping.set()
    assert len(agent.asked) == 4  # at 0, 30, 60 and 90 s


def test_totals_sum_limits_and_latest_use() -> None:
    usage, a, b = HostUsage(), host(cpus=2, memory_mb=1024), host(cpus=1, memory_mb=512)
    usage.record(a.id, UsageSample(at=T0, cpu_percent=150, memory_bytes=10, memory_limit_bytes=0))
    totals = usage.totals([a, b])
    assert (totals.running, totals.sampled) == (2, 1)
    assert totals.cpus_limit == 3 and totals.memory_limit_bytes == 1536 * 1024 * 1024
    assert totals.cpu_used == 1.5 and totals.memory_used_bytes == 10


def test_server_capacity_reads_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16384 kB\nMemFree:  1 kB\n")
    assert server_capacity(meminfo).memory_bytes == 16384 * 1024
    assert server_capacity(meminfo.with_name("absent")).memory_bytes == 0
    assert server_capacity(meminfo).cpus >= 1


def test_the_agent_reads_disk_use_only_of_a_mounted_image(tmp_path: Path) -> None:
    from agent.ops.volumes import _usage

    assert _usage(tmp_path / "absent.disk") == (0, 0)  # not a mount: not the host's disk
    used, total = _usage(Path("/"))
    assert 0 < used <= total
