"""The sign-in page, the API reference, an error page (404) and the terminal page in real
Chromium, at a desktop (1280 px) and a phone (390 px) width: nothing overflows sideways, "Sign
out" is in view where someone is signed in, and a screenshot of each goes to
test-artifacts/screenshots/."""

from __future__ import annotations

import pytest

from tests.integration.browser import Browser, Page
from tests.integration.test_browser_pages import (  # noqa: F401 (the served fixture)
    PHONE,
    Served,
    served,
    sign_in,
    stopped_host,
)

DESKTOP = 1280
HEIGHT = 844
#: The "Sign out" button's box, the viewport's size and the button's text.
SIGN_OUT = """() => {
  const button = document.querySelector('header.top .who button');
  if (!button) return null;
  const r = button.getBoundingClientRect();
  return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,
          width: innerWidth, height: innerHeight, text: button.textContent.trim()};
}"""


async def fits(page: Page, width: int, what: str) -> None:
    """Nothing is wider than the window (no sideways scrolling)."""
    inner = await page.evaluate("innerWidth")
    scroll = await page.evaluate("document.scrollingElement.scrollWidth")
    assert inner == width and scroll <= inner, (what, width, scroll)


async def sign_out_in_view(page: Page, what: str) -> None:
    box = await page.evaluate(SIGN_OUT)
    assert box is not None, what
    assert box["text"] == "Sign out", (what, box)
    assert 0 <= box["left"] < box["right"] <= box["width"], (what, box)
    assert 0 <= box["top"] < box["bottom"] <= box["height"], (what, box)
    assert await page.run(lambda p: p.locator("header.top .who button").is_visible()), what


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
async def test_sign_in_error_and_terminal_pages_fit_the_width(
    served: Served,  # noqa: F811 (the fixture imported above)
    browser: Browser,
    width: int,
) -> None:
    host_id, _ = await stopped_host(served.stack, f"layout{width}")
    login = await browser.new_page(f"{served.url}/login", width=width, height=HEIGHT)
    await login.wait_for_text("Sign in", "h1")
    await fits(login, width, "sign-in")
    await login.screenshot(f"sign-in-{width}")
    assert not login.errors, login.errors
    await login.goto(f"{served.url}/docs/api")  # public: the API reference
    await login.wait_for_text("API reference", "h1")
    await fits(login, width, "api reference")
    await login.screenshot(f"docs-api-{width}")

    page = await sign_in(
        browser, served.url, f"layout{width}", "pw-" * 4, width=width, height=HEIGHT
    )
    await page.wait_for_text("My boxes")
    await page.goto(f"{served.url}/me/no-such-page")
    await page.wait_for_text("HTTP 404")
    await fits(page, width, "404")
    await sign_out_in_view(page, "404")
    await page.screenshot(f"error-404-{width}")

    await page.goto(f"{served.url}/me/hosts/{host_id}/terminal")
    await page.wait_for_selector("#terminal .xterm-screen")
    # The box is stopped: the page says so and keeps trying by itself.
    await page.wait_for_js("document.getElementById('term-state').dataset.state !== 'connecting'")
    await fits(page, width, "terminal")
    await sign_out_in_view(page, "terminal")
    await page.screenshot(f"terminal-{width}")
    assert not page.errors, page.errors
