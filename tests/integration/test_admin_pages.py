"""Admin pages for people (issue 20), through the Quart test client against real Postgres:
names instead of ids, every error of a failed form next to its field, POST-redirect-GET for
actions, buttons that follow the host's status, the rebuild's confirm step, and a lock-out page
that gives the seconds to wait."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.core.settings import RateLimitSettings
from cloudclaude.domain import host_states
from cloudclaude.model.hosts import HostLimits, HostStatus
from tests.integration.test_pages import _HIDDEN, ACTOR, PASSWORD, sign_in


async def move(services: Services, host_id: uuid.UUID, *path: HostStatus) -> None:
    """Walk the host through ``path`` as the state machine allows (no task runs here)."""
    for status in path:
        current = (await services.hosts.get(host_id)).status
        fields = {"error_code": "STATE_001"} if status == "failed" else {}
        moved = await host_states.compare_and_set(services.db, host_id, [current], status, **fields)
        assert moved is not None


def visible_text(html: str) -> str:
    """The page as a reader sees it: no tags, so no ids in links or ``title=`` tooltips."""
    return re.sub(r"<[^>]*>", " ", html)


async def page_text(client: Any, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, path
    return str(await response.get_data(as_text=True))


@pytest.fixture
async def owner(services: Services) -> dict[str, Any]:
    await services.accounts.create(ACTOR, username="pageadmin", role="admin", password=PASSWORD)
    alice, _ = await services.accounts.create(ACTOR, username="alice", password=PASSWORD)
    host, _, task = await services.hosts.create(
        ACTOR, user_id=alice.id, limits=HostLimits(disk_gb=1)
    )
    return {"alice": alice, "host": host, "task": task}


async def test_admin_tables_show_usernames_and_short_ids_not_ids(
    app: QuartTrio, services: Services, owner: dict[str, Any]
) -> None:
    alice, host = owner["alice"], owner["host"]
    await move(services, host.id, "failed")
    admin, _ = await sign_in(app, "pageadmin")
    for path in ("/admin/hosts", "/admin/tasks", "/admin", "/admin/audit"):
        html = await page_text(admin, path)
        shown = visible_text(html)
        assert str(alice.id) not in shown and str(host.id) not in shown, path
        assert f'title="{host.id}"' in html, path  # the full id on hover
    hosts = visible_text(await page_text(admin, "/admin/hosts"))
    assert "alice" in hosts and host.short_id in hosts
    dashboard = visible_text(await page_text(admin, "/admin"))
    assert host.short_id in dashboard and "alice" in dashboard  # failing hosts, in flight
    tasks = visible_text(await page_text(admin, "/admin/tasks"))
    assert host.short_id in tasks
    audit = visible_text(await page_text(admin, "/admin/audit"))
    assert "alice" in audit and host.short_id in audit
    task = await page_text(admin, f"/admin/tasks/{owner['task'].id}")
    assert host.short_id in visible_text(task) and str(owner["task"].id) in task  # detail: ids


async def test_a_duplicate_username_is_shown_next_to_the_field(
    app: QuartTrio, owner: dict[str, Any]
) -> None:
    admin, csrf = await sign_in(app, "pageadmin")
    response = await admin.post(
        "/admin/users", form={"csrf_token": csrf, "username": "alice", "max_hosts": "1"}
    )
    assert response.status_code == 409
    html = await response.get_data(as_text=True)
    shown = re.search(
        r'id="username"[^>]*autofocus[^>]*>\s*<div class="field-error">([^<]*)<', html
    )
    assert shown is not None, html
    assert "alice" in shown[1] or "taken" in shown[1]
    # The create form sits above the list.
    assert html.index('id="create-user"') < html.index("All users")


async def test_every_error_of_a_form_shows_at_once(app: QuartTrio, owner: dict[str, Any]) -> None:
    admin, csrf = await sign_in(app, "pageadmin")
    form = {"csrf_token": csrf, "username": "Bad Name", "max_hosts": "many", "expires_at": "soon"}
    response = await admin.post("/admin/users", form=form)
    assert response.status_code == 422
    html = await response.get_data(as_text=True)
    for field in ("username", "max_hosts", "expires_at"):
        assert re.search(rf'id="{field}"[^>]*>\s*<div class="field-error">', html), field
    host_form = {
        "csrf_token": csrf,
        "user_id": str(owner["alice"].id),
        "cpus": "nan",
        "disk_gb": "0",
        "timezone": "Mars/Olympus",
    }
    response = await admin.post("/admin/hosts", form=host_form)
    assert response.status_code == 422
    html = await response.get_data(as_text=True)
    assert html.count('class="field-error"') == 3, html
    assert "must be a finite number" in html and "disk_gb must be between" in html
    assert "is not in the tz database" in html


async def test_a_host_over_max_hosts_says_so_next_to_the_user(
    app: QuartTrio, owner: dict[str, Any]
) -> None:
    admin, csrf = await sign_in(app, "pageadmin")
    form = {"csrf_token": csrf, "user_id": str(owner["alice"].id), "disk_gb": "1"}
    response = await admin.post("/admin/hosts", form=form)
    assert response.status_code == 409
    html = await response.get_data(as_text=True)
    shown = re.search(r'id="user_id"[^>]*autofocus.*?<div class="field-error">([^<]*)<', html, re.S)
    assert shown is not None and "max_hosts" in shown[1], html
    assert html.index('id="create-host"') < html.index('id="hosts-table"')


async def test_actions_redirect_and_a_reload_repeats_nothing(
    app: QuartTrio, services: Services, owner: dict[str, Any]
) -> None:
    host = owner["host"]
    await services.hosts.tasks.cancel(ACTOR, str(owner["task"].id))  # no task in the way
    await move(services, host.id, "stopped")
    admin, csrf = await sign_in(app, "pageadmin")
    here = f"/admin/hosts/{host.id}"
    before = (await services.tasks.page(limit=50, offset=0, host_id=host.id)).total
    response = await admin.post(f"{here}/start", form={"csrf_token": csrf})
    assert response.status_code == 302
    assert response.headers["Location"] == f"{here}?done=start#actions"
    for _ in range(2):  # the page it lands on, then a reload: a GET, no second task
        assert "Start queued." in await page_text(admin, f"{here}?done=start")
    assert (await services.tasks.page(limit=50, offset=0, host_id=host.id)).total == before + 1
    # Opening an action's address is no 405: it leads to the object's page.
    for path, target in (
        (f"{here}/start", here),
        (f"{here}/delete", here),
        (f"{here}/exit", here),
        (f"/admin/users/{owner['alice'].id}/disable", f"/admin/users/{owner['alice'].id}"),
        (f"/admin/users/{owner['alice'].id}/keys/{uuid.uuid4()}/delete", None),
    ):
        opened = await admin.get(path)
        assert opened.status_code == 302, path
        assert opened.headers["Location"] == (target or f"/admin/users/{owner['alice'].id}")
    # A refused action (here: the start task still queued) redirects too; the page says why.
    busy = await admin.post(f"{here}/start", form={"csrf_token": csrf})
    assert busy.status_code == 302 and "failed=start" in busy.headers["Location"]
    text = visible_text(await page_text(admin, busy.headers["Location"].split("#")[0]))
    assert "Start did not happen" in text and "host_busy" in text
    disabled = await admin.post(
        f"/admin/users/{owner['alice'].id}/disable", form={"csrf_token": csrf}
    )
    assert disabled.status_code == 302 and disabled.headers["Location"].endswith("?done=disabled")


async def test_buttons_follow_the_status_and_rebuild_asks_first(
    app: QuartTrio, services: Services, owner: dict[str, Any]
) -> None:
    host = owner["host"]
    await services.hosts.tasks.cancel(ACTOR, str(owner["task"].id))
    admin, csrf = await sign_in(app, "pageadmin")
    here = f"/admin/hosts/{host.id}"
    await move(services, host.id, "stopped", "running")
    html = await page_text(admin, here)
    assert f'action="{here}/stop"' in html and f'action="{here}/start"' not in html
    assert f'href="{here}/rebuild"' in html
    refused = await admin.post(f"{here}/start", form={"csrf_token": csrf})
    assert "error=STATE_013" in refused.headers["Location"]
    said = visible_text(await page_text(admin, refused.headers["Location"].split("#")[0]))
    assert "Start is not possible while the host is running" in said
    await move(services, host.id, "stopped")
    html = await page_text(admin, here)
    assert f'action="{here}/start"' in html and f'action="{here}/stop"' not in html
    assert f'action="{here}/verify-egress"' not in html

    unconfirmed = await admin.post(f"{here}/rebuild", form={"csrf_token": csrf})
    assert unconfirmed.status_code == 302 and unconfirmed.headers["Location"] == f"{here}/rebuild"
    confirm = visible_text(await page_text(admin, f"{here}/rebuild"))
    assert "everything outside the home is lost" in confirm
    tasks = (await services.tasks.page(limit=50, offset=0, host_id=host.id)).total
    assert tasks == 1  # the confirm step queued nothing
    done = await admin.post(f"{here}/rebuild", form={"csrf_token": csrf, "confirm": "rebuild"})
    assert done.headers["Location"] == f"{here}?done=rebuild#actions"
    latest = await services.tasks.page(limit=1, offset=0, host_id=host.id)
    assert latest.items[0].kind == "rebuild"


async def test_the_lock_out_page_gives_the_seconds_to_wait(
    app: QuartTrio, services: Services
) -> None:
    services.accounts.configure_limits(RateLimitSettings(login_per_user=2))
    await services.accounts.create(ACTOR, username="lockme", password=PASSWORD)
    client = app.test_client()
    statuses = []
    for _ in range(3):
        form = await client.get("/login")
        token = _HIDDEN.search(await form.get_data(as_text=True))
        assert token is not None
        answer = await client.post(
            "/login",
            form={"username": "lockme", "password": "wrong-password-1", "csrf_token": token[1]},
        )
        statuses.append(answer.status_code)
    assert statuses == [401, 401, 429]
    wait = int(answer.headers["Retry-After"])
    text = visible_text(await answer.get_data(as_text=True))
    assert f"Try again in {wait} second" in text and "AUTH_007" in text
    assert 'id="username"' in await answer.get_data(as_text=True)  # the form, to try later


async def test_an_exit_error_is_shown_next_to_its_field(
    app: QuartTrio, owner: dict[str, Any]
) -> None:
    admin, csrf = await sign_in(app, "pageadmin")
    form = {"csrf_token": csrf, "kind": "socks5", "label": "x", "server": "198.18.2.1"}
    response = await admin.post("/admin/exits", form={**form, "port": "not-a-port"})
    assert response.status_code == 422
    html = await response.get_data(as_text=True)
    shown = re.search(r'id="port"[^>]*>\s*<div class="field-error">([^<]*)<', html)
    assert shown is not None and "must be a number" in shown[1], html
    # Every other problem shows at once too; the first field of the form has the focus.
    assert re.search(r'id="expected_ip"[^>]*autofocus[^>]*>\s*<div class="field-error">', html)
    assert re.search(r'id="dns_server"[^>]*>\s*<div class="field-error">', html)
    listing = await page_text(admin, "/admin/exits")
    assert listing.index('href="/admin/exits/new"') < listing.index("<table>")  # new at the top


async def test_the_audit_log_filters_by_username_and_short_id(
    app: QuartTrio, services: Services, owner: dict[str, Any]
) -> None:
    host = owner["host"]
    admin, _ = await sign_in(app, "pageadmin")
    by_user = visible_text(await page_text(admin, "/admin/audit?user=alice"))
    everything = visible_text(await page_text(admin, "/admin/audit"))
    assert "alice" in by_user and "of 2" in by_user and "of 2" not in everything
    by_host = visible_text(await page_text(admin, f"/admin/audit?host={host.short_id}"))
    assert host.short_id in by_host
    unknown = await admin.get("/admin/audit?user=nobody-here")
    assert unknown.status_code == 400
    assert "SYSTEM_025" in await unknown.get_data(as_text=True)
