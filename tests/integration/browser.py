"""Headless Chromium for the browser tests: Playwright's sync API driven from trio.

Chromium is Debian's ``/usr/bin/chromium`` (``make browser-deps``), launched with the flags of
DESIGN.md section 13; ``playwright install`` is never run and nothing is downloaded.

Why one dedicated thread: Playwright's Python API is either asyncio or sync. asyncio stays
inside ``cloudclaude/db`` and ``cloudclaude/sshproxy`` (DESIGN.md 12.4), and hosting
Playwright's driver subprocess under trio-asyncio adds a second event loop to every browser
test for nothing. The sync API runs its own private asyncio loop on greenlets and is bound to
the thread that started it, so every call must be made on that one thread.
``trio.to_thread.run_sync`` takes any idle thread from trio's cache, so it cannot be used; a
``ThreadPoolExecutor`` with one worker keeps its single thread until shut down, and all calls
are submitted to it. A trio task waits on a ``trio.Event`` set from the future's done callback,
so cancellation (``trio.fail_after`` around a step) takes effect at once; a call already on the
thread still finishes there (bounded by Playwright's own limit, ``CALL_LIMIT_MS``) and later
calls queue behind it.

Waiting for the page happens in trio: the ``wait_for_*`` methods poll a query that never
blocks, so callers bound them with ``trio.fail_after`` (DESIGN.md 12.3); ``WAIT_LIMIT`` is only
a backstop that fails with what the page showed. Playwright delivers page events (console,
errors, requests) only while the thread is inside a call; they are collected on ``Page``.

Everything a test opens is closed when its ``Browser`` session ends, also when the test fails.
Screenshots go to ``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

# Only to give the Playwright thread a plain asyncio loop policy (see ``_start``).
import asyncio  # noqa: TID251
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import trio
from playwright.sync_api import Browser as SyncBrowser
from playwright.sync_api import BrowserContext, ConsoleMessage, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page as SyncPage

T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
#: DESIGN.md section 13, plus a resolver rule that fails every host but loopback ones: pages
#: must load their assets from the server under test (127.0.0.1), never from a CDN.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.*",
)
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
DEFAULT_VIEWPORT = (1280, 800)
#: Playwright's own limit for one blocking call (navigation, a click waiting to be actionable).
CALL_LIMIT_MS = 20_000
#: Backstop for the ``wait_for_*`` polls when the caller set no ``trio.fail_after``.
WAIT_LIMIT = 30.0
POLL_INTERVAL = 0.05


class BrowserWaitError(AssertionError):
    """A ``wait_for_*`` saw nothing matching within ``WAIT_LIMIT``; the message has the page."""


class BrowserThread:
    """The one thread that owns Playwright and Chromium; every call is made on it.

    Made once per test run (a session fixture) with ``launch``; tests get a ``Browser`` session
    from ``session``.
    """

    def __init__(self, executable: str = CHROMIUM) -> None:
        self._executable = executable
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
        self._playwright: Playwright | None = None
        self._browser: SyncBrowser | None = None

    @classmethod
    @contextlib.contextmanager
    def launch(cls, executable: str = CHROMIUM) -> Iterator[BrowserThread]:
        """Start Playwright's driver and Chromium (from sync code); stop both on exit."""
        if not Path(executable).exists():
            raise RuntimeError(f"{executable} is missing: `make browser-deps` installs chromium")
        thread = cls(executable)
        try:
            thread.call_blocking(thread._start)
            yield thread
        finally:
            with contextlib.suppress(Exception):
                thread.call_blocking(thread._stop)
            thread._executor.shutdown(wait=True)

    def _start(self) -> None:
        # trio_asyncio (imported by the db layer) makes asyncio.new_event_loop() return its own
        # loop, which Playwright's private loop must not be; outside trio its patched
        # set_event_loop_policy is thread-local, so this changes nothing for other threads.
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=self._executable, headless=True, args=list(CHROMIUM_ARGS)
        )

    def _stop(self) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            if self._playwright is not None:
                self._playwright.stop()

    @property
    def chromium(self) -> SyncBrowser:
        """The sync Playwright browser; only to be touched inside a function given to ``call``."""
        assert self._browser is not None, "BrowserThread used before launch"
        return self._browser

    def call_blocking(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the Playwright thread and block until it returns (sync callers)."""
        return self._executor.submit(fn).result()

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the Playwright thread; the trio task waits without blocking."""
        future = self._executor.submit(fn)
        done = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def wake(_: Future[T]) -> None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(done.set)

        future.add_done_callback(wake)
        await done.wait()
        return future.result()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Browser]:
        """A ``Browser`` for one test; its contexts and pages are closed at the end, always."""
        browser = Browser(self)
        try:
            yield browser
        finally:
            with trio.move_on_after(2 * CALL_LIMIT_MS / 1000) as scope:
                scope.shield = True
                await browser.close()


class Browser:
    """One test's use of Chromium: each page has its own context (cookies, JS setting)."""

    def __init__(self, thread: BrowserThread) -> None:
        self._thread = thread
        self._contexts: list[BrowserContext] = []

    async def new_page(
        self,
        url: str | None = None,
        *,
        javascript: bool = True,
        width: int = DEFAULT_VIEWPORT[0],
        height: int = DEFAULT_VIEWPORT[1],
    ) -> Page:
        """A page in a fresh context (own cookies), JavaScript on or off, opened at ``url``."""

        def open_page() -> Page:
            # The pages are served over TLS from each test's own local CA; whether clients can
            # trust it (pins, the CA) is test_tls's business, the pages' behaviour is ours.
            context = self._thread.chromium.new_context(
                java_script_enabled=javascript,
                viewport={"width": width, "height": height},
                ignore_https_errors=True,
            )
            self._contexts.append(context)
            context.set_default_timeout(CALL_LIMIT_MS)
            context.set_default_navigation_timeout(CALL_LIMIT_MS)
            return Page(self._thread, context.new_page(), javascript=javascript)

        page = await self._thread.call(open_page)
        if url is not None:
            await page.goto(url)
        return page

    async def close(self) -> None:
        """Close every context this session opened (each close is tried even if one fails)."""

        def close_all() -> None:
            while self._contexts:
                with contextlib.suppress(PlaywrightError):
                    self._contexts.pop().close()

        await self._thread.call(close_all)


class Page:
    """A page in Chromium, with trio-side waits and the events it produced.

    ``errors`` holds uncaught JavaScript exceptions, ``console`` every console message as
    ``"type: text"``, ``requests`` the URL of every request the page made.
    """

    def __init__(self, thread: BrowserThread, page: SyncPage, *, javascript: bool) -> None:
        """Made on the Playwright thread (listeners are registered with the driver)."""
        self._thread = thread
        self._page = page
        self.javascript = javascript
        self.errors: list[str] = []
        self.console: list[str] = []
        self.requests: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._on_console)
        page.on("request", lambda request: self.requests.append(request.url))

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    async def run(self, fn: Callable[[SyncPage], T]) -> T:
        """Escape hatch: run ``fn(sync_page)`` on the Playwright thread (any sync API call)."""
        return await self._thread.call(lambda: fn(self._page))

    async def goto(self, url: str) -> None:
        """Navigate and wait for the ``load`` event."""
        await self.run(lambda page: page.goto(url))

    async def reload(self) -> None:
        await self.run(lambda page: page.reload())

    async def url(self) -> str:
        return await self.run(lambda page: page.url)

    async def fill(self, selector: str, value: str) -> None:
        """Set an input's value (one ``input`` event), as pasting would."""
        await self.run(lambda page: page.fill(selector, value))

    async def click(self, selector: str) -> None:
        """Click the element; a navigation it starts is waited for up to ``load``."""
        await self.run(lambda page: page.click(selector))

    async def press(self, selector: str, key: str) -> None:
        """Press one key (``"Enter"``, ``"Control+C"``) with the element focused."""
        await self.run(lambda page: page.press(selector, key))

    async def type(self, text: str, selector: str | None = None) -> None:
        """Type ``text`` key by key (real keyboard events, as xterm.js needs) into ``selector``,
        or into whatever has the focus."""

        def type_keys(page: SyncPage) -> None:
            if selector is not None:
                page.focus(selector)
            page.keyboard.type(text)

        await self.run(type_keys)

    async def select(self, selector: str, value: str) -> None:
        """Choose an ``<option>`` of a ``<select>`` by value."""
        await self.run(lambda page: page.select_option(selector, value))

    async def check(self, selector: str, checked: bool = True) -> None:
        await self.run(lambda page: page.set_checked(selector, checked))

    async def evaluate(self, expression: str, arg: Any = None) -> Any:
        """Run JavaScript in the page (needs ``javascript=True``) and return its JSON value."""
        return await self.run(lambda page: page.evaluate(expression, arg))

    async def text(self, selector: str = "body") -> str:
        """The rendered text of every element matching ``selector`` (empty when none)."""
        return "\n".join(await self.run(lambda page: page.locator(selector).all_inner_texts()))

    async def count(self, selector: str) -> int:
        return await self.run(lambda page: page.locator(selector).count())

    async def wait_for_selector(self, selector: str, *, visible: bool = True) -> None:
        """Wait until an element matches ``selector`` (and, by default, is visible)."""

        def present(page: SyncPage) -> bool:
            found = page.locator(selector)
            return found.first.is_visible() if visible else found.count() > 0

        await self._poll(present, lambda: f"no {'visible ' if visible else ''}{selector!r}")

    async def wait_for_text(self, text: str, selector: str = "body") -> str:
        """Wait until ``text`` appears in the rendered text of ``selector``; return that text."""
        seen = ""

        def shows(page: SyncPage) -> bool:
            nonlocal seen
            seen = "\n".join(page.locator(selector).all_inner_texts())
            return text in seen

        await self._poll(shows, lambda: f"{text!r} not in {selector!r}, which shows {seen!r}")
        return seen

    async def wait_for_js(self, expression: str, arg: Any = None) -> Any:
        """Wait until the JavaScript ``expression`` (a function given ``arg``) is truthy."""
        value: Any = None

        def truthy(page: SyncPage) -> bool:
            nonlocal value
            value = page.evaluate(expression, arg)
            return bool(value)

        await self._poll(truthy, lambda: f"{expression} stayed {value!r}")
        return value

    async def wait_for_url(self, predicate: Callable[[str], bool]) -> str:
        """Wait until the page's URL satisfies ``predicate``; return it."""
        seen = ""

        def matches(page: SyncPage) -> bool:
            nonlocal seen
            seen = page.url
            return predicate(seen)

        await self._poll(matches, lambda: f"the URL stayed {seen!r}")
        return seen

    async def _poll(self, check: Callable[[SyncPage], bool], describe: Callable[[], str]) -> None:
        with trio.move_on_after(WAIT_LIMIT):
            while not await self.run(check):
                await trio.sleep(POLL_INTERVAL)
            return
        raise BrowserWaitError(f"after {WAIT_LIMIT:g} s: {describe()[:4000]}")

    async def set_viewport(self, width: int, height: int) -> None:
        """Resize the viewport (the page gets a ``resize`` event, as a window resize gives)."""
        await self.run(lambda page: page.set_viewport_size({"width": width, "height": height}))

    async def screenshot(self, name: str) -> Path:
        """A full-page PNG at ``test-artifacts/screenshots/<name>.png``; returns its path."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name).strip('-')}.png"
        await self.run(lambda page: page.screenshot(path=str(path), full_page=True))
        return path

    async def close(self) -> None:
        """Close this page (its context is closed with the session)."""
        await self.run(lambda page: page.close())
