"""The exit form in real Chromium: a refused form shows every problem at once, each next to
its field, with the first one focused (the page scrolls to it), on create and on edit."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.browser import Browser
from tests.integration.conftest import ADMIN_PASSWORD
from tests.integration.test_browser_pages import (  # noqa: F401 (the served fixture)
    ACTOR,
    Served,
    served,
    sign_in,
)

GOOD: dict[str, Any] = {
    "kind": "socks5",
    "label": "form-exit",
    "server": "198.18.2.1",
    "port": 1080,
    "username": "u",
    "password": "socks-secret-77",
    "expected_ip": "198.18.2.1",
    "dns_server": "198.18.1.53",
    "verify_url": "http://198.18.1.1/",
    "verify_dns_name": "myaddr.sim.test",
}


@pytest.mark.parametrize("javascript", [True, False])
async def test_every_problem_of_a_new_exit_shows_at_once(
    served: Served,  # noqa: F811 (the fixture imported above)
    browser: Browser,
    javascript: bool,
) -> None:
    exits = served.stack.services.exits
    before = (await exits.list_exits(limit=50, offset=0)).total
    page = await sign_in(browser, served.url, "root-admin", ADMIN_PASSWORD, javascript=javascript)
    await page.wait_for_text("Dashboard")
    await page.goto(f"{served.url}/admin/exits/new?kind=socks5")
    bad = {
        "label": "no spaces here",
        "server": "::1",
        "port": "not-a-port",
        "dns_server": "nope",
        "verify_url": "ftp://x",
        "password": "secret-without-user",
    }
    for name, value in bad.items():
        await page.fill(f"#{name}", value)
    await page.click("#exit-form button[type=submit]")
    await page.wait_for_selector("#label + .field-error")
    wanted = {
        "label": "A-Z",
        "server": "IPv4",
        "port": "must be a number",
        "dns_server": "not an IP address",
        "expected_ip": "required",
        "verify_url": "http://",
        "username": "required when a password is set",
    }
    for name, words in wanted.items():
        shown = await page.text(f"#{name} + .field-error")
        assert words in shown, (name, shown)
    assert await page.count("#exit-form .field-error") == len(wanted)
    assert await page.evaluate("document.activeElement.id") == "label"  # the first, focused
    assert await page.evaluate("document.getElementById('port').value") == "not-a-port"
    await page.screenshot(f"admin-exit-errors{'' if javascript else '-no-js'}")
    assert (await exits.list_exits(limit=50, offset=0)).total == before  # nothing made
    assert not page.errors, page.errors


async def test_every_problem_of_an_edited_exit_shows_at_once(
    served: Served,  # noqa: F811 (the fixture imported above)
    browser: Browser,
) -> None:
    exits = served.stack.services.exits
    made = await exits.create(ACTOR, GOOD)
    page = await sign_in(browser, served.url, "root-admin", ADMIN_PASSWORD)
    await page.wait_for_text("Dashboard")
    await page.goto(f"{served.url}/admin/exits/{made.id}")
    await page.fill("#dns_server", "")
    await page.fill("#port", "70000")
    await page.fill("#verify_dns_name", "not a name")
    await page.click("#exit-form button[type=submit]")
    await page.wait_for_selector("#port + .field-error")
    for name, words in {
        "port": "1..65535",
        "dns_server": "required",
        "verify_dns_name": "not a DNS name",
    }.items():
        shown = await page.text(f"#{name} + .field-error")
        assert words in shown, (name, shown)
    # The stored password (left empty: kept) is no problem.
    assert await page.count("#exit-form .field-error") == 3
    assert await page.evaluate("document.activeElement.id") == "dns_server"  # first in the form
    assert (await exits.get(made.id)).port == 1080  # nothing saved
    await page.screenshot("admin-exit-edit-errors")
    assert not page.errors, page.errors
