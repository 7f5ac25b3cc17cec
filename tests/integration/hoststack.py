"""A daemon's services, app and (optionally) task workers in the test process, over the real
agent, dockerd and Postgres, with helpers to drive hosts through the API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import trio
from quart_trio import QuartTrio

from cloudclaude.agent_client.handle import Agent, open_agent
from cloudclaude.app.supervisor import llm_gateway
from cloudclaude.app.wiring import Services, build
from cloudclaude.background.egress_watch import EgressWatch
from cloudclaude.background.reconciler import Reconciler
from cloudclaude.core.settings import LiveSettings, Settings, TaskSettings
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.model.audit import Actor
from cloudclaude.tasks.workers import TaskWorkers
from tests.integration.conftest import (
    ADMIN_PASSWORD,
    add_sim_exit,
    bearer,
    random_name,
    with_sim_exit,
)
from web.app import create_app

FAST_TASKS = TaskSettings(workers=2, lease_s=6, poll_s=0.5, retry_base_s=0.2)


@attrs.define
class Stack:
    app: QuartTrio
    services: Services
    workers: TaskWorkers | None
    admin: dict[str, str]
    live: LiveSettings

    def egress_watch(self) -> EgressWatch:
        services = self.services
        return EgressWatch(
            services.agent, services.hosts, self.live, trio.Event(), exits=services.exits
        )

    def reconciler(self) -> Reconciler:
        services = self.services
        return Reconciler(
            services.agent,
            services.hosts,
            services.audit,
            self.live,
            services.metrics,
            trio.Event(),
        )

    async def running_host(self) -> dict[str, Any]:
        user_id, _ = await self.user()
        status, host = await self.call(
            "POST", "/v1/admin/hosts", json={"user_id": user_id, "disk_gb": 1}
        )
        assert status == 201, host
        await self.wait_task(host["task_id"])
        _, started = await self.call("POST", f"/v1/admin/hosts/{host['id']}/start")
        assert (await self.wait_task(started["task_id"]))["status"] == "succeeded"
        host["user_id"] = user_id
        return dict(host)

    async def host_status(self, host_id: str) -> str:
        status, host = await self.call("GET", f"/v1/admin/hosts/{host_id}")
        assert status == 200, host
        return str(host["status"])

    async def call(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        client = self.app.test_client()
        response = await client.open(path, method=method, headers=headers or self.admin, **kwargs)
        return response.status_code, await response.get_json()

    async def user(self, max_hosts: int = 1) -> tuple[str, dict[str, str]]:
        name = random_name()
        status, body = await self.call(
            "POST", "/v1/admin/users", json={"username": name, "max_hosts": max_hosts}
        )
        assert status == 201, body
        login = await self.services.accounts.login(name, body["password"], "127.0.0.1")
        return body["id"], bearer(login.token)

    async def wait_task(self, task_id: str, timeout: float = 240) -> dict[str, Any]:
        with trio.fail_after(timeout):
            while True:
                status, task = await self.call("GET", f"/v1/admin/tasks/{task_id}")
                assert status == 200, task
                if task["status"] not in ("pending", "running"):
                    return task  # type: ignore[no-any-return]
                await trio.sleep(0.1)


async def open_stack(
    settings: Settings, db: Database, boxes_state: Path, *, workers: bool, fresh: bool = True
) -> AsyncIterator[Stack]:
    """``fresh``: make the admin and the simulated exit; else the database has them (a
    restored one)."""
    settings = attrs.evolve(
        with_sim_exit(settings),
        agent=attrs.evolve(settings.agent, state_dir=str(boxes_state)),
        tasks=FAST_TASKS,
        scanners=attrs.evolve(settings.scanners, reconcile_max_repairs=2),
    )
    live = LiveSettings(settings)  # one instance: a test may change settings for everything
    async with open_agent(settings) as agent, trio.open_nursery() as nursery:
        services = await build(live, db, agent)
        app = create_app(live, services)
        if fresh:
            await add_sim_exit(services)
            await services.accounts.create(
                Actor(name="test"), username="root-admin", role="admin", password=ADMIN_PASSWORD
            )
        login = await services.accounts.login("root-admin", ADMIN_PASSWORD, "127.0.0.1")
        stopping = trio.Event()
        runner = None
        if workers:
            llm = llm_gateway(services, stopping)
            await nursery.start(llm.run)
            runner = TaskWorkers(
                db,
                agent,
                live,
                services.metrics,
                stopping,
                services.exits,
                gateway_ready=llm.gateway_ready,
            )
            await nursery.start(runner.run)
        try:
            yield Stack(app, services, runner, bearer(login.token), live)
        finally:
            stopping.set()
            await _remove_boxes(db, agent)


async def _remove_boxes(db: Database, agent: Agent) -> None:
    with trio.CancelScope(shield=True):
        page = await hosts_repo.list_hosts(db, limit=200, offset=0, include_deleted=True)
        for host in page.items:
            await agent.remove_host(str(host.id), purge=True)


def host_id_of(host: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(host["id"])
