"""Hosts through the REST API with real task workers, the real agent, dockerd and Postgres."""

from __future__ import annotations

import uuid
from typing import Any

import trio

from cloudclaude.db.repos import hosts as hosts_repo
from tests.integration.hoststack import Stack, host_id_of


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
    assert [h["id"] for h in mine["items"]] == [host["id"]] and mine["total"] == 1
    # A page past the end still counts what there is.
    status, past = await idle_stack.call("GET", "/v1/user/hosts?offset=5", headers=alice)
    assert status == 200 and past["items"] == [] and past["total"] == 1
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
        ("GET", "/v1/admin/hosts?limit=0", None, 400, "bad_query"),
        ("GET", "/v1/admin/hosts?status=sleeping", None, 400, "bad_query"),
        ("GET", "/v1/admin/events?limit=201", None, 400, "bad_query"),
        ("GET", "/v1/admin/events?since=yesterday", None, 400, "bad_query"),
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


async def test_start_true_makes_a_running_host_in_one_task(stack: Stack) -> None:
    user_id, _ = await stack.user()
    status, host = await stack.call(
        "POST", "/v1/admin/hosts", json={"user_id": user_id, "disk_gb": 1, "start": True}
    )
    assert status == 201, host
    assert host["desired_state"] == "running"
    task = await stack.wait_task(host["task_id"])
    assert task["status"] == "succeeded" and task["kind"] == "create", task
    stages = [e["code"] for e in task["events"]]
    assert "container.created" in stages and stages[-1] == "host.running", stages
    assert await stack.host_status(host["id"]) == "running"
    _, bad = await stack.call("POST", "/v1/admin/hosts", json={"user_id": user_id, "start": "yes"})
    assert bad["error"]["code"] == "SYSTEM_004", bad
