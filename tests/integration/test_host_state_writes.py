"""Host status writes on a real Postgres: fenced by the task's lease, or compare-and-set."""

from __future__ import annotations

import uuid

import pytest
import trio

from cloudclaude.db.pool import Database
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.db.repos import tasks as tasks_repo
from cloudclaude.domain import host_states
from cloudclaude.errors import CloudClaudeError, state
from cloudclaude.model.hosts import Host
from tests.integration.test_task_queue import enqueue, make_host
from tests.polling import until


async def host(db: Database, host_id: uuid.UUID) -> Host:
    found = await hosts_repo.get(db, host_id)
    assert found is not None
    return found


async def test_a_task_holding_its_lease_moves_its_host(db: Database) -> None:
    host_id = await make_host(db)
    task_id = await enqueue(db, host_id)
    assert await tasks_repo.claim(db, "w1", 30) is not None
    lease = host_states.Lease(task_id=task_id, owner="w1")
    moved = await host_states.by_task(db, lease, host_id, "starting", error_code=None)
    assert moved.status == "starting"
    assert (await host(db, host_id)).status == "starting"


async def test_a_worker_that_lost_its_lease_cannot_write_the_host(db: Database) -> None:
    host_id = await make_host(db)
    task_id = await enqueue(db, host_id)
    assert await tasks_repo.claim(db, "slow-worker", 0.2) is not None
    with trio.fail_after(10):  # its lease runs out and another worker takes the task over
        await until(lambda: tasks_repo.claim(db, "new-worker", 30))
    stale = host_states.Lease(task_id=task_id, owner="slow-worker")
    with pytest.raises(host_states.LeaseLost):
        await host_states.by_task(db, stale, host_id, "starting", image_ref="stale")
    unchanged = await host(db, host_id)
    assert unchanged.status == "pending" and unchanged.image_ref is None
    current = host_states.Lease(task_id=task_id, owner="new-worker")
    assert (await host_states.by_task(db, current, host_id, "starting")).status == "starting"


async def test_an_expired_lease_fences_even_before_anyone_reclaims(db: Database) -> None:
    host_id = await make_host(db)
    task_id = await enqueue(db, host_id)
    assert await tasks_repo.claim(db, "w", 0.1) is not None
    lease = host_states.Lease(task_id=task_id, owner="w")

    async def refused() -> bool:
        try:
            await host_states.by_task(db, lease, host_id, image_ref="late")
        except host_states.LeaseLost:
            return True
        return False

    with trio.fail_after(10):
        await until(refused)
    assert (await host(db, host_id)).status == "pending"


async def test_a_task_cannot_make_an_illegal_move(db: Database) -> None:
    host_id = await make_host(db)
    task_id = await enqueue(db, host_id, "delete")
    assert await tasks_repo.claim(db, "w", 30) is not None
    lease = host_states.Lease(task_id=task_id, owner="w")
    await host_states.by_task(db, lease, host_id, "deleting")
    with pytest.raises(CloudClaudeError) as caught:
        await host_states.by_task(db, lease, host_id, "running")
    assert caught.value.error is state.ILLEGAL_TRANSITION
    assert (await host(db, host_id)).status == "deleting"


async def test_compare_and_set_writes_only_from_the_status_it_expects(db: Database) -> None:
    host_id = await make_host(db)
    assert await host_states.compare_and_set(db, host_id, ["running"], "degraded") is None
    assert (await host(db, host_id)).status == "pending"
    await hosts_repo.write(db, host_id, fields={"status": "running"})
    moved = await host_states.compare_and_set(
        db, host_id, ["running"], "degraded", error_code="NET_007"
    )
    assert moved is not None and moved.status == "degraded" and moved.error_code == "NET_007"
    with pytest.raises(CloudClaudeError) as caught:  # refused before any SQL
        await host_states.compare_and_set(db, host_id, ["stopped"], "degraded")
    assert caught.value.error is state.ILLEGAL_TRANSITION


async def test_plain_updates_cannot_touch_the_status(db: Database) -> None:
    host_id = await make_host(db)
    with pytest.raises(AssertionError):
        await hosts_repo.update(db, host_id, status="running")
