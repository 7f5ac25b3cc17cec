"""Sessions on the pages (cloudclaude/domain/sessions.py, web/pages/session.py): sign-out on the
server, a page SSE stream closing when its session ends, and the forms asking for the password
when the sign-in is not recent."""

from __future__ import annotations

from typing import Any

import attrs
import trio
from quart_trio import QuartTrio

from cloudclaude.app.wiring import Services
from cloudclaude.db.pool import Database
from tests.integration.conftest import ADMIN_PASSWORD
from tests.integration.processes import free_port
from tests.integration.test_sessions import (
    PASSWORD,
    backdate_sign_in,
    end_by,
    follow,
    new_user,
    page_cookie,
    page_signed_in,
    pubkey,
    user_id_of,
)
from tests.polling import until
from web.server import WebServer


def cookie_header(value: str) -> dict[str, str]:
    return {"Cookie": f"cc_session={value}"}


async def test_page_sign_out_signs_out_the_old_cookie_everywhere(
    app: QuartTrio, services: Services
) -> None:
    name = await new_user(services)
    cookie, csrf = await page_cookie(app, name)
    assert await page_signed_in(app, cookie)
    out = await app.test_client().post(
        "/logout", form={"csrf_token": csrf}, headers=cookie_header(cookie)
    )
    assert out.status_code == 302
    # A copy of the cookie (another tab, a stolen one) is signed out as well.
    assert not await page_signed_in(app, cookie)


async def test_a_page_live_stream_closes_when_the_account_is_disabled(
    app: QuartTrio, services: Services, admin: dict[str, Any]
) -> None:
    name = await new_user(services)
    cookie, _ = await page_cookie(app, name)
    settings = attrs.evolve(services.live.current.web, host="127.0.0.1", port=free_port())
    stopping = trio.Event()
    events: list[str] = []
    done = trio.Event()

    async def hello() -> bool:
        return "hello" in events

    async def ended() -> bool:
        return done.is_set()

    async with trio.open_nursery() as nursery:
        await nursery.start(WebServer(app, settings, stopping).run)
        base = f"http://127.0.0.1:{settings.port}"
        nursery.start_soon(follow, base, "/me/live", cookie_header(cookie), events, done)
        with trio.fail_after(30):
            await until(hello)
        await end_by("disable", app, admin, await user_id_of(services, name))
        with trio.fail_after(30):  # the stream re-checks its session on every poll (1 s)
            await until(ended)
        assert events[-1] == "ended"
        stopping.set()
        nursery.cancel_scope.cancel()


async def test_the_keys_page_asks_for_the_password_after_the_window(
    app: QuartTrio, services: Services, db: Database
) -> None:
    name = await new_user(services)
    cookie, csrf = await page_cookie(app, name)
    await backdate_sign_in(db, name)
    refused = await app.test_client().post(
        "/me/keys", form={"csrf_token": csrf, "public_key": pubkey()}, headers=cookie_header(cookie)
    )
    assert refused.status_code == 403
    text = await refused.get_data(as_text=True)
    assert 'name="current_password"' in text and "current password" in text
    added = await app.test_client().post(
        "/me/keys",
        form={"csrf_token": csrf, "public_key": pubkey(), "current_password": PASSWORD},
        headers=cookie_header(cookie),
    )
    assert added.status_code == 200 and "Key added." in await added.get_data(as_text=True)


async def test_the_admin_rotate_form_asks_for_the_admins_password_after_the_window(
    app: QuartTrio, services: Services, admin: dict[str, Any], db: Database
) -> None:
    uid = await user_id_of(services, await new_user(services))
    cookie, csrf = await page_cookie(app, "root-admin", ADMIN_PASSWORD)
    await backdate_sign_in(db, "root-admin")
    path = f"/admin/users/{uid}/rotate-password"
    refused = await app.test_client().post(
        path, form={"csrf_token": csrf}, headers=cookie_header(cookie)
    )
    assert refused.status_code == 403
    text = await refused.get_data(as_text=True)
    assert "current password" in text and 'id="new-password"' not in text
    rotated = await app.test_client().post(
        path,
        form={"csrf_token": csrf, "current_password": ADMIN_PASSWORD},
        headers=cookie_header(cookie),
    )
    assert rotated.status_code == 303  # POST-redirect-GET: shown once by the GET
    shown = await app.test_client().get(rotated.headers["Location"], headers=cookie_header(cookie))
    assert 'id="new-password"' in await shown.get_data(as_text=True)
