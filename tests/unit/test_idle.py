"""The idle rule with fakes: each activity signal keeps a host up, silence stops it, 0 never."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import attrs
import trio
import trio.testing

from agent.protocol import messages as m
from cloudclaude.background.idle import IdleScanner, decide
from cloudclaude.core.settings import LiveSettings, ScannerSettings, Settings
from cloudclaude.model.hosts import Host

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SETTINGS = ScannerSettings(idle_stop_after_s=300, idle_period_s=60, idle_claude_cpu_s=0.5)


def host(**changes: object) -> Host:
    base = Host(
        id=uuid.uuid4(),
        short_id="abcd2345",
        user_id=uuid.uuid4(),
        status="running",
        desired_state="running",
        image_ref=None,
        cpus=1,
        memory_mb=512,
        pids=64,
        disk_gb=1,
        timezone="UTC",
        box_public_key=None,
        error_code=None,
        error_message=None,
        last_activity_at=T0,
        last_used_at=None,
        idle_stop_after_s=None,
        created_at=T0,
        updated_at=T0,
    )
    return attrs.evolve(base, **changes)  # type: ignore[arg-type]


def signals(tmux: float = 0, cpu: float = 0) -> m.ActivityReply:
    return m.ActivityReply(id=0, tmux_activity_at=tmux, tmux_clients=1, claude_cpu_s=cpu)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_silence_past_the_limit_stops() -> None:
    assert not decide(host(), signals(), 0.0, at(299), SETTINGS).stop
    assert decide(host(), signals(), 0.0, at(300), SETTINGS).stop


def test_tmux_input_keeps_the_host_up() -> None:
    typed = at(200).timestamp()
    verdict = decide(host(), signals(tmux=typed), None, at(400), SETTINGS)
    assert verdict.last_activity_at == at(200) and not verdict.stop


def test_claude_using_cpu_keeps_the_host_up() -> None:
    verdict = decide(host(), signals(cpu=10.6), 10.0, at(400), SETTINGS)
    assert verdict.last_activity_at == at(400) and not verdict.stop
    idle_claude = decide(host(), signals(cpu=10.1), 10.0, at(400), SETTINGS)
    assert idle_claude.stop  # a process that sits there is not activity


def test_zero_disables_and_the_host_override_wins() -> None:
    assert not decide(host(idle_stop_after_s=0), signals(), 0, at(10**6), SETTINGS).stop
    never = attrs.evolve(SETTINGS, idle_stop_after_s=0)
    assert not decide(host(), signals(), 0, at(10**6), never).stop
    assert decide(host(idle_stop_after_s=60), signals(), 0, at(61), never).stop


def test_without_signals_the_known_activity_decides() -> None:
    assert not decide(host(), None, None, at(100), SETTINGS).stop
    assert decide(host(), None, None, at(300), SETTINGS).stop


def test_an_open_but_silent_tmux_client_is_not_activity() -> None:
    attached_long_ago = at(-1000).timestamp()
    assert decide(host(), signals(tmux=attached_long_ago), 0, at(300), SETTINGS).stop


@attrs.define
class FakeStore:
    hosts: dict[uuid.UUID, Host]
    stopped: list[uuid.UUID] = attrs.Factory(list)

    async def running_hosts(self) -> Sequence[Host]:
        return [h for h in self.hosts.values() if h.status == "running"]

    async def touch_activity(self, host_id: uuid.UUID, when: dt.datetime) -> None:
        self.hosts[host_id] = attrs.evolve(self.hosts[host_id], last_activity_at=when)

    async def stop_idle(self, host_id: uuid.UUID, idle_s: float) -> bool:
        self.stopped.append(host_id)
        self.hosts[host_id] = attrs.evolve(self.hosts[host_id], status="stopped")
        return True


@attrs.define
class FakeAgent:
    """Claude works in ``busy``; ``typing`` hosts get tmux input every look; others are silent."""

    busy: set[str]
    typing: set[str]
    now: dt.datetime = T0
    cpu: float = 0.0

    async def host_activity(self, host_id: str) -> m.ActivityReply:
        self.cpu += 1.0
        tmux = self.now.timestamp() if host_id in self.typing else 0.0
        return signals(tmux=tmux, cpu=self.cpu if host_id in self.busy else 0.0)


async def test_the_scanner_stops_only_the_silent_host(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limit = 300
    silent, working, typing, never = (host() for _ in range(4))
    never = attrs.evolve(never, idle_stop_after_s=0)
    store = FakeStore({h.id: h for h in (silent, working, typing, never)})
    agent = FakeAgent(busy={str(working.id)}, typing={str(typing.id)})
    live = LiveSettings(Settings(scanners=attrs.evolve(SETTINGS, idle_stop_after_s=limit)))

    def clock() -> dt.datetime:
        agent.now = T0 + dt.timedelta(seconds=trio.current_time())
        return agent.now

    stopping = trio.Event()
    scanner = IdleScanner(store, agent, live, stopping, clock=clock)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(scanner.run)
        await trio.sleep(limit + 2 * SETTINGS.idle_period_s)
        stopping.set()
    assert store.stopped == [silent.id]
    for kept in (working, typing):
        last = store.hosts[kept.id].last_activity_at
        assert last is not None and last > at(limit)
