"""Both roles in headless Chromium against the real stack (Postgres, dockerd, agent, egress):
an admin creates a user and a host and watches it start without reloading; the user opens the
browser terminal and types into the same tmux session ssh users see. Screenshots of each page
go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import attrs
import pytest
import trio

from cloudclaude.background.host_stats import StatsSampler
from cloudclaude.core.settings import WebSettings
from cloudclaude.domain import host_states
from cloudclaude.model.audit import Actor
from cloudclaude.model.hosts import HostLimits, HostStatus
from tests.integration.box_exec import exec_in_host
from tests.integration.browser import Browser, Page
from tests.integration.conftest import ADMIN_PASSWORD
from tests.integration.hoststack import Stack
from tests.integration.netsim import SimInternet
from tests.integration.sshstack import SshStack
from web.server import WebServer


async def sign_in(browser: Browser, base: str, username: str, password: str, **kw: object) -> Page:
    page = await browser.new_page(f"{base}/login", **kw)  # type: ignore[arg-type]
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("form[action='/login'] button[type=submit]")
    return page


async def until_shown(page: Page, host_id: str, text: str, times: int) -> None:
    """Wait until the terminal shows ``text`` ``times`` times; when it does not, fail with
    what the browser shows and what tmux in the box holds, so a failure says where the keys
    went."""
    with trio.move_on_after(30):
        while (await page.text(".xterm-rows")).count(text) < times:
            await trio.sleep(0.1)
        return
    windows = await exec_in_host(host_id, ["tmux", "list-windows", "-t", "claude"], user="claude")
    panes = [
        await exec_in_host(
            host_id, ["tmux", "capture-pane", "-p", "-t", f"claude:{n}"], user="claude"
        )
        for n in (0, 1)
    ]
    raise AssertionError(
        {
            "wanted": (text, times),
            "browser": await page.text(".xterm-rows"),
            "states": await page.evaluate("window.ccTerminal.states"),
            "tmux windows": windows.stdout,
            "tmux panes": [pane.stdout for pane in panes],
        }
    )


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
    # "Start it now" is on by default: the one task creates and starts it, and the page
    # follows by itself (no reload: SSE swaps the status in).
    with trio.fail_after(180):
        await admin.wait_for_selector("#host-status[data-status=running]")
    await admin.screenshot("admin-host-running")
    services = stack.services
    sampler = StatsSampler(services.hosts, services.agent, services.usage, stack.live, trio.Event())
    for _ in range(3):  # the sampler's rounds, sooner than every stats_period_s
        await sampler.sample_once()
        await trio.sleep(0.5)
    await admin.reload()
    await admin.wait_for_selector("#usage-memory svg.chart")
    await admin.screenshot("admin-host-usage")
    await admin.goto(f"{base}/admin")
    await admin.wait_for_selector("#running-boxes")
    await admin.screenshot("admin-dashboard-running")
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
        await me.wait_for_selector("#term-state[data-state=connected]")
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
    await until_shown(me, str(host.id), "1:shell*", 1)
    await me.type("echo hi-from-browser\n", ".xterm-rows")
    await until_shown(me, str(host.id), "hi-from-browser", 2)
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

    # A dropped connection says so and comes back by itself, into the same tmux session.
    assert await me.evaluate("window.ccTerminal.states") == ["connecting", "connected"]
    await me.evaluate("window.ccTerminal.ws.close()")
    with trio.fail_after(30):
        await me.wait_for_js("window.ccTerminal.states.length === 5")
        await me.wait_for_selector("#term-state[data-state=connected]")
    states = await me.evaluate("window.ccTerminal.states")
    assert states[2:] == ["reconnecting", "reconnecting", "connected"], states
    assert await me.evaluate("window.ccTerminal.attempts") == 2
    assert not await me.run(lambda page: page.locator("#term-reconnect").is_visible())
    await me.type("echo back-again\n", ".xterm-rows")
    await until_shown(me, str(host.id), "back-again", 2)
    await me.screenshot("user-terminal-reconnected")
    assert not me.errors, me.errors


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


# --- admin pages for people (issue 20): no task runs, so each queued action stays queued ---

ACTOR = Actor(name="test")
#: The phone width the layout check uses.
PHONE = 390


@attrs.frozen
class Served:
    url: str
    stack: Stack


@pytest.fixture
async def served(idle_stack: Stack) -> AsyncIterator[Served]:
    """The pages over TLS on a loopback port, without task workers (tasks stay pending)."""
    stopping = trio.Event()
    tls = idle_stack.services.tls
    web = WebServer(idle_stack.app, WebSettings(host="127.0.0.1", port=0), stopping, tls)
    async with trio.open_nursery() as nursery:
        await nursery.start(web.run)
        try:
            yield Served(web.binds[0], idle_stack)
        finally:
            stopping.set()


async def stopped_host(stack: Stack, username: str) -> tuple[uuid.UUID, str]:
    """A user with one host, its create task canceled and the host ``stopped``."""
    services = stack.services
    user, _ = await services.accounts.create(ACTOR, username=username, password="pw-" * 4)
    host, _, task = await services.hosts.create(ACTOR, user_id=user.id, limits=HostLimits())
    await services.hosts.tasks.cancel(ACTOR, str(task.id))
    await move(stack, host.id, "stopped")
    return host.id, host.short_id


async def move(stack: Stack, host_id: uuid.UUID, status: HostStatus) -> None:
    current = (await stack.services.hosts.get(host_id)).status
    assert await host_states.compare_and_set(stack.services.db, host_id, [current], status)


async def task_count(stack: Stack, host_id: uuid.UUID) -> int:
    return (await stack.services.tasks.page(limit=100, offset=0, host_id=host_id)).total


async def settle(stack: Stack, host_id: uuid.UUID) -> None:
    """Cancel the host's queued task, as if it had run (no worker runs it here)."""
    active = await stack.services.hosts.tasks.active_for(host_id)
    if active is not None:
        await stack.services.hosts.tasks.cancel(ACTOR, str(active.id))


@pytest.mark.parametrize("javascript", [True, False])
async def test_a_refused_form_shows_its_409_next_to_the_field(
    served: Served, browser: Browser, javascript: bool
) -> None:
    base, services = served.url, served.stack.services
    full, _ = await services.accounts.create(ACTOR, username="full", password="pw-" * 4)
    await services.accounts.update(ACTOR, full.id, max_hosts=0)
    page = await sign_in(browser, base, "root-admin", ADMIN_PASSWORD, javascript=javascript)
    await page.wait_for_text("Dashboard")
    await page.goto(f"{base}/admin/users")
    await page.fill("#username", "root-admin")  # taken
    await page.click("#create-user button[type=submit]")
    await page.wait_for_selector("#username + .field-error")
    assert "root-admin" in await page.text("#username + .field-error")
    assert await page.evaluate("document.activeElement.id") == "username"  # scrolled to, focused
    await page.screenshot(f"admin-users-409{'' if javascript else '-no-js'}")

    await page.goto(f"{base}/admin/hosts")
    await page.select("#user_id", str(full.id))
    await page.click("#create-host button[type=submit]")
    await page.wait_for_selector("#user_id + .field-error")
    assert "max_hosts" in await page.text("#user_id + .field-error")
    assert await page.evaluate("document.activeElement.id") == "user_id"
    await page.screenshot(f"admin-hosts-409{'' if javascript else '-no-js'}")
    assert not page.errors, page.errors


async def test_an_action_then_a_reload_queues_one_task(served: Served, browser: Browser) -> None:
    base, stack = served.url, served.stack
    host_id, _ = await stopped_host(stack, "prguser")
    page = await sign_in(browser, base, "root-admin", ADMIN_PASSWORD)
    await page.wait_for_text("Dashboard")
    here = f"{base}/admin/hosts/{host_id}"
    await page.goto(here)
    before = await task_count(stack, host_id)
    await page.click(f"form[action='/admin/hosts/{host_id}/start'] button")
    await page.wait_for_text("Start queued.")
    assert (await page.url()).startswith(f"{here}?done=start")  # a GET address, not the POST
    await page.reload()
    await page.wait_for_text("Start queued.")
    assert "did not happen" not in await page.text("main")
    assert await task_count(stack, host_id) == before + 1
    await page.goto(f"{here}/start")  # the action's address opened: the host, not a 405
    assert await page.url() == here
    assert not page.errors, page.errors


async def test_buttons_follow_the_status_and_rebuild_asks_first(
    served: Served, browser: Browser
) -> None:
    base, stack = served.url, served.stack
    host_id, _ = await stopped_host(stack, "stateuser")
    page = await sign_in(browser, base, "root-admin", ADMIN_PASSWORD)
    await page.wait_for_text("Dashboard")
    here = f"{base}/admin/hosts/{host_id}"
    await page.goto(here)
    buttons = await page.text("#host-actions")
    assert "Start" in buttons and "Stop" not in buttons and "Verify egress" not in buttons
    await move(stack, host_id, "running")
    await page.reload()
    buttons = await page.text("#host-actions")
    assert "Start" not in buttons and "Stop" in buttons and "Verify egress" in buttons
    await page.screenshot("admin-host-running-buttons")

    before = await task_count(stack, host_id)
    await page.click("#rebuild-link")
    await page.wait_for_text("everything outside the home is lost")
    assert await task_count(stack, host_id) == before  # asking is not doing
    await page.screenshot("admin-host-rebuild-confirm")
    await page.click("#rebuild-host button[type=submit]")
    await page.wait_for_text("Rebuild queued.")
    latest = await stack.services.tasks.page(limit=1, offset=0, host_id=host_id)
    assert latest.items[0].kind == "rebuild" and latest.total == before + 1
    await settle(stack, host_id)
    assert not page.errors, page.errors


async def test_the_admin_pages_fit_a_phone(served: Served, browser: Browser) -> None:
    base, stack = served.url, served.stack
    host_id, _ = await stopped_host(stack, "phoneuser")
    page = await sign_in(browser, base, "root-admin", ADMIN_PASSWORD, width=PHONE, height=844)
    await page.wait_for_text("Dashboard")
    user = await stack.services.accounts.get_by_username("phoneuser")
    paths = {
        "": "dashboard",
        "/users": "users",
        f"/users/{user.id}": "user",
        "/hosts": "hosts",
        f"/hosts/{host_id}": "host",
        "/exits": "exits",
        "/tasks": "tasks",
        "/audit": "audit",
    }
    for path, name in paths.items():
        await page.goto(f"{base}/admin{path}")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE, (path, width)
        box = await page.evaluate(
            "(() => { const r = document.querySelector('header.top .who button')"
            ".getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]; })()"
        )
        left, right, top, bottom = box
        assert left >= 0 and right <= PHONE and top >= 0 and top < bottom <= 844, (path, box)
        await page.screenshot(f"admin-{name}-{PHONE}")
    assert not page.errors, page.errors
