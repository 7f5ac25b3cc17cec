"""What ``cloudclaude up`` adds to the daemon it runs: a first admin, a default exit, directions.

The daemon does this itself (``cloudclaude run --setup``), as its own user, so every file it
makes (the server key, the SSH host key) belongs to it: migrations, a ``direct`` exit labelled
``host`` when none has that label, the first admin when there is no admin (its password printed
once), and, when every component serves, where to go next.
"""

from __future__ import annotations

import socket

import trio_asyncio

from cloudclaude.agent_client.handle import Agent
from cloudclaude.app import wiring
from cloudclaude.core import tls
from cloudclaude.core.settings import LiveSettings, Settings
from cloudclaude.core.tls import ServerTls
from cloudclaude.db import migrate
from cloudclaude.db.pool import Database
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor

FIRST_ADMIN = "admin"
#: The development exit: the host's own address (host NAT), DNS from a public resolver (a
#: direct exit cannot reach private addresses, so the machine's own resolver may not do).
HOST_EXIT = {"label": "host", "kind": "direct", "dns_server": "1.1.1.1"}
SETUP = Actor(name="setup:cloudclaude-up")


async def prepare(settings: Settings) -> str | None:
    """Migrate, make the ``host`` exit if missing and the first admin if no admin exists.

    Returns the first admin's password when it was created.
    """
    async with trio_asyncio.open_loop(), Database.open(settings.database.url, max_size=2) as db:
        await migrate.apply_all(db)
        services = await wiring.build(LiveSettings(settings), db, Agent("none"))
        try:
            await services.exits.create(SETUP, HOST_EXIT)
        except CloudClaudeError as exc:
            if exc.error.slug != "exit_label_taken":
                raise
        if await services.accounts.count_admins():
            return None
        _, password = await services.accounts.create(SETUP, username=FIRST_ADMIN, role="admin")
        return password


def where_next(settings: Settings, admin_password: str | None, server_tls: ServerTls | None) -> str:
    host = socket.gethostname()
    base = tls.base_url(settings, host)
    local_base = base if settings.web.public_url else tls.base_url(settings, "localhost")
    pin = server_tls.client_pin if server_tls is not None else ""
    curl = tls.curl_command(pin)
    lines = [
        "",
        "cloudclaude is up.",
        f"  pages       {base}/login  (admins and users sign in here)",
        f"  web + API   {base}/v1/  (on this machine: {curl} {local_base}/healthz)",
        f"  control     .venv/bin/cloudclaudectl status   (socket {settings.ctl.socket})",
        f"  ssh         ssh -p {settings.ssh.port} USER@{host}   (once an admin made a box)",
        f"  one-liner   {curl} {base}/v1/bootstrap/script | sh",
        f"  exit        new boxes get out through exit {settings.egress.default_exit!r}"
        " (`.venv/bin/cloudclaudectl exits list`)",
    ]
    if server_tls is not None and server_tls.local is not None:
        lines += [
            f"  tls         certificate from the local CA {server_tls.local.ca_cert};"
            " browsers ask once unless you import that CA",
            f"              public-key pin {pin}  (curl -k --pinnedpubkey checks it)",
        ]
    if admin_password:
        lines += [
            f"  first admin {FIRST_ADMIN} / {admin_password}",
            "              (shown once, stored only as a hash; write it down now)",
        ]
    else:
        lines += [
            "  admin       the existing admin accounts were kept;"
            f" reset one with `.venv/bin/cloudclaudectl users passwd {FIRST_ADMIN}`",
        ]
    lines += [
        f"  log in      {curl.replace('-fsSL', '-s')} -X POST {local_base}/v1/auth/login"
        ' -H \'content-type: application/json\' -d \'{"username": "admin", "password": "…"}\'',
        f"  state       {settings.state_dir} (Postgres data, server key, TLS)",
        "Press Ctrl-C to stop (the daemon, then the agent, then the private Postgres).",
        "",
    ]
    return "\n".join(lines)
