"""The Credentials and Usage pages in real Chromium (issue 18): an admin stores, rotates and
deletes a key through the forms, and the usage chart draws each user's daily tokens; both
pages fit a phone (390 px) and a desktop (1280 px), with screenshots of each in
test-artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import attrs
import pytest
import trio

from cloudclaude.app.wiring import Services
from cloudclaude.core.settings import CredentialsSettings, LiveSettings, Settings
from cloudclaude.model.audit import Actor
from cloudclaude.model.credentials import UsageRow
from tests.integration.browser import Browser, Page
from tests.integration.test_browser_pages import PHONE, sign_in
from web.app import create_app
from web.server import WebServer

ACTOR = Actor(name="test")
PASSWORD = "browser-password-1"
DESKTOP = 1280
KEY = "sk-ant-api03-browser-team-key-00-BRWS"
NEW_KEY = "sk-ant-api03-browser-rotated-key-NEWK"


@pytest.fixture
async def base(settings: Settings, services: Services) -> AsyncIterator[str]:
    """The pages over plain HTTP on a loopback port (no dockerd, no agent work needed)."""
    web_settings = attrs.evolve(settings.web, host="127.0.0.1", port=0)
    stopping = trio.Event()
    server = WebServer(create_app(LiveSettings(settings), services), web_settings, stopping)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        yield server.binds[0]
        stopping.set()


async def fits(page: Page, width: int) -> None:
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, (width, scroll)


async def admin_page(browser: Browser, base: str, services: Services, width: int) -> Page:
    found = await services.accounts.list_users(limit=1, offset=0, search="keyadmin")
    if not found.total:
        await services.accounts.create(ACTOR, username="keyadmin", role="admin", password=PASSWORD)
    page = await sign_in(browser, base, "keyadmin", PASSWORD, width=width, height=900)
    await page.wait_for_text("Dashboard")
    return page


async def test_an_admin_stores_rotates_and_deletes_a_key(
    base: str, services: Services, browser: Browser
) -> None:
    for name in ("rosa", "sam"):
        await services.accounts.create(ACTOR, username=name, password=PASSWORD)
    page = await admin_page(browser, base, services, DESKTOP)
    await page.click("a[href='/admin/credentials']")
    await page.wait_for_selector("#create-credential")
    await page.fill("#name", "team")
    await page.fill("#key", KEY)
    await page.fill("#users", "rosa, sam")
    await page.check("#create-credential input[name=default]")
    await page.click("#create-credential button[type=submit]")
    await page.wait_for_text("Key stored.")
    table = await page.text("#credentials")
    assert "sk-ant-…BRWS" in table and "rosa, sam" in table and "team default" in table
    html = await page.evaluate("document.documentElement.outerHTML")
    assert (
        KEY[:-4] not in html and await page.evaluate("document.querySelector('#key').value") == ""
    )
    await fits(page, DESKTOP)
    await page.screenshot(f"admin-credentials-{DESKTOP}")

    cid = (await services.credentials.resolve("team")).id
    await page.click(f"#manage-{cid} summary")
    await page.fill(f"#key-{cid}-new", NEW_KEY)
    await page.click(f"form[action='/admin/credentials/{cid}/rotate'] button[type=submit]")
    await page.wait_for_text("Key replaced")
    assert "sk-ant-…NEWK" in await page.text("#credentials")
    rosa = await services.accounts.get_by_username("rosa")
    key = await services.credentials.key_for(rosa.id)
    assert key is not None and key.secret == NEW_KEY

    phone = await admin_page(browser, base, services, PHONE)
    await phone.goto(f"{base}/admin/credentials")
    await phone.wait_for_selector("#credentials")
    await fits(phone, PHONE)
    await phone.screenshot(f"admin-credentials-{PHONE}")

    await page.click(f"#manage-{cid} summary")
    await page.click(f"a[href='/admin/credentials/{cid}/delete']")
    await page.wait_for_text("Delete key team?")
    assert "rosa, sam" in await page.text("main")
    await page.screenshot("admin-credential-delete")
    await page.click("main form button[type=submit]")
    await page.wait_for_text("Key deleted")
    assert await services.credentials.list_keys() == []
    assert not page.errors and not phone.errors, (page.errors, phone.errors)


def usage(user_id: object, tokens: int, model: str = "claude-sonnet-4") -> UsageRow:
    return UsageRow(
        user_id=user_id,  # type: ignore[arg-type]
        host_id=None,
        credential_id=None,
        kind="team",
        model=model,
        input_tokens=tokens,
        output_tokens=tokens // 4,
        cache_creation_tokens=0,
        cache_read_tokens=tokens // 2,
        status=200,
        latency_ms=20,
    )


async def test_the_usage_chart_shows_daily_tokens_by_user(
    base: str, services: Services, browser: Browser
) -> None:
    today = dt.datetime.now(dt.UTC)
    for name, daily in (("tara", (4000, 9000, 2500)), ("umar", (1200, 0, 6000))):
        user, _ = await services.accounts.create(ACTOR, username=name, password=PASSWORD)
        for back, tokens in enumerate(daily):
            if tokens:
                await services.llm_usage.record(usage(user.id, tokens))
                await services.db.execute(
                    "UPDATE llm_usage SET at = $1 WHERE id = (SELECT max(id) FROM llm_usage)",
                    today - dt.timedelta(days=back),
                )
    for width in (DESKTOP, PHONE):
        page = await admin_page(browser, base, services, width)
        await page.goto(f"{base}/admin/usage?group_by=user")
        await page.wait_for_selector("#usage-chart svg.chart")
        assert await page.count("#usage-chart svg rect") == 5  # one per user-day with tokens
        legend = await page.text("#usage-legend")
        assert "tara" in legend and "umar" in legend
        rows = await page.text("#usage-table")
        assert "tara" in rows and "umar" in rows
        drawn = await page.evaluate(
            "document.querySelector('#usage-chart svg').getBoundingClientRect().width"
        )
        assert 0 < drawn <= width
        await fits(page, width)
        await page.screenshot(f"admin-usage-{width}")
        assert not page.errors, page.errors


async def test_the_users_page_shows_their_key_budget_and_notice(
    base: str, services: Services, browser: Browser
) -> None:
    vera, _ = await services.accounts.create(ACTOR, username="vera", password=PASSWORD)
    await services.credentials.create(ACTOR, "team", KEY, default=True)
    live = services.live
    live.current = attrs.evolve(live.current, credentials=CredentialsSettings(user_keys=True))
    await services.llm_usage.set_budget(ACTOR, vera.id, 10_000)
    await services.llm_usage.record(usage(vera.id, 6000))  # 6,000 + 1,500 + 3,000 tokens
    for width in (DESKTOP, PHONE):
        page = await sign_in(browser, base, "vera", PASSWORD, width=width, height=900)
        await page.wait_for_selector("#claude")
        said = await page.text("#claude")
        assert "sk-ant-…BRWS" in said and "the team default" in said, said
        assert "whole monthly token budget" in said  # 10,500 of 10,000
        assert await page.count("#add-own-key") == 1
        await fits(page, width)
        await page.run(lambda p: p.locator("#claude").scroll_into_view_if_needed())
        await page.screenshot(f"me-claude-{width}")
        assert not page.errors, page.errors
