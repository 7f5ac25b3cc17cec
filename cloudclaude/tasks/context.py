"""What a running task may do: record stage events and progress, and notice a cancel.

Failures a task step raises are sorted here into retryable ones (the agent or the database is
away for a moment: the task runs again after a backoff) and final ones (a registry code is
recorded on the task and, for host operations, on the host).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from agent.protocol import messages as m
from cloudclaude.agent_client.client import AgentError
from cloudclaude.db.errors import DatabaseUnavailable
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import tasks as tasks_repo
from cloudclaude.domain import host_states
from cloudclaude.errors import CloudClaudeError, system
from cloudclaude.model.hosts import Host, HostStatus
from cloudclaude.model.tasks import Task

#: Agent codes that mean "try again later": agent, dockerd or a box port briefly away.
RETRYABLE_AGENT_CODES = frozenset({system.AGENT_UNAVAILABLE.code, system.DOCKER_UNAVAILABLE.code})


class TaskCanceled(Exception):
    """An admin canceled the running task; it stops at the next step."""


def failure_code(exc: BaseException) -> tuple[str, str, bool]:
    """``(registry code, message, retryable)`` for an exception a task step raised."""
    if isinstance(exc, AgentError):
        return exc.code, exc.message, exc.code in RETRYABLE_AGENT_CODES
    if isinstance(exc, DatabaseUnavailable):
        return system.DATABASE_UNAVAILABLE.code, str(exc), True
    if isinstance(exc, CloudClaudeError):
        return exc.error.code, exc.detail or exc.error.message, False
    return system.INTERNAL_ERROR.code, repr(exc), False


class TaskContext:
    def __init__(self, task: Task, db: Database, owner: str) -> None:
        self.task = task
        self.db = db
        #: What fences this task's writes to its host (see ``domain.host_states``).
        self.lease = host_states.Lease(task_id=task.id, owner=owner)
        self.cancel_requested = False
        #: Another worker reclaimed the task (our lease ran out): stop, touch nothing.
        self.lease_lost = False
        self._last_stage = ""

    @property
    def host_id(self) -> uuid.UUID:
        assert self.task.host_id is not None
        return self.task.host_id

    async def set_host(self, status: HostStatus | None = None, **fields: object) -> Host:
        """Write the task's host (and move its status) while this task holds its lease."""
        try:
            return await host_states.by_task(self.db, self.lease, self.host_id, status, **fields)
        except host_states.LeaseLost:
            self.lease_lost = True
            raise

    def check_cancel(self) -> None:
        if self.cancel_requested:
            raise TaskCanceled(f"task {self.task.id} was canceled")

    async def event(self, code: str, message: str = "", percent: int | None = None) -> None:
        """A stage reached: an ordered ``task_events`` row (and progress, if given)."""
        self.check_cancel()
        await tasks_repo.add_event(self.db, self.task.id, code, message)
        if percent is not None:
            await tasks_repo.set_progress(self.db, self.task.id, percent, message or code)

    async def progress(self, percent: int, message: str) -> None:
        await tasks_repo.set_progress(self.db, self.task.id, percent, message)

    def agent_progress(self, base: int, span: int) -> Callable[[m.Progress], Awaitable[None]]:
        """Forward an agent's progress: each new stage becomes an event, the rest progress."""

        async def forward(progress: m.Progress) -> None:
            percent = base + span * max(0, min(progress.percent, 100)) // 100
            if progress.stage != self._last_stage and progress.stage.endswith(
                (".ready", ".created")
            ):
                self._last_stage = progress.stage
                await self.event(progress.stage, progress.message, percent)
            else:
                await self.progress(percent, f"{progress.stage}: {progress.message}")

        return forward
