"""Sessions that end when they should (cloudclaude/domain/sessions.py), over the real app and
Postgres: logout, the changes that end every session of a user, open SSE streams closing,
recent auth for sensitive changes, and the bootstrap-only token."""

from __future__ import annotations

import re
from typing import Any

import asyncssh
import attrs
import httpx
import pytest
import trio
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.background.expiry import ExpiryScanner
from cloudclaude.db.pool import Database
from cloudclaude.model.audit import Actor
from cloudclaude.model.hosts import HostLimits
from tests.integration.conftest import ADMIN_PASSWORD, bearer, random_name
from tests.integration.processes import free_port
from tests.polling import until
from web.server import WebServer

PASSWORD = "session-password-1"
ACTOR = Actor(name="test")
_HIDDEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def pubkey() -> str:
    key = asyncssh.generate_private_key("ssh-ed25519", comment="me@laptop")
    return key.export_public_key("openssh").decode().strip()


async def new_user(services: Services, role: str = "user") -> str:
    name = random_name()
    await services.accounts.create(ACTOR, username=name, role=role, password=PASSWORD)
    return name


async def _token(app: QuartTrio, username: str, password: str = PASSWORD) -> str:
    response = await app.test_client().post(
        "/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, await response.get_data()
    return str((await response.get_json())["token"])


async def _me(app: QuartTrio, token: str) -> tuple[int, Any]:
    response = await app.test_client().get("/v1/me", headers=bearer(token))
    return response.status_code, await response.get_json()


async def page_cookie(app: QuartTrio, username: str, password: str = PASSWORD) -> tuple[str, str]:
    """Sign in through the page form: the session cookie's value and the pages' CSRF token."""
    client = app.test_client()
    form = _HIDDEN.search(await (await client.get("/login")).get_data(as_text=True))
    assert form is not None
    signed = await client.post(
        "/login", form={"username": username, "password": password, "csrf_token": form[1]}
    )
    assert signed.status_code == 302
    cookie = next(c for c in signed.headers.get_all("Set-Cookie") if c.startswith("cc_session="))
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    home = await app.test_client().get("/me", headers={"Cookie": f"cc_session={value}"})
    csrf = _HIDDEN.search(await home.get_data(as_text=True))
    assert csrf is not None
    return value, csrf[1]


async def page_signed_in(app: QuartTrio, cookie: str) -> bool:
    response = await app.test_client().get("/me", headers={"Cookie": f"cc_session={cookie}"})
    return response.status_code == 200


async def backdate_sign_in(db: Database, token_owner: str) -> None:
    """Make every session of the user look signed in an hour ago (outside the window)."""
    await db.execute(
        "UPDATE auth_sessions SET authenticated_at = now() - interval '1 hour'"
        " WHERE user_id = (SELECT id FROM users WHERE username = $1)",
        token_owner,
    )


# --- logout -------------------------------------------------------------------------------------


async def test_api_logout_makes_the_old_token_401(app: QuartTrio, services: Services) -> None:
    name = await new_user(services)
    token, other = await _token(app, name), await _token(app, name)
    assert (await _me(app, token))[0] == 200
    out = await app.test_client().post("/v1/auth/logout", headers=bearer(token))
    assert out.status_code == 204
    status, body = await _me(app, token)
    assert status == 401 and body["error"]["slug"] == "session_ended"
    assert (await _me(app, other))[0] == 200  # only the session that signed out ended
    events = await services.audit.recent(5)
    assert any(e.type == "auth.logout" for e in events)


# --- changes that end every session -------------------------------------------------------------


async def user_id_of(services: Services, name: str) -> str:
    return str((await services.accounts.get_by_username(name)).id)


async def _admin_post(app: QuartTrio, admin: dict[str, Any], path: str, **kw: Any) -> Any:
    response = await app.test_client().post(path, headers=admin["headers"], **kw)
    assert response.status_code == 200, await response.get_data()
    return await response.get_json()


CHANGES = ["password_reset", "disable", "expire", "demote"]


async def end_by(change: str, app: QuartTrio, admin: dict[str, Any], uid: str) -> None:
    base = f"/v1/admin/users/{uid}"
    if change == "password_reset":
        await _admin_post(app, admin, f"{base}/rotate-password")
    elif change == "disable":
        await _admin_post(app, admin, f"{base}/disable")
    elif change == "expire":
        await _admin_post(app, admin, f"{base}/expiry", json={"expires_at": "2000-01-01"})
    else:
        response = await app.test_client().patch(
            base, json={"role": "user"}, headers=admin["headers"]
        )
        assert response.status_code == 200


@pytest.mark.parametrize("change", CHANGES)
async def test_an_admin_change_ends_every_token_and_cookie_of_the_user(
    app: QuartTrio, services: Services, admin: dict[str, Any], change: str
) -> None:
    name = await new_user(services, role="admin" if change == "demote" else "user")
    uid = await user_id_of(services, name)
    token = await _token(app, name)
    cookie, _ = await page_cookie(app, name)
    epoch = (await services.accounts.get_by_username(name)).session_epoch
    await end_by(change, app, admin, uid)
    status, body = await _me(app, token)
    assert status == 401 and body["error"]["slug"] == "session_ended"
    assert not await page_signed_in(app, cookie)
    assert (await services.accounts.get_by_username(name)).session_epoch > epoch
    assert (await _me(app, admin["token"]))[0] == 200  # the admin's own session goes on


async def test_changing_your_own_password_keeps_this_session_and_ends_the_others(
    app: QuartTrio, services: Services
) -> None:
    name = await new_user(services)
    mine, other = await _token(app, name), await _token(app, name)
    cookie, _ = await page_cookie(app, name)
    response = await app.test_client().post(
        "/v1/user/change-password",
        json={"current_password": PASSWORD, "new_password": "a-new-password-2"},
        headers=bearer(mine),
    )
    assert response.status_code == 204
    assert (await _me(app, mine))[0] == 200
    status, body = await _me(app, other)
    assert status == 401 and body["error"]["slug"] == "session_ended"
    assert not await page_signed_in(app, cookie)


async def test_expiry_ends_sessions_before_and_after_the_scanner(
    app: QuartTrio, services: Services, db: Database
) -> None:
    name = await new_user(services)
    token = await _token(app, name)
    await db.execute(
        "UPDATE users SET expires_at = now() - interval '1 second' WHERE username = $1", name
    )
    status, body = await _me(app, token)  # effective status: expired at once
    assert status == 401 and body["error"]["slug"] == "session_ended"
    epoch = (await services.accounts.get_by_username(name)).session_epoch
    scanner = ExpiryScanner(services.accounts, services.hosts, services.live, trio.Event())
    assert await scanner.scan_once() == 1
    assert (await services.accounts.get_by_username(name)).session_epoch == epoch + 1
    rows = await db.fetchval(
        "SELECT count(*) FROM auth_sessions s JOIN users u ON u.id = s.user_id"
        " WHERE u.username = $1",
        name,
    )
    assert rows == 0


async def test_the_scanner_deletes_sessions_past_their_lifetime(
    app: QuartTrio, services: Services, db: Database
) -> None:
    name = await new_user(services)
    token = await _token(app, name)
    await db.execute("UPDATE auth_sessions SET expires_at = now() - interval '1 second'")
    status, body = await _me(app, token)
    assert status == 401 and body["error"]["slug"] == "session_ended"
    scanner = ExpiryScanner(services.accounts, services.hosts, services.live, trio.Event())
    await scanner.scan_once()
    assert await db.fetchval("SELECT count(*) FROM auth_sessions") == 0


# --- open SSE streams ---------------------------------------------------------------------------


async def follow(
    base: str, path: str, headers: dict[str, str], events: list[str], done: trio.Event
) -> None:
    """The event names of an SSE stream until the server ends it; then ``done`` is set."""
    buffer = b""
    try:
        async with (
            httpx.AsyncClient(base_url=base, timeout=60.0) as client,
            client.stream("GET", path, headers=headers) as response,
        ):
            assert response.status_code == 200
            async for chunk in response.aiter_bytes():
                buffer += chunk
                *frames, buffer = buffer.split(b"\n\n")
                for frame in frames:
                    for line in frame.decode().splitlines():
                        if line.startswith("event: "):
                            events.append(line[7:])
    finally:
        done.set()


@pytest.mark.parametrize("change", ["password_reset", "disable"])
async def test_an_open_sse_stream_closes_when_its_session_ends(
    app: QuartTrio, services: Services, admin: dict[str, Any], change: str
) -> None:
    name = await new_user(services)
    token = await _token(app, name)
    settings = attrs.evolve(services.live.current.web, host="127.0.0.1", port=free_port())
    stopping = trio.Event()
    events: list[str] = []
    done = trio.Event()

    async def ended() -> bool:
        return done.is_set()

    async def hello() -> bool:
        return "hello" in events

    async with trio.open_nursery() as nursery:
        await nursery.start(WebServer(app, settings, stopping).run)
        base = f"http://127.0.0.1:{settings.port}"
        nursery.start_soon(follow, base, "/v1/user/sse", bearer(token), events, done)
        with trio.fail_after(30):
            await until(hello)
        assert not done.is_set()
        await end_by(change, app, admin, await user_id_of(services, name))
        with trio.fail_after(30):  # the stream re-checks its session on every poll (1 s)
            await until(ended)
        assert events[-1] == "ended"
        stopping.set()
        nursery.cancel_scope.cancel()


# --- recent auth --------------------------------------------------------------------------------


async def test_adding_a_key_needs_a_recent_sign_in_or_the_password(
    app: QuartTrio, services: Services, db: Database
) -> None:
    name = await new_user(services)
    token = await _token(app, name)
    client = app.test_client()
    fresh = await client.post(
        "/v1/user/ssh-keys", json={"public_key": pubkey()}, headers=bearer(token)
    )
    assert fresh.status_code == 201  # signed in a moment ago
    await backdate_sign_in(db, name)
    stale = await client.post(
        "/v1/user/ssh-keys", json={"public_key": pubkey()}, headers=bearer(token)
    )
    assert stale.status_code == 403
    assert (await stale.get_json())["error"]["slug"] == "recent_auth_required"
    wrong = await client.post(
        "/v1/user/ssh-keys",
        json={"public_key": pubkey(), "current_password": "not-my-password"},
        headers=bearer(token),
    )
    assert (await wrong.get_json())["error"]["slug"] == "current_password_wrong"
    failed = [e for e in await services.audit.recent(5) if e.type == "auth.failed"]
    assert failed and failed[0].metadata["reason"] == "wrong_current_password"
    confirmed = await client.post(
        "/v1/user/ssh-keys",
        json={"public_key": pubkey(), "current_password": PASSWORD},
        headers=bearer(token),
    )
    assert confirmed.status_code == 201
    again = await client.post(  # giving the password restarted the window
        "/v1/user/ssh-keys", json={"public_key": pubkey()}, headers=bearer(token)
    )
    assert again.status_code == 201
    assert len(await services.accounts.list_keys(await _uuid(services, name))) == 3


async def _uuid(services: Services, name: str) -> Any:
    return (await services.accounts.get_by_username(name)).id


async def test_admin_resets_and_ssh_password_rotation_need_recent_auth(
    app: QuartTrio, services: Services, admin: dict[str, Any], db: Database
) -> None:
    name = await new_user(services)
    host, _, _ = await services.hosts.create(
        ACTOR, user_id=await _uuid(services, name), limits=HostLimits(disk_gb=1)
    )
    await backdate_sign_in(db, "root-admin")
    client = app.test_client()
    paths = [
        f"/v1/admin/users/{await user_id_of(services, name)}/rotate-password",
        f"/v1/admin/hosts/{host.id}/rotate-ssh-password",
    ]
    for path in paths:
        refused = await client.post(path, headers=admin["headers"])
        assert refused.status_code == 403, path
        assert (await refused.get_json())["error"]["slug"] == "recent_auth_required"
    for path in paths:
        done = await client.post(
            path, json={"current_password": ADMIN_PASSWORD}, headers=admin["headers"]
        )
        assert done.status_code == 200, path


# --- the bootstrap-only token -------------------------------------------------------------------


async def test_the_bootstrap_token_does_the_bootstrap_steps_and_nothing_else(
    app: QuartTrio, services: Services, admin: dict[str, Any]
) -> None:
    name = await new_user(services)
    client = app.test_client()
    made = await client.post(
        "/v1/admin/hosts",
        json={"user_id": await user_id_of(services, name)},
        headers=admin["headers"],
    )
    created = await made.get_json()
    await client.post(f"/v1/admin/tasks/{created['task_id']}/cancel", headers=admin["headers"])
    session = await client.post(
        "/v1/bootstrap/sessions", form={"username": name, "password": PASSWORD}
    )
    assert session.status_code == 201, await session.get_data()
    answer = await session.get_json()
    token, task_id = answer["token"], answer["task_id"]
    poll = await client.get(f"/v1/bootstrap/tasks/{task_id}?wait_s=0", headers=bearer(token))
    assert poll.status_code == 200 and (await poll.get_json())["status"] == "pending"
    for path in ("/v1/user/hosts", "/v1/me", "/v1/user/ssh-keys"):
        refused = await client.get(path, headers=bearer(token))
        assert refused.status_code == 403, path
        assert (await refused.get_json())["error"]["slug"] == "token_scope_denied"
    page = await client.get("/me", headers={"Cookie": f"cc_session={token}"})
    assert page.status_code == 302  # no page session either
    claims = await services.tokens.verify(token)
    assert claims.scope == "bootstrap"
