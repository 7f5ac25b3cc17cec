"""Faults with the real daemon process: kill -9 mid-task, the agent dying, Postgres restarting.

The daemon runs as ``cloudclaude run`` against the run's Postgres, with the box image and the
shared agent state directory; the test queues work straight into the database (the same rules
the API uses) and watches the task rows.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from agent.runtime import open_runtime
from cloudclaude.agent_client.client import embedded
from cloudclaude.agent_client.handle import Agent
from cloudclaude.app.wiring import Services, build
from cloudclaude.core.metrics import Metrics
from cloudclaude.core.settings import LiveSettings, Settings
from cloudclaude.db.cluster import PrivateCluster
from cloudclaude.db.errors import DatabaseError
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import audit as audit_repo
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.db.repos import tasks as tasks_repo
from cloudclaude.model.audit import Actor, AuditFilter
from cloudclaude.model.hosts import HostLimits
from cloudclaude.model.tasks import Task
from cloudclaude.tasks.workers import TaskWorkers
from tests.integration import boxes, pg
from tests.integration.conftest import add_sim_exit, with_sim_exit
from tests.integration.netsim import SimInternet
from tests.integration.processes import BIN, free_port

ACTOR = Actor(name="test")
#: Retries with a doubling delay from 0.5 s: enough for a loaded machine to bring an agent back.
MAX_ATTEMPTS = 10


@attrs.define
class Daemon:
    env: dict[str, str]
    log: Path
    port: int
    state_dir: Path
    process: trio.Process | None = None

    async def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = await trio.lowlevel.open_process(
                [str(BIN / "cloudclaude"), "run"],
                env={
                    **os.environ,
                    "CLOUDCLAUDE_SSH__PORT": "0",
                    "CLOUDCLAUDE_AGENT__MODE": "embedded",
                    **self.env,
                },
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        with trio.fail_after(60):
            while await self.health() is None:
                assert self.process.returncode is None, self.log.read_text()[-3000:]
                await trio.sleep(0.1)

    async def health(self) -> int | None:
        """/healthz over TLS, trusting the local CA in the state directory once it exists."""
        ca = self.state_dir / "tls" / "ca.pem"
        if not ca.exists():
            return None
        try:
            trust = ssl.create_default_context(cafile=str(ca))
            async with httpx.AsyncClient(verify=trust) as client:
                response = await client.get(f"https://127.0.0.1:{self.port}/healthz", timeout=2)
                return response.status_code
        except (httpx.HTTPError, ssl.SSLError):
            return None

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        await self.process.wait()


@attrs.define
class Rig:
    """The run's database for this test, seen through the daemon's rules, and a daemon factory."""

    services: Services
    db: Database
    database_url: str
    state_dir: Path
    boxes_state: Path

    @asynccontextmanager
    async def daemon(self, **extra: str) -> AsyncIterator[Daemon]:
        """``cloudclaude run`` with fast task settings plus ``extra`` environment; killed after."""
        port = free_port()
        env = {
            "CLOUDCLAUDE_DATABASE__URL": self.database_url,
            "CLOUDCLAUDE_STATE_DIR": str(self.state_dir),
            "CLOUDCLAUDE_WEB__HOST": "127.0.0.1",
            "CLOUDCLAUDE_WEB__PORT": str(port),
            "CLOUDCLAUDE_CTL__SOCKET": str(self.state_dir / "ctl.sock"),
            "CLOUDCLAUDE_AGENT__STATE_DIR": str(self.boxes_state),
            # The test agents' instance: the boxes it makes are this run's to remove.
            "CLOUDCLAUDE_AGENT__INSTANCE": boxes.agent_config(self.boxes_state).instance,
            "CLOUDCLAUDE_AGENT__EGRESS_POOL": boxes.EGRESS_POOL,
            "CLOUDCLAUDE_TASKS__LEASE_S": "2",
            "CLOUDCLAUDE_TASKS__POLL_S": "0.5",
            "CLOUDCLAUDE_TASKS__RETRY_BASE_S": "0.5",
            "CLOUDCLAUDE_TASKS__MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "CLOUDCLAUDE_SCANNERS__RECONCILE_PERIOD_S": "3600",
            "CLOUDCLAUDE_LOG__FORMAT": "json",
            **extra,
        }
        daemon = Daemon(env, self.state_dir / "daemon.log", port, self.state_dir)
        try:
            yield daemon
        finally:
            if daemon.alive():
                await daemon.kill()


@pytest.fixture
async def rig(
    settings: Settings,
    db: Database,
    database_url: str,
    state_dir: Path,
    boxes_state: Path,
    box_image: str,
    sim_internet: SimInternet,
) -> AsyncIterator[Rig]:
    """Every box the test's hosts got is removed afterwards, also when it fails.

    Tasks are queued with the daemon's ``max_attempts``: a task carries its own limit.
    """
    tasks = attrs.evolve(settings.tasks, max_attempts=MAX_ATTEMPTS)
    settings = attrs.evolve(with_sim_exit(settings), tasks=tasks)
    services = await build(LiveSettings(settings), db, Agent("none"))
    await add_sim_exit(services)
    try:
        yield Rig(services, db, database_url, state_dir, boxes_state)
    finally:
        await remove_boxes(db, boxes_state)


async def remove_boxes(db: Database, boxes_state: Path) -> None:
    with trio.CancelScope(shield=True):
        config = boxes.agent_config(boxes_state)
        async with open_runtime(config) as dispatcher, embedded(dispatcher) as client:
            agent = Agent("embedded", client)
            page = await hosts_repo.list_hosts(db, limit=100, offset=0, include_deleted=True)
            for host in page.items:
                await agent.remove_host(str(host.id), purge=True)


async def wait_task(
    db: Database, task_id: uuid.UUID, until: Callable[[Task], bool], timeout: float = 60
) -> Task:
    with trio.fail_after(timeout):
        while True:
            try:
                task = await tasks_repo.get(db, task_id)
            except DatabaseError:
                task = None  # Postgres is coming back
            if task is not None and until(task):
                return task
            await trio.sleep(0.005)


def ended(task: Task) -> bool:
    return not task.active


async def new_host(services: Services) -> tuple[uuid.UUID, uuid.UUID]:
    user, _ = await services.accounts.create(ACTOR, username=f"u{uuid.uuid4().hex[:8]}")
    host, _, task = await services.hosts.create(
        ACTOR, user_id=user.id, limits=HostLimits(disk_gb=1, memory_mb=512)
    )
    return host.id, task.id


def containers_of(host_id: uuid.UUID) -> list[dict[str, Any]]:
    filters = json.dumps({"label": [f"cloudclaude.host_id={host_id}"]})
    response = boxes.docker_api("GET", "/containers/json", params={"all": "1", "filters": filters})
    found: list[dict[str, Any]] = response.json()
    return found


async def test_killing_the_daemon_mid_start_loses_nothing(rig: Rig) -> None:
    services, db = rig.services, rig.db
    async with rig.daemon() as daemon:
        await daemon.start()
        host_id, create = await new_host(services)
        assert (await wait_task(db, create, ended)).status == "succeeded"
        start = await services.hosts.act(ACTOR, host_id, "start")
        await wait_task(db, start.id, lambda t: t.status == "running")
        await daemon.kill()
        orphaned = await tasks_repo.get(db, start.id)
        assert orphaned is not None and orphaned.status == "running"  # killed mid-task

        await daemon.start()
        done = await wait_task(db, start.id, ended)
        assert done.status == "succeeded" and done.attempt == 2, done
        host = await hosts_repo.get(db, host_id)
        assert host is not None and host.status == "running"
        assert len(containers_of(host_id)) == 1
        stale = await audit_repo.count(
            db, AuditFilter(type="reconcile.task.stale", host_id=host_id)
        )
        assert stale == 1


async def test_a_killed_agent_is_waited_for_and_the_task_retried(rig: Rig) -> None:
    services, db = rig.services, rig.db
    sock_dir = pg.scratch_dir("cc-agent-")
    agent_sock = sock_dir / "agent.sock"
    agent_argv = [
        str(BIN / "cloudclaude-agent"),
        "--socket",
        str(agent_sock),
        "--state-dir",
        str(rig.boxes_state),
        "--instance",
        boxes.agent_config(rig.boxes_state).instance,
        "--egress-pool",
        boxes.EGRESS_POOL,
    ]
    agent = await trio.lowlevel.open_process(agent_argv, stderr=subprocess.DEVNULL)
    try:
        with trio.fail_after(30):
            while not agent_sock.exists():
                await trio.sleep(0.05)
        # The task workers run here (`cloudclaude run` refuses root in socket mode), talking
        # to the real agent process through its socket, as the unprivileged daemon does.
        fast = attrs.evolve(
            services.live.current.tasks, lease_s=2.0, poll_s=0.5, retry_base_s=0.5, workers=1
        )
        live = LiveSettings(attrs.evolve(services.live.current, tasks=fast))
        stopping = trio.Event()
        socket_agent = Agent("socket", socket=str(agent_sock))
        workers = TaskWorkers(db, socket_agent, live, Metrics(), stopping, exits=services.exits)
        async with trio.open_nursery() as nursery:
            await nursery.start(workers.run)
            host_id, create = await new_host(services)
            assert (await wait_task(db, create, ended)).status == "succeeded"
            start = await services.hosts.act(ACTOR, host_id, "start")
            await wait_task(db, start.id, lambda t: t.status == "running")
            agent.kill()
            await agent.wait()
            agent_sock.unlink(missing_ok=True)
            await wait_task(db, start.id, lambda t: t.error_code == "SYSTEM_011" or not t.active)
            agent = await trio.lowlevel.open_process(agent_argv, stderr=subprocess.DEVNULL)
            done = await wait_task(db, start.id, ended)
            assert done.status == "succeeded" and done.attempt >= 2, done
            host = await hosts_repo.get(db, host_id)
            assert host is not None and host.status == "running"
            stopping.set()
    finally:
        if agent.returncode is None:
            agent.terminate()
            await agent.wait()
        shutil.rmtree(sock_dir, ignore_errors=True)


async def test_postgres_restart_is_survived_and_no_task_lost(
    rig: Rig, pg_cluster: PrivateCluster
) -> None:
    services, db = rig.services, rig.db
    async with rig.daemon(CLOUDCLAUDE_TASKS__POLL_S="600") as daemon:
        await daemon.start()
        await trio.to_thread.run_sync(pg_cluster.stop)
        try:
            with trio.fail_after(30):
                while await daemon.health() != 503:
                    await trio.sleep(0.2)
            await trio.sleep(3)  # the listener notices and starts reconnecting
            assert daemon.alive(), daemon.log.read_text()[-4000:]
        finally:
            await trio.to_thread.run_sync(pg_cluster.start)
        with trio.fail_after(30):
            while await daemon.health() != 200:
                await trio.sleep(0.2)
        await trio.sleep(3)  # let the listener reconnect before queueing
        _, create = await new_host_retrying(services)
        # With a 600 s poll, only a notification on the reconnected listener is this fast.
        done = await wait_task(db, create, ended, timeout=30)
        assert done.status == "succeeded", done
        assert daemon.alive(), daemon.log.read_text()[-4000:]


async def new_host_retrying(services: Services) -> tuple[uuid.UUID, uuid.UUID]:
    """The test's own pool may hold connections that died with Postgres: retry once each."""
    for _ in range(10):
        try:
            return await new_host(services)
        except DatabaseError:
            await trio.sleep(0.5)
    return await new_host(services)


async def test_the_running_reconciler_repairs_a_removed_container_within_a_period(rig: Rig) -> None:
    services, db = rig.services, rig.db
    async with rig.daemon(CLOUDCLAUDE_SCANNERS__RECONCILE_PERIOD_S="1") as daemon:
        await daemon.start()
        host_id, create = await new_host(services)
        await wait_task(db, create, ended)
        start = await services.hosts.act(ACTOR, host_id, "start")
        started = await wait_task(db, start.id, ended)
        assert started.status == "succeeded", started.error_message
        [container] = containers_of(host_id)
        boxes.docker_api("DELETE", f"/containers/{container['Id']}", params={"force": "1"})
        drift = AuditFilter(type="reconcile.host.drift", host_id=host_id)
        with trio.fail_after(30):
            while await audit_repo.count(db, drift) == 0:
                await trio.sleep(0.1)
            while not (await hosts_repo.get(db, host_id)) or len(containers_of(host_id)) != 1:
                await trio.sleep(0.1)
        repaired = await tasks_repo.list_tasks(db, limit=1, offset=0, host_id=host_id)
        done = await wait_task(db, repaired.items[0].id, ended)
        assert done.kind == "start" and done.status == "succeeded", (done.error_message, done)
        assert [c["State"] for c in containers_of(host_id)] == ["running"]
        assert daemon.alive()
