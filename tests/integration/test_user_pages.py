"""A user's own boxes page (issue 20): POST-redirect-GET actions, buttons that follow the
status, the rebuild's confirm step, their own ways in (key, sign-in password, the server's host
key fingerprint), and a new box SSH password on the page, the API and ``cloudclaudectl``
(Quart test client and the real ``cloudclaudectl`` against real Postgres)."""

from __future__ import annotations

from typing import Any

import pytest
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.ctl.server import CtlServer
from cloudclaude.model.hosts import HostLimits
from tests.integration.conftest import bearer
from tests.integration.ctlserver import ctl_run
from tests.integration.test_admin_pages import move, page_text
from tests.integration.test_pages import ACTOR, PASSWORD, sign_in


@pytest.fixture
async def mine(services: Services) -> dict[str, Any]:
    bob, _ = await services.accounts.create(ACTOR, username="bob", password=PASSWORD)
    host, _, task = await services.hosts.create(ACTOR, user_id=bob.id, limits=HostLimits(disk_gb=1))
    await services.hosts.tasks.cancel(ACTOR, str(task.id))  # no worker here: not in the way
    other, _ = await services.accounts.create(ACTOR, username="carol", password=PASSWORD)
    theirs, _, _ = await services.hosts.create(
        ACTOR, user_id=other.id, limits=HostLimits(disk_gb=1)
    )
    return {"bob": bob, "host": host, "theirs": theirs}


async def test_actions_redirect_and_buttons_follow_the_status(
    app: QuartTrio, services: Services, mine: dict[str, Any]
) -> None:
    host = mine["host"]
    await move(services, host.id, "starting", "running")
    client, csrf = await sign_in(app, "bob")
    html = await page_text(client, "/me")
    assert 'data-action="stop"' in html and 'data-action="start"' not in html
    assert 'data-action="rebuild"' in html

    # A start on a running box is not offered, and refused as such if posted anyway.
    refused = await client.post(f"/me/hosts/{host.id}/start", form={"csrf_token": csrf})
    assert refused.status_code == 302 and "error=STATE_013" in refused.headers["Location"]
    where = refused.headers["Location"].split("#")[0]  # a browser keeps the fragment to itself
    assert "did not happen" in await page_text(client, where)

    # Stop: redirected to the page, which says so; a reload (GET) queues nothing more.
    stopped = await client.post(f"/me/hosts/{host.id}/stop", form={"csrf_token": csrf})
    assert stopped.status_code == 302 and "done=stop" in stopped.headers["Location"]
    assert "Stop queued." in await page_text(client, stopped.headers["Location"].split("#")[0])
    again = await client.get(f"/me/hosts/{host.id}/stop")
    assert again.status_code == 302 and again.headers["Location"] == "/me"
    tasks = await services.tasks.page(limit=10, offset=0, host_id=host.id)
    assert [t.kind for t in tasks.items].count("stop") == 1

    # Rebuild asks first and says what is lost.
    asked = await client.post(f"/me/hosts/{host.id}/rebuild", form={"csrf_token": csrf})
    assert asked.headers["Location"] == f"/me/hosts/{host.id}/rebuild"
    confirm = await page_text(client, asked.headers["Location"])
    assert "everything outside the home is lost" in confirm

    # Another user's box does not exist for bob.
    theirs = mine["theirs"]
    hidden = await client.post(f"/me/hosts/{theirs.id}/stop", form={"csrf_token": csrf})
    assert hidden.status_code == 404


async def test_the_page_shows_the_ways_in_and_the_host_key(
    app: QuartTrio, services: Services, mine: dict[str, Any]
) -> None:
    client, _ = await sign_in(app, "bob")
    html = await page_text(client, "/me")
    assert services.ssh_host_key.get_fingerprint("sha256") in html
    assert "/v1/bootstrap/script" in html and "SSH key" in html
    assert f"bob+{mine['host'].short_id}@" in html


async def test_a_user_rotates_their_box_password_on_the_page_and_the_api(
    app: QuartTrio, services: Services, mine: dict[str, Any]
) -> None:
    host = mine["host"]
    client, csrf = await sign_in(app, "bob")
    rotated = await client.post(
        f"/me/hosts/{host.id}/rotate-ssh-password", form={"csrf_token": csrf}
    )
    assert rotated.status_code == 303  # shown once, by the GET after (just signed in)
    html = await (await client.get(rotated.headers["Location"])).get_data(as_text=True)
    marker = f'{host.short_id}</strong>: <code class="mono">'  # "New SSH password for …"
    assert marker in html
    password = html.split(marker, 1)[1].split("<", 1)[0]
    assert await services.hosts.verify_ssh_password(host.id, password)

    login = await services.accounts.login("bob", PASSWORD, "127.0.0.1")
    api = app.test_client()
    answer = await api.post(
        f"/v1/user/hosts/{host.id}/rotate-ssh-password", headers=bearer(login.token)
    )
    assert answer.status_code == 200
    newer = (await answer.get_json())["ssh_password"]
    assert await services.hosts.verify_ssh_password(host.id, newer)
    assert not await services.hosts.verify_ssh_password(host.id, password)
    other = await api.post(
        f"/v1/user/hosts/{mine['theirs'].id}/rotate-ssh-password", headers=bearer(login.token)
    )
    assert other.status_code == 404


async def test_cloudclaudectl_rotates_a_box_password(
    ctl: CtlServer, services: Services, mine: dict[str, Any]
) -> None:
    host = mine["host"]
    done = await ctl_run(ctl, "hosts", "rotate-ssh-password", host.short_id)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert "shown once" in out and "None" not in out
    password = out.split("new ssh password ", 1)[1].split()[0]
    assert await services.hosts.verify_ssh_password(host.id, password)
    missing = await ctl_run(ctl, "hosts", "rotate-ssh-password", "nothere")
    assert missing.returncode == 1 and b"host_not_found" in missing.stderr
