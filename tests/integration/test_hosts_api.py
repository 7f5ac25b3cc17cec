"""Hosts through the REST API with real task workers, the real agent, dockerd and Postgres."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
from quart_trio import QuartTrio

from agent.protocol import messages as m
from cloudclaude.agent_client.handle import Agent, open_agent
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.live import StreamLimits
from cloudclaude.model.audit import Actor
from cloudclaude.services.expiry import ExpiryScanner
from cloudclaude.services.idle import IdleScanner
from cloudclaude.services.reconciler import Reconciler
from cloudclaude.settings import LiveSettings, Settings, TaskSettings
from cloudclaude.tasks.workers import TaskWorkers
from cloudclaude.wiring import Services, build
from tests.integration import boxes
from tests.integration.conftest import ADMIN_PASSWORD, bearer, random_name
from tests.integration.processes import free_port
from web.app import create_app
from web.server import WebServer

FAST_TASKS = TaskSettings(workers=2, lease_s=6, poll_s=0.5, retry_base_s=0.2)


@attrs.define
class Stack:
    app: QuartTrio
    services: Services
    workers: TaskWorkers | None
    admin: dict[str, str]
    live: LiveSettings

    def reconciler(self) -> Reconciler:
        services = self.services
        return Reconciler(
            services.db, services.agent, services.hosts, self.live, services.metrics, trio.Event()
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


async def _stack(
    settings: Settings, db: Database, boxes_state: Path, *, workers: bool
) -> AsyncIterator[Stack]:
    settings = attrs.evolve(
        settings,
        agent=attrs.evolve(settings.agent, state_dir=str(boxes_state)),
        tasks=FAST_TASKS,
        scanners=attrs.evolve(settings.scanners, reconcile_max_repairs=2),
    )
    async with open_agent(settings) as agent, trio.open_nursery() as nursery:
        services = await build(LiveSettings(settings), db, agent)
        app = create_app(LiveSettings(settings), services)
        await services.accounts.create(
            Actor(name="test"), username="root-admin", role="admin", password=ADMIN_PASSWORD
        )
        login = await services.accounts.login("root-admin", ADMIN_PASSWORD, "127.0.0.1")
        stopping = trio.Event()
        runner = None
        if workers:
            runner = TaskWorkers(db, agent, LiveSettings(settings), services.metrics, stopping)
            await nursery.start(runner.run)
        try:
            yield Stack(app, services, runner, bearer(login.token), LiveSettings(settings))
        finally:
            stopping.set()
            await _remove_boxes(db, agent)


async def _remove_boxes(db: Database, agent: Agent) -> None:
    with trio.CancelScope(shield=True):
        page = await hosts_repo.list_hosts(db, limit=200, offset=0, include_deleted=True)
        for host in page.items:
            await agent.remove_host(str(host.id), purge=True)


@pytest.fixture
async def stack(
    settings: Settings, db: Database, boxes_state: Path, box_image: str
) -> AsyncIterator[Stack]:
    async for value in _stack(settings, db, boxes_state, workers=True):
        yield value


@pytest.fixture
async def idle_stack(settings: Settings, db: Database, boxes_state: Path) -> AsyncIterator[Stack]:
    """No task workers: queued tasks stay pending."""
    async for value in _stack(settings, db, boxes_state, workers=False):
        yield value


async def test_admin_runs_a_host_through_its_whole_life(stack: Stack) -> None:
    user_id, _ = await stack.user()
    status, host = await stack.call(
        "POST", "/v1/admin/hosts", json={"user_id": user_id, "disk_gb": 1, "memory_mb": 1024}
    )
    assert status == 201, host
    assert host["status"] == "pending" and len(host["ssh_password"]) >= 20
    assert host["short_id"] and host["user_id"] == user_id
    created = await stack.wait_task(host["task_id"])
    assert created["status"] == "succeeded", created
    assert "container.created" in [e["code"] for e in created["events"]]

    status, started = await stack.call("POST", f"/v1/admin/hosts/{host['id']}/start")
    assert status == 202
    task = await stack.wait_task(started["task_id"])
    assert task["status"] == "succeeded", task
    codes = [e["code"] for e in task["events"]]
    assert codes.index("container.created") < codes.index("net.ready") < codes.index("ssh.ready")
    assert task["progress_percent"] == 100
    status, shown = await stack.call("GET", f"/v1/admin/hosts/{host['id']}")
    assert shown["status"] == "running" and shown["desired_state"] == "running"
    assert (await stack.services.agent.inspect_host(host["id"])).running

    status, stopped = await stack.call("POST", f"/v1/admin/hosts/{host['id']}/stop")
    assert (await stack.wait_task(stopped["task_id"]))["status"] == "succeeded"
    before = await stack.services.agent.inspect_host(host["id"])
    assert not before.running

    status, rebuilt = await stack.call("POST", f"/v1/admin/hosts/{host['id']}/rebuild")
    assert (await stack.wait_task(rebuilt["task_id"]))["status"] == "succeeded"
    after = await stack.services.agent.inspect_host(host["id"])
    assert after.exists and after.container_id != before.container_id
    status, shown = await stack.call("GET", f"/v1/admin/hosts/{host['id']}")
    assert shown["status"] == "stopped"

    status, deleted = await stack.call("DELETE", f"/v1/admin/hosts/{host['id']}?purge=true")
    assert status == 202
    assert (await stack.wait_task(deleted["task_id"]))["status"] == "succeeded"
    assert not (await stack.services.agent.inspect_host(host["id"])).exists
    status, _ = await stack.call("GET", f"/v1/admin/hosts/{host['id']}")
    assert status == 404

    status, events = await stack.call(
        "GET", f"/v1/admin/events?type=admin.host.action&host_id={host['id']}"
    )
    actions = [e["metadata"]["action"] for e in events["items"]]
    assert sorted(actions) == ["create", "delete", "rebuild", "start", "stop"]


async def test_users_see_and_touch_only_their_own_hosts(idle_stack: Stack) -> None:
    alice_id, alice = await idle_stack.user()
    _, bob = await idle_stack.user()
    status, host = await idle_stack.call("POST", "/v1/admin/hosts", json={"user_id": alice_id})
    assert status == 201
    await idle_stack.call("POST", f"/v1/admin/tasks/{host['task_id']}/cancel")

    status, mine = await idle_stack.call("GET", "/v1/user/hosts", headers=alice)
    assert [h["id"] for h in mine["items"]] == [host["id"]]
    status, theirs = await idle_stack.call("GET", "/v1/user/hosts", headers=bob)
    assert theirs["items"] == [] and theirs["total"] == 0
    for method, path in [
        ("GET", f"/v1/user/hosts/{host['id']}"),
        ("POST", f"/v1/user/hosts/{host['id']}/start"),
        ("POST", f"/v1/user/hosts/{host['id']}/stop"),
        ("POST", f"/v1/user/hosts/{host['id']}/rebuild"),
    ]:
        status, body = await idle_stack.call(method, path, headers=bob)
        assert status == 404 and body["error"]["slug"] == "host_not_found", (path, body)
    status, body = await idle_stack.call("GET", f"/v1/admin/hosts/{host['id']}", headers=alice)
    assert status == 403
    status, own = await idle_stack.call("GET", f"/v1/user/hosts/{host['id']}", headers=alice)
    assert status == 200 and own["id"] == host["id"]
    status, queued = await idle_stack.call(
        "POST", f"/v1/user/hosts/{host['id']}/start", headers=alice
    )
    assert status == 202 and queued["task_id"]


async def test_twenty_concurrent_starts_queue_one_task(idle_stack: Stack) -> None:
    user_id, _ = await idle_stack.user()
    _, host = await idle_stack.call("POST", "/v1/admin/hosts", json={"user_id": user_id})
    await idle_stack.call("POST", f"/v1/admin/tasks/{host['task_id']}/cancel")
    results: list[tuple[int, Any]] = []

    async def start() -> None:
        results.append(await idle_stack.call("POST", f"/v1/admin/hosts/{host['id']}/start"))

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(start)
    statuses = sorted(status for status, _ in results)
    assert statuses == [202] + [409] * 19
    busy = [body for status, body in results if status == 409]
    assert {b["error"]["slug"] for b in busy} == {"host_busy"}
    accepted = next(body for status, body in results if status == 202)
    assert {b["error"]["task_id"] for b in busy} == {accepted["task_id"]}


async def test_bad_input_gets_coded_errors(idle_stack: Stack) -> None:
    user_id, _ = await idle_stack.user(max_hosts=1)
    cases = [
        ("POST", "/v1/admin/hosts", {"user_id": user_id, "cpus": -1}, 422, "validation_failed"),
        ("POST", "/v1/admin/hosts", {"user_id": user_id, "memory_mb": 10**9}, 422, None),
        ("POST", "/v1/admin/hosts", {"user_id": user_id, "timezone": "../x"}, 422, None),
        ("POST", "/v1/admin/hosts", {"user_id": user_id, "bogus": 1}, 422, None),
        ("POST", "/v1/admin/hosts", {"user_id": "not-a-uuid"}, 404, "not_found"),
        ("POST", "/v1/admin/hosts", {"user_id": str(uuid.uuid4())}, 404, "not_found"),
        ("GET", f"/v1/admin/hosts/{uuid.uuid4()}", None, 404, "host_not_found"),
        ("POST", f"/v1/admin/hosts/{uuid.uuid4()}/start", None, 404, "host_not_found"),
        ("GET", "/v1/admin/hosts?limit=0", None, 400, "bad_request"),
        ("GET", "/v1/admin/hosts?status=sleeping", None, 400, "bad_request"),
        ("GET", "/v1/admin/events?limit=201", None, 400, "bad_request"),
        ("GET", "/v1/admin/events?since=yesterday", None, 400, "bad_request"),
        ("GET", f"/v1/admin/tasks/{uuid.uuid4()}", None, 404, "not_found"),
    ]
    for method, path, body, expected, slug in cases:
        status, answer = await idle_stack.call(method, path, json=body)
        assert status == expected, (path, body, answer)
        if slug:
            assert answer["error"]["slug"] == slug, (path, answer)

    status, first = await idle_stack.call("POST", "/v1/admin/hosts", json={"user_id": user_id})
    assert status == 201
    status, second = await idle_stack.call("POST", "/v1/admin/hosts", json={"user_id": user_id})
    assert status == 409 and second["error"]["slug"] == "host_limit_reached"
    status, _ = await idle_stack.call("POST", f"/v1/admin/hosts/{first['id']}/explode")
    assert status == 404


async def test_rotating_the_ssh_password_returns_a_new_one_once(idle_stack: Stack) -> None:
    user_id, _ = await idle_stack.user()
    _, host = await idle_stack.call("POST", "/v1/admin/hosts", json={"user_id": user_id})
    status, rotated = await idle_stack.call(
        "POST", f"/v1/admin/hosts/{host['id']}/rotate-ssh-password"
    )
    assert status == 200 and rotated["ssh_password"] != host["ssh_password"]
    stored, sealed = await hosts_repo.get_secrets(idle_stack.services.db, host_id_of(host))
    assert stored is not None and stored.startswith("$argon2id$")
    assert sealed is not None and b"PRIVATE KEY" not in sealed
    assert await idle_stack.services.hosts.verify_ssh_password(
        host_id_of(host), rotated["ssh_password"]
    )
    private = await idle_stack.services.hosts.box_private_key(host_id_of(host))
    assert private.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")


def host_id_of(host: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(host["id"])


async def test_reconciler_restarts_a_host_whose_container_vanished(stack: Stack) -> None:
    host = await stack.running_host()
    gone = boxes.docker_api("DELETE", f"/containers/cloudclaude-{host['id']}", params={"force": 1})
    assert gone.status_code == 204
    repairs = await stack.reconciler().reconcile_once()
    assert [(r.host_id, r.action) for r in repairs] == [(host["id"], "start")]
    _, tasks = await stack.call("GET", f"/v1/admin/tasks?host_id={host['id']}&limit=1")
    assert (await stack.wait_task(tasks["items"][0]["id"]))["status"] == "succeeded"
    assert (await stack.services.agent.inspect_host(host["id"])).running
    assert await stack.host_status(host["id"]) == "running"
    _, events = await stack.call(
        "GET", f"/v1/admin/events?type=reconcile.host.drift&host_id={host['id']}"
    )
    assert events["items"][0]["metadata"]["reason"] == "container missing"
    reconciler = stack.reconciler()
    assert await reconciler.reconcile_once() == []  # nothing left to repair
    metrics = stack.services.metrics.render().decode()
    assert 'cloudclaude_hosts{status="running"} 1.0' in metrics
    assert 'cloudclaude_reconciler_repairs_total{action="start"} 1.0' in metrics


async def test_reconciler_stops_a_container_running_behind_a_stopped_host(stack: Stack) -> None:
    host = await stack.running_host()
    _, stopped = await stack.call("POST", f"/v1/admin/hosts/{host['id']}/stop")
    await stack.wait_task(stopped["task_id"])
    boxes.docker_api("POST", f"/containers/cloudclaude-{host['id']}/start")
    repairs = await stack.reconciler().reconcile_once()
    assert [(r.host_id, r.action) for r in repairs] == [(host["id"], "stop")]
    _, tasks = await stack.call("GET", f"/v1/admin/tasks?host_id={host['id']}&limit=1")
    await stack.wait_task(tasks["items"][0]["id"])
    assert not (await stack.services.agent.inspect_host(host["id"])).running


async def test_reconciler_removes_a_container_without_a_host(stack: Stack) -> None:
    stray = str(uuid.uuid4())
    await stack.services.agent.create_host(stray, m.BoxSpec(disk_gb=1))
    repairs = await stack.reconciler().reconcile_once()
    assert [(r.host_id, r.action) for r in repairs] == [(stray, "removed_container")]
    assert not (await stack.services.agent.inspect_host(stray)).exists
    await stack.services.agent.remove_host(stray, purge=True)


async def test_reconciler_gives_up_after_bounded_repairs(idle_stack: Stack) -> None:
    user_id, _ = await idle_stack.user()
    _, host = await idle_stack.call("POST", "/v1/admin/hosts", json={"user_id": user_id})
    await idle_stack.call("POST", f"/v1/admin/tasks/{host['task_id']}/cancel")
    db = idle_stack.services.db
    await hosts_repo.update(db, host_id_of(host), status="running", desired_state="running")
    reconciler = idle_stack.reconciler()
    for _ in range(2):  # reconcile_max_repairs = 2: two repair tasks, which never run here
        [repair] = await reconciler.reconcile_once()
        assert repair.action == "start"
        _, tasks = await idle_stack.call("GET", f"/v1/admin/tasks?host_id={host['id']}&limit=1")
        await idle_stack.call("POST", f"/v1/admin/tasks/{tasks['items'][0]['id']}/cancel")
    [repair] = await reconciler.reconcile_once()
    assert repair.action == "gave_up"
    _, shown = await idle_stack.call("GET", f"/v1/admin/hosts/{host['id']}")
    assert shown["status"] == "failed" and shown["error_code"] == "STATE_006"
    assert await reconciler.reconcile_once() == []  # failed hosts are left to an admin


async def test_expired_users_hosts_are_stopped(stack: Stack) -> None:
    host = await stack.running_host()
    status, _ = await stack.call(
        "POST",
        f"/v1/admin/users/{host['user_id']}/expiry",
        json={"expires_at": "2020-01-01T00:00:00Z"},
    )
    assert status == 200
    scanner = ExpiryScanner(stack.services.accounts, stack.services.hosts, stack.live, trio.Event())
    assert await scanner.scan_once() == 1
    _, tasks = await stack.call("GET", f"/v1/admin/tasks?host_id={host['id']}&limit=1")
    assert tasks["items"][0]["kind"] == "stop"
    await stack.wait_task(tasks["items"][0]["id"])
    assert await stack.host_status(host["id"]) == "stopped"
    _, events = await stack.call(
        "GET", f"/v1/admin/events?type=host.stop.expired&host_id={host['id']}"
    )
    assert events["total"] == 1


async def _collect(base: str, path: str, headers: dict[str, str], seconds: float) -> list[Any]:
    """The SSE events a real stream (hypercorn, httpx) delivers within ``seconds``."""
    events: list[Any] = []
    buffer = b""
    async with (
        httpx.AsyncClient(base_url=base) as client,
        client.stream("GET", path, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        with trio.move_on_after(seconds):
            async for chunk in response.aiter_bytes():
                buffer += chunk
                *frames, buffer = buffer.split(b"\n\n")
                for frame in frames:
                    fields = dict(
                        line.split(": ", 1) for line in frame.decode().splitlines() if ": " in line
                    )
                    if "event" in fields:
                        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_a_users_stream_carries_only_their_own_hosts_and_tasks(idle_stack: Stack) -> None:
    alice_id, alice = await idle_stack.user()
    bob_id, bob = await idle_stack.user()
    seen: dict[str, list[Any]] = {}
    settings = attrs.evolve(idle_stack.live.current.web, host="127.0.0.1", port=free_port())
    stopping = trio.Event()
    server = WebServer(idle_stack.app, settings, stopping)
    base = f"http://127.0.0.1:{settings.port}"

    async def watch(name: str, path: str, headers: dict[str, str]) -> None:
        seen[name] = await _collect(base, path, headers, 4.0)

    async def act() -> None:
        await trio.sleep(0.5)
        for owner in (alice_id, bob_id):
            _, host = await idle_stack.call("POST", "/v1/admin/hosts", json={"user_id": owner})
            await idle_stack.call("POST", f"/v1/admin/tasks/{host['task_id']}/cancel")
        _, bobs = await idle_stack.call("GET", f"/v1/admin/hosts?user_id={bob_id}")
        await idle_stack.call("POST", f"/v1/user/hosts/{bobs['items'][0]['id']}/start", headers=bob)

    async with trio.open_nursery() as outer:
        await outer.start(server.run)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, "alice", "/v1/user/sse", alice)
            nursery.start_soon(watch, "admin", "/v1/admin/sse", idle_stack.admin)
            nursery.start_soon(act)
        stopping.set()

    _, alices = await idle_stack.call("GET", f"/v1/admin/hosts?user_id={alice_id}")
    alice_hosts = {h["id"] for h in alices["items"]}
    topics = {topic for topic, _ in seen["alice"]}
    assert topics == {"hello", "hosts", "tasks"}  # no audit on a user's stream
    for topic, data in seen["alice"]:
        if topic == "hosts":
            assert data["user_id"] == alice_id
        if topic == "tasks":
            assert data["host_id"] in alice_hosts
    admin_hosts = {d["user_id"] for t, d in seen["admin"] if t == "hosts"}
    assert admin_hosts == {alice_id, bob_id}
    assert any(t == "audit" for t, _ in seen["admin"])


async def test_stream_limits_and_topics_are_enforced(idle_stack: Stack) -> None:
    _, alice = await idle_stack.user()
    status, body = await idle_stack.call("GET", "/v1/user/sse?topics=audit", headers=alice)
    assert status == 400 and body["error"]["slug"] == "bad_request"
    status, _ = await idle_stack.call("GET", "/v1/admin/sse", headers=alice)
    assert status == 403
    limits = idle_stack.app.extensions.setdefault("cloudclaude_sse", StreamLimits())
    me = (await idle_stack.services.accounts.authenticate(alice["Authorization"][7:])).id
    limits.per_user[me] = idle_stack.live.current.web.sse_max_streams_per_user
    status, body = await idle_stack.call("GET", "/v1/user/sse", headers=alice)
    assert status == 429 and body["error"]["slug"] == "rate_limited"


async def test_the_box_reports_tmux_input_and_claude_cpu(stack: Stack) -> None:
    host = await stack.running_host()
    agent = stack.services.agent
    quiet = await agent.host_activity(host["id"])
    assert quiet.tmux_clients == 0 and quiet.tmux_activity_at == 0
    client = "(sleep 600 | script -qfc attach-claude /dev/null >/dev/null 2>&1 &)"
    burner = "cp /usr/bin/yes /tmp/claude && (/tmp/claude >/dev/null 2>&1 &)"
    await agent.exec_in_host(host["id"], ["sh", "-c", f"{client}; {burner}; sleep 1"], "claude")
    first = await agent.host_activity(host["id"])
    await trio.sleep(1)
    second = await agent.host_activity(host["id"])
    assert first.tmux_clients == 1 and first.tmux_activity_at > 0
    assert second.claude_cpu_s - first.claude_cpu_s >= 0.5  # Claude Code (by name) is busy


async def test_an_idle_host_is_stopped_and_audited(stack: Stack) -> None:
    host = await stack.running_host()
    await hosts_repo.update(stack.services.db, host_id_of(host), idle_stop_after_s=1)
    scanner = IdleScanner(
        stack.services.hosts, stack.services.agent, stack.live, trio.Event(), stack.services.metrics
    )
    await trio.sleep(1.2)
    assert await scanner.scan_once() == [host_id_of(host)]
    _, tasks = await stack.call("GET", f"/v1/admin/tasks?host_id={host['id']}&limit=1")
    assert tasks["items"][0]["kind"] == "stop"
    await stack.wait_task(tasks["items"][0]["id"])
    assert await stack.host_status(host["id"]) == "stopped"
    _, events = await stack.call(
        "GET", f"/v1/admin/events?type=host.idle.stopped&host_id={host['id']}"
    )
    assert events["total"] == 1
