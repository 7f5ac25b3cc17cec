"""Fake supervised components and a fake sd_notify for supervisor tests.

Every fake appends ``"<event>:<name>"`` to a shared ``journal`` list so tests can check the
order in which components were entered, started and stopped.
"""

from __future__ import annotations

import trio


class FakeNotify:
    """Records each ``notify(*lines)`` call and what the journal held at that moment."""

    def __init__(self, journal: list[str] | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.journal_at_call: list[list[str]] = []
        self._journal = journal if journal is not None else []

    def __call__(self, *lines: str) -> bool:
        self.calls.append(lines)
        self.journal_at_call.append(list(self._journal))
        return True

    def sent(self, line: str) -> int:
        """How many calls carried ``line``."""
        return sum(line in call for call in self.calls)


class FakeComponent:
    """Takes ``startup_s`` to start, serves until ``stopping``, then takes ``shutdown_s``."""

    def __init__(
        self,
        name: str,
        journal: list[str],
        stopping: trio.Event,
        *,
        startup_s: float = 0.0,
        shutdown_s: float = 0.0,
    ) -> None:
        self.name = name
        self.journal = journal
        self.stopping = stopping
        self.startup_s = startup_s
        self.shutdown_s = shutdown_s

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.journal.append(f"enter:{self.name}")
        await trio.sleep(self.startup_s)
        self.journal.append(f"started:{self.name}")
        task_status.started()
        await self.stopping.wait()
        await trio.sleep(self.shutdown_s)
        self.journal.append(f"stopped:{self.name}")


class StubbornComponent(FakeComponent):
    """Ignores ``stopping``: only cancellation ends it."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.journal.append(f"started:{self.name}")
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            self.journal.append(f"cancelled:{self.name}")


class CrashingComponent(FakeComponent):
    """Starts, serves for ``crash_after_s``, then raises ``RuntimeError``."""

    def __init__(
        self, name: str, journal: list[str], stopping: trio.Event, *, crash_after_s: float = 1.0
    ) -> None:
        super().__init__(name, journal, stopping)
        self.crash_after_s = crash_after_s

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.journal.append(f"started:{self.name}")
        task_status.started()
        await trio.sleep(self.crash_after_s)
        raise RuntimeError(f"{self.name} crashed")


class FailingStartComponent(FakeComponent):
    """Raises ``RuntimeError`` before it ever reports started."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.journal.append(f"enter:{self.name}")
        await trio.lowlevel.checkpoint()
        raise RuntimeError(f"{self.name} could not start")


class ExitingComponent(FakeComponent):
    """Starts, then returns at once although nobody asked it to stop."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.journal.append(f"started:{self.name}")
        task_status.started()
        await trio.lowlevel.checkpoint()
