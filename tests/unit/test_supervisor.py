"""The supervisor (cloudclaude/app/supervisor.py): start order, READY, fail-fast, graceful stop.

Timed tests use ``autojump_clock`` with fake components only; the signal tests use the real
clock because they deliver real signals to this process.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import pytest
import trio
import trio.testing

from cloudclaude.app.supervisor import Component, ComponentExited, Supervisor
from cloudclaude.core.settings import SettingsDiff, SettingsError
from cloudclaude.core.status import StatusBoard
from tests.fakes.components import (
    CrashingComponent,
    ExitingComponent,
    FailingStartComponent,
    FakeComponent,
    FakeNotify,
    StubbornComponent,
)

# Product bug: Supervisor._run_one catches ``trio.Cancelled`` around an inner nursery, but the
# nursery re-raises the cancellation wrapped in a BaseExceptionGroup, so that branch never runs.


class Harness:
    """A supervisor wired to fakes: a shared journal, a fake notify, a ready event."""

    def __init__(self) -> None:
        self.journal: list[str] = []
        self.stopping = trio.Event()
        self.notify = FakeNotify(self.journal)
        self.status = StatusBoard()
        self.ready = trio.Event()
        self.ready_calls = 0

    def _on_ready(self) -> None:
        self.ready_calls += 1
        self.ready.set()

    def component(self, name: str, **kwargs: float) -> FakeComponent:
        return FakeComponent(name, self.journal, self.stopping, **kwargs)

    def supervisor(self, components: Sequence[Component], grace_s: float = 5.0) -> Supervisor:
        return Supervisor(
            components,
            grace_s=grace_s,
            status=self.status,
            stopping=self.stopping,
            notify=self.notify,
            on_ready=self._on_ready,
        )


@pytest.fixture
def h() -> Harness:
    return Harness()


async def serve_until_ready_then_stop(h: Harness, sup: Supervisor) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(sup.serve, handle_signals=False))
        await h.ready.wait()
        sup.stop("test")


async def test_components_start_one_after_another_in_order(
    h: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    components = [
        h.component("db", startup_s=1),
        h.component("web", startup_s=1),
        h.component("ctl"),
    ]
    await serve_until_ready_then_stop(h, h.supervisor(components))
    started = [e for e in h.journal if e.startswith(("enter:", "started:"))]
    assert started == [
        "enter:db",
        "started:db",
        "enter:web",
        "started:web",
        "enter:ctl",
        "started:ctl",
    ]


async def test_ready_notified_once_after_all_started(
    h: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    components = [h.component("a", startup_s=1), h.component("b", startup_s=2)]
    await serve_until_ready_then_stop(h, h.supervisor(components))
    assert h.notify.sent("READY=1") == 1
    index = next(i for i, call in enumerate(h.notify.calls) if "READY=1" in call)
    assert {"started:a", "started:b"} <= set(h.notify.journal_at_call[index])
    assert any(line.startswith("STATUS=serving") for line in h.notify.calls[index])
    assert h.ready_calls == 1


async def test_status_board_shows_running_while_serving(
    h: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    sup = h.supervisor([h.component("a"), h.component("b")])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(sup.serve, handle_signals=False))
        await h.ready.wait()
        assert h.status.components == {"a": "running", "b": "running"}
        sup.stop("test")
    assert h.status.components == {"a": "stopped", "b": "stopped"}


async def test_crash_after_start_fails_the_tree(
    h: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    crasher = CrashingComponent("bad", h.journal, h.stopping, crash_after_s=3)
    sup = h.supervisor([h.component("a"), crasher, h.component("c")])
    with pytest.RaisesGroup(
        pytest.RaisesExc(RuntimeError, match="bad crashed"), flatten_subgroups=True
    ):
        await sup.serve(handle_signals=False)
    assert h.status.components["bad"] == "failed"
    assert trio.current_time() == pytest.approx(3)


async def test_crash_marks_cancelled_siblings_stopped_not_failed(
    h: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    crasher = CrashingComponent("bad", h.journal, h.stopping, crash_after_s=3)
    sup = h.supervisor([h.component("a"), crasher])
    with pytest.RaisesGroup(RuntimeError, flatten_subgroups=True):
        await sup.serve(handle_signals=False)
    assert h.status.components == {"a": "stopped", "bad": "failed"}


async def test_crash_during_start_skips_later_components_and_ready(
    h: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    failing = FailingStartComponent("bad", h.journal, h.stopping)
    sup = h.supervisor([h.component("a"), failing, h.component("c")])
    with pytest.RaisesGroup(RuntimeError, flatten_subgroups=True):
        await sup.serve(handle_signals=False)
    assert "enter:c" not in h.journal
    assert h.status.components["bad"] == "failed"
    assert h.notify.sent("READY=1") == 0
    assert h.ready_calls == 0


async def test_component_returning_early_raises_component_exited(
    h: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    sup = h.supervisor([h.component("a"), ExitingComponent("quitter", h.journal, h.stopping)])
    with pytest.RaisesGroup(
        pytest.RaisesExc(ComponentExited, match="quitter"), flatten_subgroups=True
    ):
        await sup.serve(handle_signals=False)
    assert h.status.components["quitter"] == "failed"


async def test_stop_drains_components_that_return(
    h: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    sup = h.supervisor([h.component("a"), h.component("b", shutdown_s=2)], grace_s=5)
    await serve_until_ready_then_stop(h, sup)
    assert sup.drain_cut_short is False
    assert {"stopped:a", "stopped:b"} <= set(h.journal)
    assert trio.current_time() == pytest.approx(2)
    assert h.notify.sent("STOPPING=1") == 1
    assert h.status.components == {"a": "stopped", "b": "stopped"}


async def test_stop_cancels_component_ignoring_it_after_grace(
    h: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    stubborn = StubbornComponent("stubborn", h.journal, h.stopping)
    sup = h.supervisor([h.component("a"), stubborn], grace_s=7)
    await serve_until_ready_then_stop(h, sup)
    assert "cancelled:stubborn" in h.journal
    assert "stopped:a" in h.journal
    assert trio.current_time() == pytest.approx(7)


async def test_cancel_after_grace_sets_drain_cut_short(
    h: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    stubborn = StubbornComponent("stubborn", h.journal, h.stopping)
    sup = h.supervisor([stubborn], grace_s=7)
    await serve_until_ready_then_stop(h, sup)
    assert sup.drain_cut_short is True


async def test_cancel_after_grace_marks_component_stopped(
    h: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    stubborn = StubbornComponent("stubborn", h.journal, h.stopping)
    sup = h.supervisor([stubborn], grace_s=7)
    await serve_until_ready_then_stop(h, sup)
    assert h.status.components["stubborn"] == "stopped"


async def test_stop_is_idempotent(h: Harness, autojump_clock: trio.testing.MockClock) -> None:
    sup = h.supervisor([h.component("a")])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(sup.serve, handle_signals=False))
        await h.ready.wait()
        sup.stop("first")
        sup.stop("second")
    assert h.notify.sent("STOPPING=1") == 1


async def test_stop_during_startup_skips_rest_and_ready(
    h: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    sup = h.supervisor([h.component("slow", startup_s=5), h.component("later")], grace_s=10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(sup.serve, handle_signals=False))
        await trio.sleep(1)
        sup.stop("test")
    assert "enter:later" not in h.journal
    assert "stopped:slow" in h.journal
    assert h.notify.sent("READY=1") == 0
    assert sup.drain_cut_short is False


async def test_sigterm_stops_serve_cleanly(h: Harness) -> None:
    sup = h.supervisor([h.component("a")], grace_s=5)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(sup.serve, handle_signals=True))
            await h.ready.wait()
            os.kill(os.getpid(), signal.SIGTERM)
    assert h.stopping.is_set()
    assert sup.drain_cut_short is False
    assert "stopped:a" in h.journal
    stopping_call = next(call for call in h.notify.calls if "STOPPING=1" in call)
    assert any("SIGTERM" in line for line in stopping_call)


async def _serve_through_one_sighup(
    h: Harness, reload: Callable[[], Awaitable[SettingsDiff]], reloaded: list[int]
) -> Supervisor:
    """Serve with real signal handling, send SIGHUP, wait for ``reload`` to run, then stop."""
    sup = Supervisor(
        [h.component("a")],
        grace_s=5,
        status=h.status,
        stopping=h.stopping,
        reload=reload,
        notify=h.notify,
        on_ready=h.ready.set,
    )
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(sup.serve, handle_signals=True))
            await h.ready.wait()
            os.kill(os.getpid(), signal.SIGHUP)
            while not reloaded:
                await trio.sleep(0.01)
            await trio.testing.wait_all_tasks_blocked()
            assert not h.stopping.is_set()
            assert h.status.components["a"] == "running"
            sup.stop("test")
    return sup


async def test_sighup_reloads_and_keeps_serving(h: Harness) -> None:
    reloads: list[int] = []

    async def reload() -> SettingsDiff:
        await trio.lowlevel.checkpoint()
        reloads.append(1)
        return SettingsDiff(applied=("log.level",), needs_restart=())

    await _serve_through_one_sighup(h, reload, reloads)
    assert h.notify.sent("RELOADING=1") == 1
    assert h.notify.sent("READY=1") == 2


async def test_rejected_reload_does_not_stop_serving(h: Harness) -> None:
    attempts: list[int] = []

    async def reload() -> SettingsDiff:
        await trio.lowlevel.checkpoint()
        attempts.append(1)
        raise SettingsError("unknown config key 'web.portt'")

    sup = await _serve_through_one_sighup(h, reload, attempts)
    assert h.notify.sent("READY=1") == 2
    assert sup.drain_cut_short is False
