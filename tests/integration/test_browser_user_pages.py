"""A user's pages in real Chromium: they fit a phone (390 px) and a desktop (1280 px), with a
screenshot of each; a copy button still works where ``navigator.clipboard`` is missing (any
non-secure origin): it selects the text and says what happened."""

from __future__ import annotations

from tests.integration.browser import Browser
from tests.integration.test_browser_pages import (  # noqa: F401 (the served fixture)
    PHONE,
    Served,
    served,
    sign_in,
    stopped_host,
)
from tests.integration.test_pages import ACTOR

DESKTOP = 1280
USER_PAGES = {"/me": "me-hosts", "/me/keys": "me-keys", "/me/password": "me-password"}


async def test_the_user_pages_fit_a_phone_and_a_desktop(
    served: Served,  # noqa: F811 (the fixture imported above)
    browser: Browser,
) -> None:
    await stopped_host(served.stack, "phoneme")
    for width in (PHONE, DESKTOP):
        page = await sign_in(browser, served.url, "phoneme", "pw-" * 4, width=width, height=844)
        await page.wait_for_text("My boxes")
        for path, name in USER_PAGES.items():
            await page.goto(f"{served.url}{path}")
            scroll = await page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, (path, width, scroll)
            right = await page.evaluate(
                "document.querySelector('header.top .who button').getBoundingClientRect().right"
            )
            assert right <= width, (path, width, right)  # "Sign out" is in view
            await page.screenshot(f"{name}-{width}")
        assert not page.errors, page.errors


async def test_copy_falls_back_to_selecting_the_text(
    served: Served,  # noqa: F811 (the fixture imported above)
    browser: Browser,
) -> None:
    await stopped_host(served.stack, "copyme")
    page = await sign_in(browser, served.url, "copyme", "pw-" * 4)
    await page.wait_for_text("My boxes")
    # As on a plain-HTTP origin: no clipboard API, not a secure context.
    await page.evaluate(
        "Object.defineProperty(navigator, 'clipboard', {value: undefined});"
        "Object.defineProperty(window, 'isSecureContext', {value: false});"
    )
    code = await page.text("#host-key-fingerprint")
    await page.click("#host-key-fingerprint + button[data-copy]")
    said = await page.text("#host-key-fingerprint + button[data-copy]")
    assert said in ("copied", "press Ctrl-C"), said
    assert await page.evaluate("window.getSelection().toString()") == code
    await page.screenshot("me-copy-fallback")
    assert not page.errors, page.errors


async def test_a_user_makes_boxes_on_their_page_up_to_the_limit(
    served: Served,  # noqa: F811 (the fixture imported above)
    browser: Browser,
) -> None:
    services = served.stack.services
    user, _ = await services.accounts.create(ACTOR, username="maker", password="pw-" * 4)
    await services.accounts.update(ACTOR, user.id, max_hosts=2)
    page = await sign_in(browser, served.url, "maker", "pw-" * 4)
    await page.wait_for_text("My boxes")
    for made in (1, 2):
        await page.click("#new-box button[type=submit]")
        await page.wait_for_selector("#made-password")
        boxes = await services.hosts.list_hosts(limit=5, offset=0, user_id=user.id)
        assert boxes.total == made
    # At the limit the form gives way to a note; the boxes are listed.
    assert await page.count("#new-box") == 0 and await page.count("#no-room") == 1
    assert await page.count("#my-hosts .card") == 2
    await page.screenshot("me-self-service-full")
    assert not page.errors, page.errors
