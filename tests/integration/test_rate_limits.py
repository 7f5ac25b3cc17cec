"""Login rate limits through a real hypercorn server, from several 127.0.0.x source addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import httpx
import pytest
import trio

from cloudclaude.app.wiring import Services
from cloudclaude.core.settings import LiveSettings, RateLimitSettings, Settings
from cloudclaude.model.audit import Actor
from web.app import create_app
from web.server import WebServer

PER_USER = 3
PER_ADDRESS = 5


@pytest.fixture
async def base_url(settings: Settings, services: Services) -> AsyncIterator[str]:
    limits = RateLimitSettings(login_per_address=PER_ADDRESS, login_per_user=PER_USER)
    services.accounts.configure_limits(limits)
    web = attrs.evolve(settings.web, host="127.0.0.1", port=0)
    stopping = trio.Event()
    server = WebServer(create_app(LiveSettings(settings), services), web, stopping)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        yield server.binds[0]
        stopping.set()


async def _login(base_url: str, source: str, username: str, password: str) -> httpx.Response:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        return await client.post(
            "/v1/auth/login", json={"username": username, "password": password}
        )


async def test_failed_logins_are_limited_per_user_and_address_not_across_addresses(
    base_url: str, services: Services
) -> None:
    await services.accounts.create(Actor(name="t"), username="victim", password="victim-password")
    for _ in range(PER_USER):
        response = await _login(base_url, "127.0.0.10", "victim", "wrong-password")
        assert response.status_code == 401
    limited = await _login(base_url, "127.0.0.10", "victim", "victim-password")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["slug"] == "rate_limited"
    # Another address is only slowed down, never locked out.
    elsewhere = await _login(base_url, "127.0.0.50", "victim", "victim-password")
    assert elsewhere.status_code == 200, elsewhere.text
    other = await _login(base_url, "127.0.0.51", "victim2", "whatever-pass")
    assert other.status_code == 401  # other usernames are not affected
    reasons = [
        r["metadata"]["reason"]
        for r in await services.db.fetch(
            "SELECT metadata FROM audit_events WHERE type = 'auth.failed' ORDER BY id"
        )
    ]
    assert reasons == ["wrong_password"] * PER_USER + ["rate_limited", "unknown_user"]


async def test_attempts_from_one_address_are_limited_across_usernames(base_url: str) -> None:
    for i in range(PER_ADDRESS):
        response = await _login(base_url, "127.0.0.20", f"name{i}", "some-password")
        assert response.status_code == 401
    limited = await _login(base_url, "127.0.0.20", "fresh-name", "some-password")
    assert limited.status_code == 429
    assert "Retry-After" in limited.headers
    elsewhere = await _login(base_url, "127.0.0.21", "fresh-name", "some-password")
    assert elsewhere.status_code == 401


async def test_failed_and_successful_logins_are_audited_with_source_address(
    base_url: str, services: Services
) -> None:
    await services.accounts.create(Actor(name="t"), username="audited", password="audited-pass")
    await _login(base_url, "127.0.0.30", "audited", "bad-password")
    await _login(base_url, "127.0.0.31", "audited", "audited-pass")
    rows = await services.db.fetch(
        "SELECT type, host(source_ip) AS ip, metadata FROM audit_events"
        " WHERE type LIKE 'auth.%' ORDER BY id"
    )
    assert [(r["type"], r["ip"]) for r in rows] == [
        ("auth.failed", "127.0.0.30"),
        ("auth.success", "127.0.0.31"),
    ]
    assert rows[0]["metadata"]["reason"] == "wrong_password"
