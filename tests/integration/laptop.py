"""A laptop for the ``cloud-claude`` tests: an empty home with the CLI installed by the pinned
one-liner (no root, the system's python3), a user of its own, and ways to run the CLI."""

from __future__ import annotations

import html
import os
import re
import subprocess
from pathlib import Path

import httpx
import trio

from tests.integration.sshstack import SshStack

PASSWORD = "laptop-user-password-1"


class Laptop:
    """An empty home with the CLI installed by the one-liner; runs it like a shell would."""

    def __init__(self, home: Path, stack: SshStack) -> None:
        self.home = home
        self.stack = stack
        self.env = {
            "HOME": str(home),
            "PATH": f"{home}/.local/bin:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
        }

    async def run(
        self, *args: str, stdin: str = "", cwd: Path | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """``cloud-claude ARGS`` in ``cwd`` (default the home, which is no git checkout)."""
        return await trio.run_process(
            ["cloud-claude", *args],
            cwd=cwd or self.home,
            env=self.env,
            stdin=stdin.encode(),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )

    async def install(self, username: str) -> None:
        """The one-liner exactly as the user's page shows it."""
        one_liner = await self._one_liner_from_the_page(username)
        done = await trio.run_process(
            ["sh", "-c", one_liner], env=self.env, capture_stdout=True, capture_stderr=True
        )
        assert b"Installed" in done.stdout, done.stderr

    async def _one_liner_from_the_page(self, username: str) -> str:
        """Signed in on the real web listener, as a browser would (CSRF included)."""
        async with httpx.AsyncClient(base_url=self.stack.url, verify=self.stack.trust()) as web:
            form = await web.get("/login")
            csrf = re.search(r'name="csrf_token" value="([^"]*)"', form.text)
            assert csrf is not None
            await web.post(
                "/login",
                data={"username": username, "password": PASSWORD, "csrf_token": csrf[1]},
            )
            page = (await web.get("/me")).text
        found = re.search(r'<code class="mono" id="cli-install">([^<]+)</code>', page)
        assert found is not None, "the page shows no install line"
        return html.unescape(found.group(1))


async def new_user(stack: SshStack) -> str:
    name = f"laptop{os.getpid() % 1000}{trio.current_time():.0f}"[-20:]
    status, _ = await stack.stack.call(
        "POST", "/v1/admin/users", json={"username": name, "password": PASSWORD, "max_hosts": 2}
    )
    assert status == 201
    return name


async def signed_in_laptop(stack: SshStack, home: Path) -> Laptop:
    """A laptop in ``home`` with the CLI installed and signed in as a new user (max 2 hosts)."""
    laptop = Laptop(home, stack)
    name = await new_user(stack)
    await laptop.install(name)
    login = await laptop.run(
        "login", stack.url, "-u", name, "--password-stdin", "--yes", stdin=PASSWORD + "\n"
    )
    assert login.returncode == 0, login.stderr
    return laptop


async def fetch_until_up(port: int) -> bool:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                answer = await client.get(f"http://127.0.0.1:{port}/", timeout=2)
                if answer.status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            await trio.sleep(0.1)
    return False
