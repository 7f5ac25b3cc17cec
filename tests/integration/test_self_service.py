"""Users making and deleting their own boxes within the admin's limits (issue 20): the API, the
page and ``cloudclaudectl users exits``, against real Postgres (tasks are queued, not run)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.core.settings import UsersSettings
from cloudclaude.ctl.server import CtlServer
from cloudclaude.model.audit import AuditFilter
from tests.integration.conftest import bearer, random_name
from tests.integration.ctlserver import ctl_run
from tests.integration.test_exits_api import SOCKS
from tests.integration.test_pages import ACTOR, PASSWORD, sign_in


@pytest.fixture
async def dana(services: Services, app: QuartTrio) -> dict[str, Any]:
    user, _ = await services.accounts.create(ACTOR, username="dana", password=PASSWORD)
    await services.accounts.update(ACTOR, user.id, max_hosts=2)
    login = await services.accounts.login("dana", PASSWORD, "127.0.0.1")
    exit_ = await services.exits.create(ACTOR, {"label": random_name("x"), **SOCKS})
    return {"user": user, "headers": bearer(login.token), "exit": exit_}


async def call(app: QuartTrio, method: str, path: str, headers: Any, **kw: Any) -> Any:
    response = await app.test_client().open(path, method=method, headers=headers, **kw)
    return response.status_code, await response.get_json()


async def test_a_user_makes_and_deletes_boxes_within_the_limits(
    app: QuartTrio, services: Services, dana: dict[str, Any]
) -> None:
    headers, exit_ = dana["headers"], dana["exit"]
    status, options = await call(app, "GET", "/v1/user/hosts/options", headers)
    assert status == 200 and options["self_service"] is True and options["room"] == 2
    assert [p["name"] for p in options["presets"]] == ["standard"]
    assert options["exits"] == []  # no default exit here, none allowed yet

    # An exit the admin has not allowed is refused; allowed, it is chosen.
    body = {"exit_id": str(exit_.id), "start": False}
    status, refused = await call(app, "POST", "/v1/user/hosts", headers, json=body)
    assert status == 403 and refused["error"]["code"] == "NET_016", refused
    admin = await services.accounts.create(ACTOR, username="boss", role="admin", password=PASSWORD)
    boss = bearer((await services.accounts.login("boss", PASSWORD, "127.0.0.1")).token)
    del admin
    path = f"/v1/admin/users/{dana['user'].id}/exits"
    status, allowed = await call(app, "PUT", path, boss, json={"exits": [exit_.label]})
    assert status == 200 and [e["label"] for e in allowed["exits"]] == [exit_.label]
    assert "server" not in allowed["exits"][0] and "password" not in str(allowed)
    status, made = await call(app, "POST", "/v1/user/hosts", headers, json=body)
    assert status == 201, made
    assert made["ssh_password"] and made["egress_label"] == exit_.label
    assert made["disk_gb"] == services.hosts.defaults.disk_gb  # the standard preset

    # A named preset from users.presets; an unknown one is refused.
    live = services.live
    live.current = attrs.evolve(live.current, users=UsersSettings(presets="tiny:1:1024:2"))
    status, bad = await call(app, "POST", "/v1/user/hosts", headers, json={"preset": "huge"})
    assert status == 422 and "tiny" in bad["error"]["message"], bad
    status, tiny = await call(app, "POST", "/v1/user/hosts", headers, json={"preset": "tiny"})
    assert status == 201 and (tiny["cpus"], tiny["memory_mb"], tiny["disk_gb"]) == (1, 1024, 2)

    # max_hosts holds.
    status, full = await call(app, "POST", "/v1/user/hosts", headers, json={})
    assert status == 409 and full["error"]["slug"] == "host_limit_reached", full
    status, options = await call(app, "GET", "/v1/user/hosts/options", headers)
    assert options["room"] == 0

    # Deleting: their own only; the home goes too. The admin sees who did what.
    for ref in (made, tiny):
        await services.hosts.tasks.cancel(ACTOR, ref["task_id"])
    other, _ = await services.accounts.create(ACTOR, username="erin", password=PASSWORD)
    theirs, _, task = await services.hosts.create(
        ACTOR, user_id=other.id, limits=services.hosts.defaults
    )
    await services.hosts.tasks.cancel(ACTOR, str(task.id))
    status, _ = await call(app, "DELETE", f"/v1/user/hosts/{theirs.id}", headers)
    assert status == 404
    status, gone = await call(app, "DELETE", f"/v1/user/hosts/{made['id']}", headers)
    assert status == 202, gone
    deleting = await services.hosts.tasks.get(gone["task_id"])
    assert deleting.kind == "delete" and deleting.params.get("purge") is True
    events = await services.audit.page(AuditFilter(user_id=dana["user"].id), limit=50)
    actions = {(e.actor, e.metadata.get("action")) for e in events.items}
    assert ("user:dana", "create") in actions and ("user:dana", "delete") in actions, actions

    # Self-service off: refused with its code.
    live.current = attrs.evolve(live.current, users=UsersSettings(self_service=False))
    status, off = await call(app, "POST", "/v1/user/hosts", headers, json={})
    assert status == 403 and off["error"]["code"] == "AUTH_017", off


async def test_the_page_makes_and_deletes_a_box(
    app: QuartTrio, services: Services, dana: dict[str, Any]
) -> None:
    client, csrf = await sign_in(app, "dana")
    page = await (await client.get("/me")).get_data(as_text=True)
    assert 'id="new-box"' in page and page.index('id="new-box"') < page.index('id="my-hosts"')
    made = await client.post("/me/hosts", form={"csrf_token": csrf, "preset": "standard"})
    assert made.status_code == 303  # POST-redirect-GET: a reload makes no second box
    html = await (await client.get(made.headers["Location"])).get_data(as_text=True)
    assert 'id="made-password"' in html
    [host] = (await services.hosts.list_hosts(limit=5, offset=0, user_id=dana["user"].id)).items
    assert host.desired_state == "stopped"  # "start it now" left unticked
    tasks = await services.tasks.page(limit=5, offset=0, host_id=host.id)
    await services.hosts.tasks.cancel(ACTOR, str(tasks.items[0].id))

    wrong = await client.post(
        f"/me/hosts/{host.id}/delete", form={"csrf_token": csrf, "confirm": "nope"}
    )
    assert wrong.status_code == 302 and "failed=delete" in wrong.headers["Location"]
    right = await client.post(
        f"/me/hosts/{host.id}/delete", form={"csrf_token": csrf, "confirm": host.short_id}
    )
    assert right.headers["Location"] == "/me?done=delete"
    latest = await services.tasks.page(limit=1, offset=0, host_id=host.id)
    assert latest.items[0].kind == "delete"


async def test_cloudclaudectl_sets_the_exits_a_user_may_choose(
    ctl: CtlServer, services: Services, dana: dict[str, Any]
) -> None:
    label = dana["exit"].label
    shown = await ctl_run(ctl, "users", "exits", "dana")
    assert shown.returncode == 0 and "dana may choose: -" in shown.stdout.decode()
    given = await ctl_run(ctl, "users", "exits", "dana", label)
    assert given.returncode == 0 and f"{label} (socks5)" in given.stdout.decode()
    assert [e.label for e in await services.self_service.allowed_exits(dana["user"].id)] == [label]
    cleared = await ctl_run(ctl, "users", "exits", "dana", "--clear")
    assert cleared.returncode == 0 and "may choose: -" in cleared.stdout.decode()
    missing = await ctl_run(ctl, "users", "exits", "dana", "nowhere")
    assert missing.returncode == 1 and b"exit_not_found" in missing.stderr


async def test_the_admin_ticks_the_exits_on_the_users_page(
    app: QuartTrio, services: Services, dana: dict[str, Any]
) -> None:
    await services.accounts.create(ACTOR, username="boss2", role="admin", password=PASSWORD)
    client, csrf = await sign_in(app, "boss2")
    exit_ = dana["exit"]
    here = f"/admin/users/{dana['user'].id}"
    page = await (await client.get(here)).get_data(as_text=True)
    assert 'id="user-exits"' in page and exit_.label in page
    saved = await client.post(f"{here}/exits", form={"csrf_token": csrf, "exit": str(exit_.id)})
    assert saved.status_code == 302 and saved.headers["Location"] == f"{here}?done=exits"
    allowed = await services.self_service.allowed_exits(dana["user"].id)
    assert [e.id for e in allowed] == [exit_.id]
    shown = await (await client.get(f"{here}?done=exits")).get_data(as_text=True)
    assert "Exits for their own boxes saved." in shown and "checked" in shown
    cleared = await client.post(f"{here}/exits", form={"csrf_token": csrf})
    assert cleared.status_code == 302
    assert await services.self_service.allowed_exits(dana["user"].id) == []
