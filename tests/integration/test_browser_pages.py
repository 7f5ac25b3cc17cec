"""Both roles in headless Chromium against the real stack (Postgres, dockerd, agent, egress):
an admin creates a user and a host and watches it start without reloading; the user opens the
browser terminal and types into the same tmux session ssh users see. Screenshots of each page
go to test-artifacts/screenshots/."""

from __future__ import annotations

import re

import attrs
import trio

from tests.integration.box_exec import exec_in_host
from tests.integration.browser import Browser, Page
from tests.integration.conftest import ADMIN_PASSWORD
from tests.integration.netsim import SimInternet
from tests.integration.sshstack import SshStack


async def sign_in(browser: Browser, base: str, username: str, password: str, **kw: object) -> Page:
    page = await browser.new_page(f"{base}/login", **kw)  # type: ignore[arg-type]
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("form[action='/login'] button[type=submit]")
    return page


async def test_admin_starts_a_host_and_the_user_types_in_its_terminal(
    ssh_stack: SshStack, browser: Browser
) -> None:
    base, stack = ssh_stack.url, ssh_stack.stack
    admin = await sign_in(browser, base, "root-admin", ADMIN_PASSWORD)
    await admin.wait_for_text("Dashboard")
    await admin.screenshot("admin-dashboard")

    await admin.goto(f"{base}/admin/users")
    await admin.fill("#username", "webuser")
    await admin.click("#create-user button[type=submit]")
    await admin.wait_for_text("User webuser created")
    password = (await admin.text("#new-password")).strip()
    await admin.screenshot("admin-users")
    user = await stack.services.accounts.list_users(limit=5, offset=0, search="webuser")
    [webuser] = user.items

    await admin.goto(f"{base}/admin/hosts")
    await admin.select("#user_id", str(webuser.id))
    await admin.fill("#disk_gb", "1")
    await admin.click("#create-host button[type=submit]")
    await admin.wait_for_text("created")
    await admin.screenshot("admin-hosts")
    hosts = await stack.services.hosts.list_hosts(limit=5, offset=0, user_id=webuser.id)
    [host] = hosts.items

    await admin.goto(f"{base}/admin/hosts/{host.id}")
    with trio.fail_after(120):  # the create task finishes; the page follows by itself
        await admin.wait_for_selector("#host-status[data-status=stopped]")
    await admin.click(f"form[action='/admin/hosts/{host.id}/start'] button")
    with trio.fail_after(180):  # no reload: SSE swaps the status in
        await admin.wait_for_selector("#host-status[data-status=running]")
    await admin.screenshot("admin-host-running")
    shots = {
        "exits": "admin-exits",
        "tasks": "admin-tasks",
        "audit": "admin-audit",
        f"users/{webuser.id}": "admin-user",
        f"hosts/{host.id}/logs": "admin-host-logs",
    }
    for path, shot in shots.items():
        await admin.goto(f"{base}/admin/{path}")
        await admin.screenshot(shot)
    assert not admin.errors, admin.errors

    me = await sign_in(browser, base, "webuser", password)
    await me.wait_for_text("My boxes")
    await me.screenshot("user-boxes")
    assert f"webuser+{host.short_id}@" in await me.text("main")
    for name in ("keys", "password"):
        await me.goto(f"{base}/me/{name}")
        await me.screenshot(f"user-{name}")
    await me.goto(f"{base}/me/hosts/{host.id}/terminal")
    with trio.fail_after(60):
        await me.wait_for_text("connected", "#term-state")
        await me.wait_for_text("0:claude", ".xterm-rows")  # tmux is drawn
    # Terminal answers (tmux asks xterm for its attributes) already counted as activity; from
    # now on every keystroke may count.
    live = stack.services.live
    live.current = attrs.evolve(
        live.current, ssh=attrs.evolve(live.current.ssh, activity_interval_s=0.001)
    )
    before = (await stack.services.hosts.get(host.id)).last_activity_at
    assert before is not None
    await me.press(".xterm-helper-textarea", "Control+b")
    await me.type("1", ".xterm-helper-textarea")  # the shell window
    await me.type("echo hi-from-browser\n", ".xterm-rows")
    with trio.fail_after(30):
        while (await me.text(".xterm-rows")).count("hi-from-browser") < 2:
            await trio.sleep(0.1)
    await me.screenshot("user-terminal")
    pane = await exec_in_host(
        str(host.id), ["tmux", "capture-pane", "-p", "-t", "claude:1"], user="claude"
    )
    assert pane.stdout.count("hi-from-browser") >= 2, pane

    await me.set_viewport(700, 600)  # the fit addon shrinks the terminal and tells the box
    with trio.fail_after(10):
        cols = await me.wait_for_js(
            "window.ccTerminal.term.cols < 100 && window.ccTerminal.term.cols"
        )
    await me.type("clear; tput cols\n", ".xterm-rows")
    with trio.fail_after(30):
        while not re.search(rf"^\s*{cols}\s*$", await me.text(".xterm-rows"), re.M):
            await trio.sleep(0.1)
    assert not me.errors, me.errors
    after = (await stack.services.hosts.get(host.id)).last_activity_at
    assert after is not None and after > before  # typing counts as activity


async def test_the_create_user_form_works_without_javascript(
    ssh_stack: SshStack, browser: Browser
) -> None:
    base = ssh_stack.url
    login = await browser.new_page(f"{base}/login")
    await login.screenshot("sign-in")
    page = await sign_in(browser, base, "root-admin", ADMIN_PASSWORD, javascript=False)
    await page.wait_for_text("Dashboard")
    await page.goto(f"{base}/admin/users")
    await page.fill("#username", "nojs")
    await page.click("#create-user button[type=submit]")
    await page.wait_for_text("User nojs created")
    await page.screenshot("admin-users-no-js")
    found = await ssh_stack.stack.services.accounts.list_users(limit=5, offset=0, search="nojs")
    assert [u.username for u in found.items] == ["nojs"]


async def test_an_exit_is_created_and_tested_with_steps_streaming_in(
    ssh_stack: SshStack, browser: Browser, sim_internet: SimInternet
) -> None:
    base = ssh_stack.url
    body = sim_internet.exits()["socks5"]
    page = await sign_in(browser, base, "root-admin", ADMIN_PASSWORD)
    await page.wait_for_text("Dashboard")
    await page.goto(f"{base}/admin/exits/new?kind=socks5")
    for name in ("server", "port", "username", "password", "expected_ip", "dns_server"):
        await page.fill(f"#{name}", str(body[name]))
    await page.fill("#label", "browser-socks")
    await page.fill("#verify_url", body["verify_url"])
    await page.fill("#verify_dns_name", body["verify_dns_name"])
    await page.click("#exit-form button[type=submit]")
    await page.wait_for_text("Exit browser-socks")
    await page.screenshot("admin-exit")
    await page.click("#test-exit")
    with trio.fail_after(60):  # the steps arrive over SSE; the page is never reloaded
        await page.wait_for_selector("#test-status[data-status=succeeded]")
    steps = await page.text("#test-steps")
    for code in ("egress.probe", "egress.http", "egress.address", "egress.dns", "egress.verified"):
        assert code in steps, steps
    await page.screenshot("admin-exit-test")
    assert not page.errors, page.errors
