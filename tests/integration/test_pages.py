"""The pages through the Quart test client against real Postgres: roles, CSRF on every
state-changing route, escaping, and forms that work without JavaScript."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncssh
import pytest
from quart.typing import TestClientProtocol as PageClient
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.model.audit import Actor
from cloudclaude.model.hosts import HostLimits

PASSWORD = "page-password-123"
ACTOR = Actor(name="test")
_HIDDEN = re.compile(r'name="csrf_token" value="([^"]*)"')


async def sign_in(app: QuartTrio, username: str) -> tuple[PageClient, str]:
    """A client with a session cookie, and the CSRF token its pages carry."""
    client = app.test_client()
    form = await client.get("/login")
    login_csrf = _HIDDEN.search(await form.get_data(as_text=True))
    assert login_csrf is not None
    response = await client.post(
        "/login",
        form={"username": username, "password": PASSWORD, "csrf_token": login_csrf[1]},
    )
    assert response.status_code == 302, await response.get_data(as_text=True)
    home = await client.get(response.headers["Location"])
    token = _HIDDEN.search(await home.get_data(as_text=True))
    assert token is not None
    return client, token[1]


@pytest.fixture
async def people(services: Services) -> dict[str, Any]:
    admin, _ = await services.accounts.create(
        ACTOR, username="pageadmin", role="admin", password=PASSWORD
    )
    alice, _ = await services.accounts.create(ACTOR, username="alice", password=PASSWORD)
    bob, _ = await services.accounts.create(ACTOR, username="bob", password=PASSWORD)
    host, _, task = await services.hosts.create(
        ACTOR, user_id=alice.id, limits=HostLimits(disk_gb=1)
    )
    other, _, _ = await services.hosts.create(ACTOR, user_id=bob.id, limits=HostLimits(disk_gb=1))
    return {"admin": admin, "alice": alice, "bob": bob, "host": host, "other": other, "task": task}


ADMIN_PAGES = [
    "/admin",
    "/admin/tasks/{task}",
    "/admin/users",
    "/admin/users/{alice}",
    "/admin/hosts",
    "/admin/hosts/{host}",
    "/admin/exits",
    "/admin/tasks",
    "/admin/audit",
    "/admin/audit?type=admin.user.created",
]
USER_PAGES = ["/me", "/me/keys", "/me/password"]


def fill(path: str, people: dict[str, Any]) -> str:
    return path.format(alice=people["alice"].id, host=people["host"].id, task=people["task"].id)


async def test_every_page_renders_for_its_role(app: QuartTrio, people: dict[str, Any]) -> None:
    admin, _ = await sign_in(app, "pageadmin")
    for path in ADMIN_PAGES:
        response = await admin.get(fill(path, people))
        assert response.status_code == 200, path
        assert "<main>" in await response.get_data(as_text=True)
    user, _ = await sign_in(app, "alice")
    for path in USER_PAGES:
        response = await user.get(path)
        assert response.status_code == 200, path
    mine = await (await user.get("/me")).get_data(as_text=True)
    assert people["host"].short_id in mine and people["other"].short_id not in mine
    assert (
        f"alice+{people['host'].short_id}@" in mine
        and f"/entry/{people['host'].short_id} | sh" in mine
    )


async def test_users_get_403_on_admin_pages_and_404_on_others_hosts(
    app: QuartTrio, people: dict[str, Any]
) -> None:
    user, csrf = await sign_in(app, "alice")
    for path in ADMIN_PAGES:
        response = await user.get(fill(path, people))
        assert response.status_code == 403, path
        text = await response.get_data(as_text=True)
        assert "AUTH_" in text and "forbidden" in text
    assert (await user.get("/admin/live?topics=hosts")).status_code == 403
    terminal = await user.get(f"/me/hosts/{people['other'].id}/terminal")
    assert terminal.status_code == 404  # another user's box does not exist for this user
    other = people["other"].id
    response = await user.post(f"/me/hosts/{other}/start", form={"csrf_token": csrf})
    assert response.status_code == 404
    assert "STATE_" in await response.get_data(as_text=True) or "host_not_found" in (
        await response.get_data(as_text=True)
    )


async def test_without_a_session_pages_send_you_to_sign_in(app: QuartTrio) -> None:
    client = app.test_client()
    response = await client.get("/admin/users")
    assert (
        response.status_code == 302 and "/login?next=/admin/users" in response.headers["Location"]
    )
    assert (await client.get("/")).headers["Location"] == "/login"
    assert (await client.get("/me/live")).status_code == 302  # live streams need a session


def page_routes(app: QuartTrio) -> list[tuple[str, str]]:
    """Every state-changing page route (all but the JSON API), with its path filled in."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/v1/", "/static", "/entry")):
            continue
        for method in sorted(set(rule.methods or ()) & {"POST", "PUT", "PATCH", "DELETE"}):
            path = re.sub(r"<(?:\w+:)?action>", "start", rule.rule)
            path = re.sub(r"<[^>]+>", str(uuid.uuid4()), path)
            found.append((method, path))
    return found


async def test_every_state_changing_page_refuses_a_missing_or_wrong_csrf_token(
    app: QuartTrio, people: dict[str, Any]
) -> None:
    routes = page_routes(app)
    assert ("POST", "/admin/users") in routes and ("POST", "/logout") in routes
    assert len(routes) >= 10, routes
    for name in ("pageadmin", "alice"):
        client, _ = await sign_in(app, name)
        for method, path in routes:
            for form in ({}, {"csrf_token": "not-the-token"}):
                response = await getattr(client, method.lower())(path, form=form)
                assert response.status_code == 403, (name, method, path, form)
                assert "AUTH_012" in await response.get_data(as_text=True), (method, path)
    # The sign-in form's own token is checked too.
    client = app.test_client()
    response = await client.post("/login", form={"username": "alice", "password": PASSWORD})
    assert response.status_code == 403


async def test_user_supplied_text_is_escaped_everywhere(
    app: QuartTrio, people: dict[str, Any], services: Services
) -> None:
    evil = "<script>alert(1)</script>"
    admin, csrf = await sign_in(app, "pageadmin")
    response = await admin.post(
        "/admin/users", form={"csrf_token": csrf, "username": evil, "max_hosts": "1"}
    )
    text = await response.get_data(as_text=True)
    assert response.status_code == 422 and evil not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # echoed, escaped, next to the field
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    await services.accounts.add_key(ACTOR, people["alice"].id, key, evil)
    for client, path in ((admin, f"/admin/users/{people['alice'].id}"), (admin, "/admin/audit")):
        assert evil not in await (await client.get(path)).get_data(as_text=True), path
    search = await admin.get("/admin/users", query_string={"q": evil})
    assert evil not in await search.get_data(as_text=True)
    user, _ = await sign_in(app, "alice")
    assert evil not in await (await user.get("/me/keys")).get_data(as_text=True)


async def test_forms_work_without_javascript(app: QuartTrio, services: Services) -> None:
    await services.accounts.create(ACTOR, username="pageadmin", role="admin", password=PASSWORD)
    admin, csrf = await sign_in(app, "pageadmin")
    response = await admin.post(
        "/admin/users", form={"csrf_token": csrf, "username": "carol", "max_hosts": "2"}
    )
    assert response.status_code == 303  # POST-redirect-GET: a reload makes no second user
    answer = await admin.get(response.headers["Location"])
    text = await answer.get_data(as_text=True)
    shown = re.search(r'id="new-password">([^<]+)<', text)
    assert shown is not None and len(shown[1]) >= 12  # the generated password, shown once
    again = await admin.get(response.headers["Location"])
    assert 'id="new-password"' not in await again.get_data(as_text=True)
    login = await services.accounts.login("carol", shown[1], None)
    assert login.user.max_hosts == 2
    missing = await admin.post("/admin/users", form={"csrf_token": csrf, "username": "carol"})
    assert missing.status_code == 409
    assert 'class="field-error"' in await missing.get_data(as_text=True)


async def test_wrong_password_shows_the_form_again_and_sign_out_ends_the_session(
    app: QuartTrio, services: Services
) -> None:
    await services.accounts.create(ACTOR, username="dave", password=PASSWORD)
    client = app.test_client()
    form = await client.get("/login")
    token = _HIDDEN.search(await form.get_data(as_text=True))
    assert token is not None
    wrong = await client.post(
        "/login", form={"username": "dave", "password": "nope-nope-nope", "csrf_token": token[1]}
    )
    assert wrong.status_code == 401 and "Wrong username or password" in await wrong.get_data(
        as_text=True
    )
    again = _HIDDEN.search(await wrong.get_data(as_text=True))  # the form comes back fresh
    assert again is not None
    signed = await client.post(
        "/login", form={"username": "dave", "password": PASSWORD, "csrf_token": again[1]}
    )
    cookies = signed.headers.get_all("Set-Cookie")
    session = next(c for c in cookies if c.startswith("cc_session="))
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Secure" not in session
    session_client, csrf = await sign_in(app, "dave")
    response = await session_client.post("/logout", form={"csrf_token": csrf})
    assert response.status_code == 302
    assert (await session_client.get("/me")).status_code == 302


async def test_exits_are_created_edited_and_bound_from_the_pages(
    app: QuartTrio, people: dict[str, Any], services: Services
) -> None:
    admin, csrf = await sign_in(app, "pageadmin")
    form = {
        "csrf_token": csrf,
        "kind": "socks5",
        "label": "paris",
        "server": "198.18.2.1",
        "port": "not-a-port",
        "username": "u",
        "password": "socks-secret-77",
        "expected_ip": "198.18.2.1",
        "dns_server": "198.18.1.53",
        "verify_url": "http://198.18.1.1/",
        "verify_dns_name": "myaddr.sim.test",
    }
    bad = await admin.post("/admin/exits", form=form)
    assert bad.status_code == 422 and 'class="field-error"' in await bad.get_data(as_text=True)
    created = await admin.post("/admin/exits", form={**form, "port": "1080"})
    assert created.status_code == 302, await created.get_data(as_text=True)
    shown = await admin.get(created.headers["Location"])
    text = await shown.get_data(as_text=True)
    assert shown.status_code == 200 and "paris" in text and "socks-secret-77" not in text
    exit_id = created.headers["Location"].rsplit("/", 1)[1]
    edited = await admin.post(
        f"/admin/exits/{exit_id}", form={**form, "port": "1081", "password": ""}
    )
    assert edited.status_code == 302  # POST-redirect-GET
    _, spec = await services.exits.exit_and_spec(uuid.UUID(exit_id))
    assert spec.port == 1081 and spec.password == "socks-secret-77"  # an empty secret is kept
    tested = await admin.post(f"/admin/exits/{exit_id}/test", form={"csrf_token": csrf})
    assert tested.status_code == 302 and "/tests/" in tested.headers["Location"]
    assert (await admin.get(tested.headers["Location"])).status_code == 200

    host = people["host"]
    bound = await admin.post(
        f"/admin/hosts/{host.id}/exit", form={"csrf_token": csrf, "egress_ip_id": exit_id}
    )
    assert bound.status_code == 302
    assert (await services.hosts.get(host.id)).egress.label == "paris"  # type: ignore[union-attr]
    for kind in ("direct", "shadowsocks", "vmess", "vless", "trojan", "http"):
        assert (await admin.get(f"/admin/exits/new?kind={kind}")).status_code == 200


async def test_errors_are_friendly_pages_with_their_code(
    app: QuartTrio, people: dict[str, Any]
) -> None:
    admin, _ = await sign_in(app, "pageadmin")
    for path in (f"/admin/hosts/{uuid.uuid4()}", "/admin/no-such-page", "/admin/hosts/not-an-id"):
        response = await admin.get(path)
        text = await response.get_data(as_text=True)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["Content-Type"] and "<main>" in text, path
        assert re.search(r"(STATE|SYSTEM)_\d{3}", text), text
    api = await admin.get(f"/v1/admin/hosts/{uuid.uuid4()}")
    assert api.headers["Content-Type"].startswith("application/json")  # the API stays JSON
