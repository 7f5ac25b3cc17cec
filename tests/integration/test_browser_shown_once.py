"""Forms that show a secret once, in real Chromium: each is POST-redirect-GET, so the secret
shows on the GET after the form, a reload neither repeats the change (no second user, host or
rotation) nor shows the secret again, and the secret is never in an address. Without
JavaScript the GET's address carries only a one-time handle, bound to the session."""

from __future__ import annotations

import uuid

import pytest

from cloudclaude.errors import CloudClaudeError
from tests.integration.browser import Browser, Page
from tests.integration.conftest import ADMIN_PASSWORD
from tests.integration.test_browser_pages import (  # noqa: F401 (the served fixture)
    ACTOR,
    Served,
    served,
    sign_in,
    stopped_host,
    task_count,
)
from tests.integration.test_sessions import backdate_sign_in

USER_PASSWORD = "pw-" * 4


async def admin_page(browser: Browser, where: Served, **kw: object) -> Page:
    page = await sign_in(browser, where.url, "root-admin", ADMIN_PASSWORD, **kw)
    await page.wait_for_text("Dashboard")
    return page


async def signs_in(where: Served, username: str, password: str) -> bool:
    try:
        await where.stack.services.accounts.login(username, password, None)
    except CloudClaudeError:
        return False
    return True


def never_in_an_address(page: Page, secret: str) -> None:
    assert len(secret) >= 8, secret
    assert not [url for url in page.requests if secret in url], page.requests


@pytest.mark.parametrize("javascript", [True, False])
async def test_a_new_users_password_shows_once_and_a_reload_makes_no_second_user(
    served: Served,  # noqa: F811 (the fixture imported above)
    browser: Browser,
    javascript: bool,
) -> None:
    accounts = served.stack.services.accounts
    name = f"once{'js' if javascript else 'nojs'}"
    page = await admin_page(browser, served, javascript=javascript)
    await page.goto(f"{served.url}/admin/users")
    await page.fill("#username", name)
    await page.click("#create-user button[type=submit]")
    await page.wait_for_text(f"User {name} created")
    password = (await page.text("#new-password")).strip()
    assert await signs_in(served, name, password)
    after_post = await page.url()
    never_in_an_address(page, password)
    await page.screenshot(f"admin-users-created{'' if javascript else '-no-js'}")

    await page.reload()
    await page.wait_for_text("All users")
    assert await page.count("#new-password") == 0  # shown once, then gone
    text = await page.text("main")
    assert password not in text and "already" not in text and "taken" not in text
    assert (await accounts.list_users(limit=10, offset=0, search=name)).total == 1
    assert not page.errors, page.errors

    if not javascript:  # the handle in the address is spent, and no other session can use it
        assert "?shown=" in after_post
        other = await admin_page(browser, served, javascript=False)
        await other.goto(after_post)
        await other.wait_for_text("All users")
        assert await other.count("#new-password") == 0


@pytest.mark.parametrize("javascript", [True, False])
async def test_a_rotated_password_shows_once_and_a_reload_rotates_nothing(
    served: Served,  # noqa: F811 (the fixture imported above)
    browser: Browser,
    javascript: bool,
) -> None:
    user, _ = await served.stack.services.accounts.create(
        ACTOR, username="rotateme", password=USER_PASSWORD
    )
    page = await admin_page(browser, served, javascript=javascript)
    await page.goto(f"{served.url}/admin/users/{user.id}")
    await page.click("#rotate-password button[type=submit]")
    await page.wait_for_selector("#new-password")
    password = (await page.text("#new-password")).strip()
    assert await signs_in(served, "rotateme", password)
    never_in_an_address(page, password)
    if not javascript:  # a GET address now, not the form's POST
        assert "?shown=" in await page.url()

    await page.reload()
    await page.wait_for_text("SSH keys")
    assert await page.count("#new-password") == 0
    assert password not in await page.text("main")
    assert await signs_in(served, "rotateme", password)  # not rotated a second time
    assert not page.errors, page.errors


@pytest.mark.parametrize("javascript", [True, False])
async def test_a_new_hosts_password_shows_once_and_a_reload_makes_no_second_host(
    served: Served,  # noqa: F811 (the fixture imported above)
    browser: Browser,
    javascript: bool,
) -> None:
    services = served.stack.services
    owner, _ = await services.accounts.create(ACTOR, username="hostonce", password=USER_PASSWORD)
    await services.accounts.update(ACTOR, owner.id, max_hosts=3)
    page = await admin_page(browser, served, javascript=javascript)
    await page.goto(f"{served.url}/admin/hosts")
    await page.select("#user_id", str(owner.id))
    await page.fill("#disk_gb", "1")
    await page.click("#create-host button[type=submit]")
    await page.wait_for_selector("#host-password")
    password = (await page.text("#host-password")).strip()
    [host] = (await services.hosts.list_hosts(limit=5, offset=0, user_id=owner.id)).items
    assert await services.hosts.verify_ssh_password(host.id, password)
    never_in_an_address(page, password)
    if not javascript:
        assert "?shown=" in await page.url()

    await page.reload()
    await page.wait_for_text("All hosts")
    assert await page.count("#host-password") == 0
    assert password not in await page.text("main")
    assert (await services.hosts.list_hosts(limit=5, offset=0, user_id=owner.id)).total == 1
    assert not page.errors, page.errors


async def test_the_admins_new_ssh_password_shows_once_and_a_reload_rotates_nothing(
    served: Served,  # noqa: F811 (the fixture imported above)
    browser: Browser,
) -> None:
    hosts = served.stack.services.hosts
    host_id, _ = await stopped_host(served.stack, "adminssh")
    page = await admin_page(browser, served)
    here = f"{served.url}/admin/hosts/{host_id}"
    await page.goto(here)
    before = await task_count(served.stack, host_id)
    await page.click("#ssh-password button[type=submit]")
    await page.wait_for_selector("#new-ssh-password")
    password = (await page.text("#new-ssh-password code")).strip()
    assert await hosts.verify_ssh_password(host_id, password)
    never_in_an_address(page, password)
    await page.screenshot("admin-host-new-ssh-password")

    await page.reload()
    await page.wait_for_text("Recent tasks")
    assert await page.count("#new-ssh-password") == 0
    assert password not in await page.text("main")
    assert await hosts.verify_ssh_password(host_id, password)  # not rotated again
    assert await task_count(served.stack, host_id) == before  # rotating queues no task
    assert not page.errors, page.errors


async def test_the_admins_new_ssh_password_form_asks_for_the_password_when_needed(
    served: Served,  # noqa: F811 (the fixture imported above)
    browser: Browser,
) -> None:
    """Signed in a while ago: the admin's own password is asked, next to its field."""
    host_id, _ = await stopped_host(served.stack, "adminssh2")
    page = await admin_page(browser, served)
    await backdate_sign_in(served.stack.services.db, "root-admin")
    await page.goto(f"{served.url}/admin/hosts/{host_id}")
    await page.click("#ssh-password button[type=submit]")
    await page.wait_for_selector("#ssh_current_password + .field-error")
    assert await page.count("#new-ssh-password") == 0
    await page.fill("#ssh_current_password", ADMIN_PASSWORD)
    await page.click("#ssh-password button[type=submit]")
    await page.wait_for_selector("#new-ssh-password")
    password = (await page.text("#new-ssh-password code")).strip()
    assert await served.stack.services.hosts.verify_ssh_password(host_id, password)
    assert not page.errors, page.errors


async def test_a_users_new_box_and_new_ssh_password_show_once_and_a_reload_repeats_nothing(
    served: Served,  # noqa: F811 (the fixture imported above)
    browser: Browser,
) -> None:
    services = served.stack.services
    user, _ = await services.accounts.create(ACTOR, username="boxonce", password=USER_PASSWORD)
    await services.accounts.update(ACTOR, user.id, max_hosts=3)
    page = await sign_in(browser, served.url, "boxonce", USER_PASSWORD)
    await page.wait_for_text("My boxes")
    await page.click("#new-box button[type=submit]")
    await page.wait_for_selector("#made-password")
    made = (await page.text("#made-password")).strip()
    [host] = (await services.hosts.list_hosts(limit=5, offset=0, user_id=user.id)).items
    assert await services.hosts.verify_ssh_password(host.id, made)
    never_in_an_address(page, made)
    await page.reload()
    await page.wait_for_text("Getting in")
    assert await page.count("#made-password") == 0 and made not in await page.text("main")
    assert (await services.hosts.list_hosts(limit=5, offset=0, user_id=user.id)).total == 1

    await page.click(f"form[action='/me/hosts/{host.id}/rotate-ssh-password'] button")
    await page.wait_for_selector("#new-ssh-password")
    password = (await page.text("#new-ssh-password code")).strip()
    assert password != made and await services.hosts.verify_ssh_password(host.id, password)
    never_in_an_address(page, password)
    await page.screenshot("me-new-ssh-password")
    await page.reload()
    await page.wait_for_text("Getting in")
    assert await page.count("#new-ssh-password") == 0
    assert password not in await page.text("main")
    assert await services.hosts.verify_ssh_password(host.id, password)  # not rotated again
    assert (await services.hosts.list_hosts(limit=5, offset=0, user_id=user.id)).total == 1
    assert not page.errors, page.errors


async def test_a_handle_is_for_its_page_only(
    served: Served,  # noqa: F811 (the fixture imported above)
    browser: Browser,
) -> None:
    """A handle taken to another page shows nothing there and is still good on its own."""
    page = await admin_page(browser, served, javascript=False)
    await page.goto(f"{served.url}/admin/users")
    await page.fill("#username", "handleonce")
    await page.click("#create-user button[type=submit]")
    await page.wait_for_selector("#new-password")
    handle = (await page.url()).split("?shown=", 1)[1]
    await page.goto(f"{served.url}/admin/hosts?shown={handle}")
    await page.wait_for_text("All hosts")
    assert await page.count("#host-password") == 0
    await page.goto(f"{served.url}/admin/users?shown={uuid.uuid4().hex}")
    assert await page.count("#new-password") == 0
    assert not page.errors, page.errors
