"""The idle rule with fakes: user input and CPU burnt keep a host up, silence stops it, 0 never."""

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
SETTINGS = ScannerSettings(
    idle_stop_after_s=300, idle_period_s=60, idle_box_cpu_s=1.0, idle_claude_cpu_s=0.5
)
STARTED = "2026-01-01T00:00:00.000000000Z"


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


def signals(box: float = 0, claude: float = 0, started_at: str = STARTED) -> m.ActivityReply:
    return m.ActivityReply(
        id=0, started_at=started_at, cpu_s=box, claude_cpu_s=claude, claude_processes=1
    )


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_silence_past_the_limit_stops() -> None:
    assert not decide(host(), signals(), signals(), at(299), SETTINGS).stop
    assert decide(host(), signals(), signals(), at(300), SETTINGS).stop


def test_user_input_stamped_by_the_proxy_keeps_the_host_up() -> None:
    verdict = decide(host(last_activity_at=at(200)), signals(), signals(), at(400), SETTINGS)
    assert verdict.last_activity_at == at(200) and not verdict.stop


def test_the_box_burning_cpu_keeps_the_host_up() -> None:
    busy = decide(host(), signals(box=11.0), signals(box=10.0), at(400), SETTINGS)
    assert busy.last_activity_at == at(400) and not busy.stop
    quiet = decide(host(), signals(box=10.9), signals(box=10.0), at(400), SETTINGS)
    assert quiet.stop  # sshd and tmux ticking over are not use


def test_claude_using_cpu_keeps_the_host_up() -> None:
    working = signals(box=10.6, claude=10.6)
    verdict = decide(host(), working, signals(box=10.0, claude=10.0), at(400), SETTINGS)
    assert verdict.last_activity_at == at(400) and not verdict.stop
    waiting = signals(box=10.1, claude=10.1)
    idle_claude = decide(host(), waiting, signals(box=10.0, claude=10.0), at(400), SETTINGS)
    assert idle_claude.stop  # a process that sits there is not activity


def test_counters_of_another_container_start_are_not_compared() -> None:
    restarted = signals(box=50.0, claude=50.0, started_at="2026-01-01T00:05:00Z")
    assert decide(host(), restarted, signals(), at(400), SETTINGS).stop
    assert decide(host(), signals(box=50.0), None, at(400), SETTINGS).stop  # a first look


def test_zero_disables_and_the_host_override_wins() -> None:
    assert not decide(host(idle_stop_after_s=0), signals(), None, at(10**6), SETTINGS).stop
    never = attrs.evolve(SETTINGS, idle_stop_after_s=0)
    assert not decide(host(), signals(), None, at(10**6), never).stop
    assert decide(host(idle_stop_after_s=60), signals(), None, at(61), never).stop


def test_without_signals_the_known_activity_decides() -> None:
    assert not decide(host(), None, None, at(100), SETTINGS).stop
    assert decide(host(), None, None, at(300), SETTINGS).stop


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
    """The box burns CPU in ``busy`` hosts, Claude Code in ``working``; others are silent."""

    busy: set[str]
    working: set[str]
    hung: set[str] = attrs.Factory(set)
    cpu: float = 0.0

    async def host_activity(self, host_id: str) -> m.ActivityReply:
        if host_id in self.hung:
            await trio.sleep_forever()
        self.cpu += 1.0
        return signals(
            box=self.cpu if host_id in self.busy | self.working else 0.0,
            claude=self.cpu if host_id in self.working else 0.0,
        )


async def test_the_scanner_stops_only_the_silent_host(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limit = 300
    silent, busy, working, never = (host() for _ in range(4))
    never = attrs.evolve(never, idle_stop_after_s=0)
    store = FakeStore({h.id: h for h in (silent, busy, working, never)})
    agent = FakeAgent(busy={str(busy.id)}, working={str(working.id)})
    live = LiveSettings(Settings(scanners=attrs.evolve(SETTINGS, idle_stop_after_s=limit)))

    def clock() -> dt.datetime:
        return T0 + dt.timedelta(seconds=trio.current_time())

    stopping = trio.Event()
    scanner = IdleScanner(store, agent, live, stopping, clock=clock)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(scanner.run)
        await trio.sleep(limit + 2 * SETTINGS.idle_period_s)
        stopping.set()
    assert store.stopped == [silent.id]
    for kept in (busy, working):
        last = store.hosts[kept.id].last_activity_at
        assert last is not None and last > at(limit)


async def test_a_host_whose_look_hangs_does_not_stall_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hung, silent = host(), host()
    store = FakeStore({hung.id: hung, silent.id: silent})
    agent = FakeAgent(busy=set(), working=set(), hung={str(hung.id)})
    live = LiveSettings(Settings(scanners=SETTINGS))
    scanner = IdleScanner(store, agent, live, trio.Event(), clock=lambda: at(400))
    assert set(await scanner.scan_once()) == {hung.id, silent.id}  # no answer: what is known
