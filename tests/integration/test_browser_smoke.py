"""The browser-test groundwork: vendored htmx, its SSE extension and xterm.js work in Chromium.

A small Quart app on hypercorn (127.0.0.1 only) serves ``web/static/`` as ``/static`` and a
page that loads the vendored files the way the real templates do; headless Chromium drives it
through ``tests/integration/browser.py``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from html import escape
from pathlib import Path

import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response, request
from quart_trio import QuartTrio

from tests.integration.browser import Browser
from tests.integration.processes import free_port

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
VENDOR = STATIC / "vendor"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>smoke</title>
<link rel="stylesheet" href="/static/vendor/xterm.css">
<script src="/static/vendor/htmx.min.js" defer></script>
<script src="/static/vendor/htmx-ext-sse.js" defer></script>
<script src="/static/vendor/xterm.js"></script>
<script src="/static/vendor/xterm-addon-fit.js"></script>
</head><body>
<h1>Browser smoke test</h1>
<button id="load" hx-get="/fragment" hx-target="#target">load</button>
<div id="target">not yet</div>
<div hx-ext="sse" sse-connect="/events" sse-swap="greeting" id="live">waiting for sse</div>
<form method="post" action="/submit">
  <label>Name <input name="name" id="name"></label>
  <button type="submit" id="submit">send</button>
</form>
<div id="term" style="width: 90vw; height: 200px"></div>
<script>
  if (window.Terminal) {
    window.term = new Terminal({ rows: 8 });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(document.getElementById("term"));
    fit.fit();
    window.addEventListener("resize", () => fit.fit());
    term.write("xterm says hi");
  }
</script>
</body></html>
"""


def smoke_app() -> QuartTrio:
    app = QuartTrio(__name__, static_folder=str(STATIC), static_url_path="/static")

    @app.get("/")
    async def index() -> str:
        return PAGE

    @app.get("/fragment")
    async def fragment() -> str:
        return '<p id="swapped">swapped by htmx</p>'

    @app.get("/events")
    async def events() -> Response:
        async def stream() -> AsyncIterator[bytes]:
            yield b'event: greeting\ndata: <span id="sse-msg">hello over sse</span>\n\n'
            await trio.sleep_forever()

        response = Response(stream(), content_type="text/event-stream")
        response.timeout = None
        return response

    @app.post("/submit")
    async def submit() -> str:
        form = await request.form
        return f'<!doctype html><title>sent</title><p id="result">hello, {escape(form["name"])}</p>'

    return app


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """The smoke app on a loopback port; yields its base URL."""
    if not (VENDOR / ".stamp").exists():
        pytest.fail("web/static/vendor/ is not installed: run `make web-assets`")
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 1.0
    stopping = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: serve(
                smoke_app(), config, shutdown_trigger=stopping.wait, task_status=task_status
            )
        )
        yield f"http://127.0.0.1:{port}"
        stopping.set()


async def test_vendored_htmx_sse_and_xterm_work_in_chromium(browser: Browser, server: str) -> None:
    page = await browser.new_page(f"{server}/")
    assert await page.evaluate("typeof window.htmx") == "object"
    assert await page.evaluate("typeof window.Terminal") == "function"
    assert await page.evaluate("typeof window.FitAddon.FitAddon") == "function"
    assert await page.evaluate("htmx.version") == "2.0.11"

    await page.click("#load")
    with trio.fail_after(10):
        await page.wait_for_text("swapped by htmx", "#target")
        await page.wait_for_text("hello over sse", "#live")
        await page.wait_for_text("xterm says hi", ".xterm-rows")

    wide = await page.evaluate("term.cols")
    await page.set_viewport(640, 600)
    with trio.fail_after(10):
        await page.wait_for_js("(wide) => term.cols < wide", wide)

    shot = await page.screenshot("browser-smoke")
    assert shot.is_file()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.errors == []
    assert page.requests
    assert all(url.startswith(f"{server}/") for url in page.requests), page.requests
    await page.close()  # drops the SSE stream before the server stops


async def test_a_plain_form_submit_works_with_javascript_disabled(
    browser: Browser, server: str
) -> None:
    page = await browser.new_page(f"{server}/", javascript=False)
    await page.fill("#name", "<b>ada</b>")
    await page.click("#submit")
    with trio.fail_after(10):
        text = await page.wait_for_text("hello, <b>ada</b>", "#result")
    assert text == "hello, <b>ada</b>"
    assert await page.url() == f"{server}/submit"
    assert await page.text("#target") == ""  # no such element on the result page
    await page.screenshot("browser-smoke-no-js")
    assert all(url.startswith(f"{server}/") for url in page.requests), page.requests
