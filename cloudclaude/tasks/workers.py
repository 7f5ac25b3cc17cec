"""Task workers: a supervised component that claims tasks from Postgres and runs them.

Workers wake on ``LISTEN/NOTIFY`` (a dedicated listener connection that reconnects), on a slow
poll as a fallback, and when a task finishes. A running task's lease is renewed every third of
``tasks.lease_s``; the renewal also carries an admin's cancel. A retryable failure goes back to
``pending`` with a doubling delay until ``max_attempts``; a final one records its registry code
on the task and the host. On shutdown a task in flight is handed back at once (``pending``), so
the next daemon continues it; a daemon killed outright loses it only until its lease runs out.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid

import structlog
import trio

from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import Agent
from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import LiveSettings
from cloudclaude.db.errors import DatabaseError
from cloudclaude.db.listener import Listener
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import tasks as tasks_repo
from cloudclaude.domain import audit, host_states
from cloudclaude.errors import CloudClaudeError, state, system
from cloudclaude.model.audit import SYSTEM
from cloudclaude.model.hosts import HostStatus
from cloudclaude.model.tasks import Task
from cloudclaude.tasks.context import TaskCanceled, TaskContext, failure_code
from cloudclaude.tasks.egress_step import EgressStep, ExitLookup, GatewayReady
from cloudclaude.tasks.host_ops import HostOps

log = structlog.get_logger(component="tasks")


class TaskWorkers:
    name = "tasks"

    def __init__(
        self,
        db: Database,
        agent: Agent,
        live: LiveSettings,
        metrics: Metrics,
        stopping: trio.Event,
        exits: ExitLookup | None = None,
        gateway_ready: GatewayReady | None = None,
    ) -> None:
        self.db = db
        self.live = live
        self.metrics = metrics
        self.stopping = stopping
        self.ops = HostOps(
            agent, live.current.tasks, EgressStep(agent, exits, live, metrics, gateway_ready)
        )
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._work = trio.Event()
        self.listener = Listener(db.url, tasks_repo.CHANNEL, self._notified)

    def _notified(self, _payload: str) -> None:
        self._token.run_sync_soon(self.wake)

    def wake(self) -> None:
        """Wake every idle worker (a task was queued, or one finished)."""
        self._work.set()
        self._work = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        settings = self.live.current.tasks
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            await nursery.start(self.listener.run)
            nursery.start_soon(self._poll)
            for index in range(settings.workers):
                nursery.start_soon(self._worker, index)
            task_status.started()
            await self.stopping.wait()
            nursery.cancel_scope.cancel()

    async def _poll(self) -> None:
        while True:
            await trio.sleep(self.live.current.tasks.poll_s)
            self.wake()

    async def _worker(self, index: int) -> None:
        while True:
            work = self._work  # taken before claiming, so a wake in between is not missed
            try:
                ran = await self.run_one()
            except DatabaseError as exc:
                log.warning("task_claim_failed", worker=index, error=str(exc))
                ran = False
            if not ran:
                await work.wait()

    async def run_one(self) -> bool:
        """Claim and run one task; False when none was runnable."""
        settings = self.live.current.tasks
        claimed = await tasks_repo.claim(self.db, self.owner, settings.lease_s)
        if claimed is None:
            return False
        task = claimed.task
        bound = log.bind(task_id=str(task.id), host_id=str(task.host_id), kind=task.kind)
        if claimed.reclaimed:
            bound.warning("task_reclaimed", attempt=task.attempt)
            await audit.record(
                self.db,
                "reconcile.task.stale",
                SYSTEM,
                host_id=task.host_id,
                task_id=str(task.id),
                kind=task.kind,
                attempt=task.attempt,
            )
        await self._run(task, bound)
        self.wake()  # another worker may find more work now
        return True

    async def _run(self, task: Task, bound: structlog.typing.FilteringBoundLogger) -> None:
        ctx = TaskContext(task, self.db, self.owner)
        started = time.monotonic()
        outcome = "handed_back"
        failure: Exception | None = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._renew, ctx, nursery.cancel_scope)
                try:
                    await self.ops.pipeline(task.kind)(ctx)
                except Exception as exc:  # noqa: BLE001 (recorded below, never lost)
                    failure = exc
                nursery.cancel_scope.cancel()
            outcome = await self._settle(ctx, failure, bound)
        finally:
            if outcome == "handed_back":  # the daemon is stopping: the next one continues
                with trio.CancelScope(shield=True), trio.move_on_after(5):
                    await tasks_repo.retry_later(
                        self.db,
                        task.id,
                        self.owner,
                        0,
                        system.DAEMON_UNREACHABLE.code,
                        "the daemon stopped",
                    )
            elapsed = time.monotonic() - started
            self.metrics.task_duration.labels(task.kind, outcome).observe(elapsed)
            bound.info("task_done", outcome=outcome, seconds=round(elapsed, 3))

    async def _settle(
        self,
        ctx: TaskContext,
        failure: Exception | None,
        bound: structlog.typing.FilteringBoundLogger,
    ) -> str:
        task = ctx.task
        if ctx.lease_lost:
            return "lost"
        if failure is None:
            await tasks_repo.finish(self.db, task.id, self.owner, "succeeded")
            return "succeeded"
        try:
            if isinstance(failure, TaskCanceled):
                await self._settle_host(ctx)
                await tasks_repo.finish(
                    self.db,
                    task.id,
                    self.owner,
                    "canceled",
                    state.TASK_CANCELED.code,
                    "canceled by an admin",
                )
                return "canceled"
            return await self._failed(ctx, failure, bound)
        except host_states.LeaseLost:
            return "lost"

    async def _failed(
        self, ctx: TaskContext, exc: Exception, bound: structlog.typing.FilteringBoundLogger
    ) -> str:
        task = ctx.task
        code, message, retryable = failure_code(exc)
        settings = self.live.current.tasks
        attempts = min(task.max_attempts, settings.max_attempts)
        if retryable and task.attempt < attempts:
            delay = settings.retry_base_s * 2 ** (task.attempt - 1)
            bound.warning("task_retry", code=code, error=message, retry_in_s=delay)
            await tasks_repo.retry_later(self.db, task.id, self.owner, delay, code, message)
            return "retry"
        bound.error(
            "task_failed", code=code, error=message, exc_info=code == system.INTERNAL_ERROR.code
        )
        if task.host_id is not None:
            # A failed delete or re-verification leaves the status as it is, with the reason.
            status: HostStatus | None = (
                None if task.kind in ("delete", "verify_egress") else "failed"
            )
            with contextlib.suppress(CloudClaudeError):  # the host went away meanwhile
                await ctx.set_host(status, error_code=code, error_message=message)
        await tasks_repo.finish(self.db, task.id, self.owner, "failed", code, message[:2000])
        return "failed"

    async def _settle_host(self, ctx: TaskContext) -> None:
        """After a cancel, the host's status says what the agent sees."""
        host_id = ctx.task.host_id
        if host_id is None:
            return
        try:
            state = await self.ops.agent.inspect_host(str(host_id))
        except AgentError as exc:  # the status stays as it was; the reconciler looks again
            log.warning("settle_failed", host_id=str(host_id), error=repr(exc))
            return
        status: HostStatus = (
            "running" if state.running else "stopped" if state.exists else "pending"
        )
        with contextlib.suppress(CloudClaudeError):  # deleted meanwhile: nothing to settle
            await ctx.set_host(status)

    async def _renew(self, ctx: TaskContext, scope: trio.CancelScope) -> None:
        settings = self.live.current.tasks
        while True:
            await trio.sleep(settings.lease_s / 3)
            try:
                cancel = await tasks_repo.renew(self.db, ctx.task.id, self.owner, settings.lease_s)
            except DatabaseError as exc:
                log.warning("lease_renew_failed", task_id=str(ctx.task.id), error=str(exc))
                continue
            if cancel is None:  # another worker took it over: stop without touching it
                ctx.lease_lost = True
                scope.cancel()
                return
            ctx.cancel_requested = cancel
