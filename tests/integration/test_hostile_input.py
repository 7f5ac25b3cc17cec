"""Input from anyone, through the Quart test client against real Postgres: the sign-in
``next`` stays on this site, NaN and infinities are a 400, and control characters in stored
text are shown escaped on the pages."""

from __future__ import annotations

import re
from typing import Any

import asyncssh
import pytest
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.model.audit import Actor
from cloudclaude.model.hosts import HostLimits
from tests.integration.conftest import bearer
from tests.integration.test_pages import PASSWORD, sign_in

ACTOR = Actor(name="test")
_HIDDEN = re.compile(r'name="csrf_token" value="([^"]*)"')
_NEXT = re.compile(r'name="next" value="([^"]*)"')
HOSTILE_NEXT = [
    "//evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "https://evil.example/",
    "javascript:alert(1)",
    "/me\x00",
    "/me\r\nSet-Cookie: x=1",
]


async def _sign_in_with_next(app: QuartTrio, username: str, next_: str) -> str:
    client = app.test_client()
    form = await client.get("/login", query_string={"next": next_})
    token = _HIDDEN.search(await form.get_data(as_text=True))
    assert token is not None
    response = await client.post(
        "/login",
        form={"username": username, "password": PASSWORD, "csrf_token": token[1], "next": next_},
    )
    assert response.status_code == 302, await response.get_data(as_text=True)
    location: str = response.headers["Location"]
    return location


@pytest.fixture
async def alice(services: Services) -> Any:
    user, _ = await services.accounts.create(ACTOR, username="alice", password=PASSWORD)
    return user


@pytest.mark.parametrize("next_", HOSTILE_NEXT)
async def test_a_hostile_next_falls_back_to_the_home_page(
    app: QuartTrio, alice: Any, next_: str
) -> None:
    form = await app.test_client().get("/login", query_string={"next": next_})
    assert form.status_code == 200
    shown = _NEXT.search(await form.get_data(as_text=True))
    assert shown is not None and shown[1] == ""  # not carried into the form
    assert await _sign_in_with_next(app, "alice", next_) == "/me"


async def test_a_same_site_next_is_followed(app: QuartTrio, alice: Any) -> None:
    assert await _sign_in_with_next(app, "alice", "/me/keys?x=1") == "/me/keys?x=1"


async def test_a_hostile_username_is_shown_escaped_on_the_audit_page(
    app: QuartTrio, services: Services, alice: Any
) -> None:
    await services.accounts.create(ACTOR, username="pageadmin", role="admin", password=PASSWORD)
    hostile = "mallory\x1b[2J\r\u202eevil\x7f"  # not NUL: Postgres text cannot hold it
    client = app.test_client()
    form = await client.get("/login")
    token = _HIDDEN.search(await form.get_data(as_text=True))
    assert token is not None
    failed = await client.post(
        "/login", form={"username": hostile, "password": "wrong-wrong", "csrf_token": token[1]}
    )
    assert failed.status_code == 401
    echoed = await failed.get_data(as_text=True)  # the form shows the name back, escaped
    assert "\x1b" not in echoed and "mallory\\x1b[2J\\x0d\\u202eevil\\x7f" in echoed
    admin, _ = await sign_in(app, "pageadmin")
    text = await (await admin.get("/admin/audit")).get_data(as_text=True)
    assert "mallory\\x1b[2J\\x0d\\u202eevil\\x7f" in text
    assert not any(c in text for c in "\x1b\r\u202e\x7f")


async def test_a_key_comment_with_controls_is_shown_escaped(
    app: QuartTrio, services: Services, alice: Any
) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    await services.accounts.add_key(ACTOR, alice.id, key, "laptop\x1b]0;owned\x07")
    client, _ = await sign_in(app, "alice")
    text = await (await client.get("/me/keys")).get_data(as_text=True)
    assert "laptop\\x1b]0;owned\\x07" in text and "\x1b" not in text


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999", "infinity"])
@pytest.mark.parametrize("name", ["after", "wait_s"])
async def test_non_finite_numbers_in_a_query_are_a_400(
    app: QuartTrio, services: Services, alice: Any, name: str, value: str
) -> None:
    _, _, task = await services.hosts.create(ACTOR, user_id=alice.id, limits=HostLimits(disk_gb=1))
    login = await services.accounts.login("alice", PASSWORD, None)
    response = await app.test_client().get(
        f"/v1/bootstrap/tasks/{task.id}",
        query_string={name: value},
        headers=bearer(login.token),
    )
    assert response.status_code == 400, await response.get_data(as_text=True)
    assert (await response.get_json())["error"]["slug"] == "bad_query"


@pytest.mark.parametrize("value", ["nan", "inf", "1e999"])
async def test_non_finite_paging_is_a_400(
    app: QuartTrio, admin: dict[str, Any], value: str
) -> None:
    response = await app.test_client().get(
        "/v1/admin/users", query_string={"limit": value}, headers=admin["headers"]
    )
    assert response.status_code == 400
    assert (await response.get_json())["error"]["slug"] == "bad_query"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_non_finite_numbers_in_a_json_body_are_a_400(
    app: QuartTrio, admin: dict[str, Any], number: str
) -> None:
    response = await app.test_client().post(
        "/v1/admin/users",
        data=f'{{"username": "nanny", "max_hosts": {number}}}',
        headers={**admin["headers"], "Content-Type": "application/json"},
    )
    assert response.status_code == 400, await response.get_data(as_text=True)
    assert (await response.get_json())["error"]["slug"] == "bad_request"


async def test_a_non_finite_cpus_on_the_host_form_is_refused(
    app: QuartTrio, services: Services, alice: Any
) -> None:
    await services.accounts.create(ACTOR, username="pageadmin", role="admin", password=PASSWORD)
    admin, csrf = await sign_in(app, "pageadmin")
    response = await admin.post(
        "/admin/hosts",
        form={"csrf_token": csrf, "user_id": str(alice.id), "cpus": "nan", "disk_gb": "1"},
    )
    assert response.status_code == 422
    assert "cpus: must be a finite number" in await response.get_data(as_text=True)


async def test_a_username_with_nul_is_a_wrong_login_not_a_crash(
    app: QuartTrio, services: Services
) -> None:
    """Postgres text cannot hold NUL: such a name is never looked up, and audited escaped."""
    client = app.test_client()
    answer = await client.post(
        "/v1/auth/login", json={"username": "adm\x00in", "password": "wrong-wrong"}
    )
    assert answer.status_code == 401
    assert (await answer.get_json())["error"]["code"] == "AUTH_001"
    [event] = await services.audit.recent(1)
    assert event.type == "auth.failed" and event.metadata["username"] == "adm\\x00in"
    assert event.actor == "login:adm\\x00in"
