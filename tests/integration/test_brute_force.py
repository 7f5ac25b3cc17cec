"""Brute force without lock-out, over HTTP: limits per (user, address), the bounded argon2
queue and the cap on concurrent connections (a real hypercorn on loopback)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

import attrs
import httpx
import pytest
import trio
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.core.settings import LiveSettings, RateLimitSettings, Settings
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor
from web.api.errors import respond
from web.app import create_app
from web.server import WebServer

PASSWORD = "admin-password-1"
LIMITS = RateLimitSettings(login_per_address=50, login_per_user=3, login_slowdown_max_s=0.5)


@attrs.define
class Web:
    url: str
    server: WebServer


@pytest.fixture
async def web(settings: Settings, services: Services) -> AsyncIterator[Web]:
    services.accounts.configure_limits(LIMITS)
    web_settings = attrs.evolve(settings.web, host="127.0.0.1", port=0, max_connections=3)
    stopping = trio.Event()
    server = WebServer(create_app(LiveSettings(settings), services), web_settings, stopping)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        yield Web(server.binds[0], server)
        stopping.set()


async def _login(url: str, source: str, password: str) -> httpx.Response:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(transport=transport, base_url=url) as client:
        body = {"username": "the-admin", "password": password}
        return await client.post("/v1/auth/login", json=body)


async def test_hammering_from_one_address_leaves_the_admin_able_to_sign_in_from_another(
    web: Web, services: Services
) -> None:
    await services.accounts.create(
        Actor(name="t"), username="the-admin", role="admin", password=PASSWORD
    )
    statuses = [
        (await _login(web.url, "127.0.0.2", f"guess-{i:06d}")).status_code for i in range(8)
    ]
    assert statuses[:3] == [401] * 3
    assert set(statuses[3:]) == {429}
    assert (await _login(web.url, "127.0.0.2", PASSWORD)).status_code == 429
    with trio.fail_after(5):  # slowed down (capped at 0.5 s), never locked out
        ok = await _login(web.url, "127.0.0.1", PASSWORD)
    assert ok.status_code == 200, ok.text
    assert ok.json()["token"]


async def test_a_full_password_queue_answers_503_with_retry_after(
    web: Web, services: Services
) -> None:
    await services.accounts.create(
        Actor(name="t"), username="the-admin", role="admin", password=PASSWORD
    )
    hasher = services.accounts._hasher
    capacity = hasher._limiter.total_tokens + hasher._queue_max
    release = threading.Event()

    async def blocked() -> None:
        await hasher._run(release.wait)

    async with trio.open_nursery() as nursery:
        for _ in range(int(capacity)):
            nursery.start_soon(blocked)
        while hasher._queued < capacity:
            await trio.sleep(0.01)
        with trio.fail_after(5):
            busy = await _login(web.url, "127.0.0.1", PASSWORD)
        assert busy.status_code == 503
        assert int(busy.headers["Retry-After"]) >= 1
        assert busy.json()["error"]["slug"] == "auth_busy"
        release.set()
    assert (await _login(web.url, "127.0.0.1", PASSWORD)).status_code == 200


async def test_connections_past_the_cap_are_closed_at_once(web: Web) -> None:
    host, port = web.url.removeprefix("http://").rsplit(":", 1)
    idle = [await trio.open_tcp_stream(host, int(port)) for _ in range(3)]
    while web.server.cap.open < 3:
        await trio.sleep(0.01)
    extra = await trio.open_tcp_stream(host, int(port))
    with trio.fail_after(5):
        await extra.send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await extra.receive_some() == b""  # closed without an answer
    await extra.aclose()
    for stream in idle:
        await stream.aclose()
    with trio.fail_after(15):  # hypercorn may keep a closed connection for its keep-alive
        while web.server.cap.open > 0:
            await trio.sleep(0.01)
    async with httpx.AsyncClient(base_url=web.url) as client:
        assert (await client.get("/healthz")).status_code in (200, 503)


async def test_pages_say_when_to_retry_too(app: QuartTrio) -> None:
    async with app.test_request_context("/login", method="POST"):
        response = await respond(CloudClaudeError("auth_busy", retry_after=1))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
