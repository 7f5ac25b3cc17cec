"""The durable task queue on a real Postgres: claims, leases, retries, cancel, one per host."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import attrs
import pytest
import trio

from cloudclaude.agent_client.handle import Agent
from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import LiveSettings, Settings, TaskSettings
from cloudclaude.db.errors import UniqueViolation
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.db.repos import tasks as tasks_repo
from cloudclaude.db.repos import users as users_repo
from cloudclaude.domain.host_specs import new_box_key_pair, new_short_id
from cloudclaude.model.hosts import HostLimits
from cloudclaude.model.tasks import Task
from cloudclaude.tasks.context import TaskContext
from cloudclaude.tasks.host_ops import HostOps, Pipeline
from cloudclaude.tasks.workers import TaskWorkers
from tests.polling import until


async def make_host(db: Database) -> uuid.UUID:
    user = await users_repo.insert(
        db,
        username=f"u{uuid.uuid4().hex[:8]}",
        password_hash="x",
        role="user",
        expires_at=None,
        max_hosts=5,
    )
    public, _ = new_box_key_pair()
    host = await hosts_repo.insert(
        db,
        short_id=new_short_id(),
        user_id=user.id,
        limits=HostLimits(),
        timezone="UTC",
        ssh_password_hash="x",
        box_public_key=public,
        box_private_key_enc=b"sealed",
    )
    return host.id


async def enqueue(db: Database, host_id: uuid.UUID, kind: str = "start") -> uuid.UUID:
    task = await tasks_repo.insert(
        db, host_id=host_id, kind=kind, params={}, requested_by=None, max_attempts=3
    )
    return task.id


async def test_one_active_task_per_host(db: Database) -> None:
    host = await make_host(db)
    await enqueue(db, host)
    with pytest.raises(UniqueViolation):
        await enqueue(db, host, "stop")


async def test_concurrent_claims_never_take_the_same_task(db: Database) -> None:
    for _ in range(6):
        await enqueue(db, await make_host(db))
    claimed: list[uuid.UUID] = []

    async def claimer(owner: str) -> None:
        while (got := await tasks_repo.claim(db, owner, 30)) is not None:
            claimed.append(got.task.id)

    async with trio.open_nursery() as nursery:
        for n in range(3):
            nursery.start_soon(claimer, f"w{n}")
    assert len(claimed) == 6 and len(set(claimed)) == 6


async def test_an_expired_lease_is_reclaimed_and_the_old_owner_loses_it(db: Database) -> None:
    task_id = await enqueue(db, await make_host(db))
    first = await tasks_repo.claim(db, "dead-worker", 0.2)
    assert first is not None and not first.reclaimed and first.task.attempt == 1
    assert await tasks_repo.claim(db, "other", 30) is None  # leased: not runnable
    with trio.fail_after(10):  # the lease runs out by itself: claim until it has
        second = await until(lambda: tasks_repo.claim(db, "other", 30))
    assert second.reclaimed and second.task.id == task_id
    assert second.task.attempt == 2
    assert await tasks_repo.renew(db, task_id, "dead-worker", 30) is None
    assert await tasks_repo.finish(db, task_id, "dead-worker", "succeeded") is None
    done = await tasks_repo.finish(db, task_id, "other", "succeeded")
    assert done is not None and done.status == "succeeded" and done.progress_percent == 100


async def test_retry_waits_for_its_delay(db: Database) -> None:
    task_id = await enqueue(db, await make_host(db))
    assert await tasks_repo.claim(db, "w", 30) is not None
    again = await tasks_repo.retry_later(db, task_id, "w", 0.3, "SYSTEM_011", "agent away")
    assert again is not None and again.status == "pending" and again.error_code == "SYSTEM_011"
    assert await tasks_repo.claim(db, "w", 30) is None
    with trio.fail_after(10):  # runnable again once the delay has passed
        claimed = await until(lambda: tasks_repo.claim(db, "w", 30))
    assert claimed.task.id == task_id


async def test_cancel_ends_a_pending_task_and_flags_a_running_one(db: Database) -> None:
    pending = await enqueue(db, await make_host(db))
    canceled = await tasks_repo.request_cancel(db, pending)
    assert canceled is not None and canceled.status == "canceled" and canceled.finished_at

    running = await enqueue(db, await make_host(db))
    assert await tasks_repo.claim(db, "w", 30) is not None
    flagged = await tasks_repo.request_cancel(db, running)
    assert flagged is not None and flagged.status == "running" and flagged.cancel_requested
    assert await tasks_repo.renew(db, running, "w", 30) is True


async def test_events_keep_their_order(db: Database) -> None:
    task_id = await enqueue(db, await make_host(db))
    for code in ("image.ready", "container.created", "net.ready", "ssh.ready"):
        await tasks_repo.add_event(db, task_id, code, "")
    task = await tasks_repo.get(db, task_id)
    assert task is not None
    assert [e.code for e in task.events] == [
        "image.ready",
        "container.created",
        "net.ready",
        "ssh.ready",
    ]
    assert [e.seq for e in task.events] == [1, 2, 3, 4]


async def task_where(db: Database, task_id: uuid.UUID, test: Callable[[Task], bool]) -> Task | None:
    """The task once ``test`` holds for it, else None (a check for ``until``)."""
    task = await tasks_repo.get(db, task_id)
    return task if task is not None and test(task) else None


class SlowOps(HostOps):
    """A start that works in small steps until canceled (stands in for a long pull)."""

    def pipeline(self, kind: str) -> Pipeline:
        async def slow(ctx: TaskContext) -> None:
            while True:
                await ctx.event("working", "")
                await trio.sleep(0.05)

        return slow


async def test_canceling_a_running_task_stops_it_at_its_next_step(
    db: Database, settings: Settings
) -> None:
    live = LiveSettings(attrs.evolve(settings, tasks=TaskSettings(workers=1, lease_s=0.6)))
    stopping = trio.Event()
    workers = TaskWorkers(db, Agent("none"), live, Metrics(), stopping)
    workers.ops = SlowOps(Agent("none"), live.current.tasks, workers.ops.egress)
    task_id = await enqueue(db, await make_host(db))
    async with trio.open_nursery() as nursery:
        await nursery.start(workers.run)
        with trio.fail_after(10):
            await until(lambda: task_where(db, task_id, lambda t: t.status == "running"))
        await tasks_repo.request_cancel(db, task_id)
        with trio.fail_after(10):
            task = await until(lambda: task_where(db, task_id, lambda t: not t.active))
        stopping.set()
    assert task.status == "canceled" and task.error_code == "STATE_012"
    assert task.events and all(e.code == "working" for e in task.events)
