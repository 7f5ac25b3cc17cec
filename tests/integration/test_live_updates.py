"""Live updates (SSE) over a real hypercorn server: per-user filtering and limits."""

from __future__ import annotations

import json
from typing import Any

import attrs
import httpx
import trio

from tests.integration.hoststack import Stack
from tests.integration.processes import free_port
from tests.polling import quiet, until
from web.live import StreamLimits
from web.server import WebServer


async def _collect(base: str, path: str, headers: dict[str, str], events: list[Any]) -> None:
    """Append the SSE events a real stream (hypercorn, httpx) delivers, until canceled."""
    buffer = b""
    async with (
        httpx.AsyncClient(base_url=base) as client,
        client.stream("GET", path, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for chunk in response.aiter_bytes():
            buffer += chunk
            *frames, buffer = buffer.split(b"\n\n")
            for frame in frames:
                fields = dict(
                    line.split(": ", 1) for line in frame.decode().splitlines() if ": " in line
                )
                if "event" in fields:
                    events.append((fields["event"], json.loads(fields["data"])))


async def _has_hello(seen: dict[str, list[Any]]) -> bool:
    return all(any(topic == "hello" for topic, _ in events) for events in seen.values())


async def test_a_users_stream_carries_only_their_own_hosts_and_tasks(idle_stack: Stack) -> None:
    alice_id, alice = await idle_stack.user()
    bob_id, bob = await idle_stack.user()
    seen: dict[str, list[Any]] = {"alice": [], "admin": []}
    settings = attrs.evolve(idle_stack.live.current.web, host="127.0.0.1", port=free_port())
    stopping = trio.Event()
    server = WebServer(idle_stack.app, settings, stopping)
    base = f"http://127.0.0.1:{settings.port}"

    async def counts() -> tuple[int, int]:
        return len(seen["alice"]), len(seen["admin"])

    async def admin_saw(task_id: str) -> bool:
        tasks = {d["id"] for t, d in seen["admin"] if t == "tasks"}
        return task_id in tasks and any(t == "audit" for t, _ in seen["admin"])

    async with trio.open_nursery() as outer:
        await outer.start(server.run)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_collect, base, "/v1/user/sse", alice, seen["alice"])
            nursery.start_soon(_collect, base, "/v1/admin/sse", idle_stack.admin, seen["admin"])
            with trio.fail_after(30):  # both streams are open (each says hello first)
                await until(lambda: _has_hello(seen))
            for owner in (alice_id, bob_id):
                _, host = await idle_stack.call("POST", "/v1/admin/hosts", json={"user_id": owner})
                await idle_stack.call("POST", f"/v1/admin/tasks/{host['task_id']}/cancel")
            _, bobs = await idle_stack.call("GET", f"/v1/admin/hosts?user_id={bob_id}")
            bob_host = bobs["items"][0]["id"]
            _, started = await idle_stack.call(
                "POST", f"/v1/user/hosts/{bob_host}/start", headers=bob
            )
            with trio.fail_after(30):  # the last change has reached the admin's stream
                await until(lambda: admin_saw(started["task_id"]))
            # Quiet over more than two polls of the feed: whatever Bob's changes would put on
            # Alice's stream has arrived by then.
            with trio.fail_after(30):
                await quiet(counts, window=2.5 * settings.sse_poll_s)
            nursery.cancel_scope.cancel()
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
    assert status == 400 and body["error"]["slug"] == "bad_query"
    status, _ = await idle_stack.call("GET", "/v1/admin/sse", headers=alice)
    assert status == 403
    limits = idle_stack.app.extensions.setdefault("cloudclaude_sse", StreamLimits())
    me = (await idle_stack.services.accounts.authenticate(alice["Authorization"][7:])).id
    limits.per_user[me] = idle_stack.live.current.web.sse_max_streams_per_user
    status, body = await idle_stack.call("GET", "/v1/user/sse", headers=alice)
    assert status == 429 and body["error"]["slug"] == "rate_limited"
