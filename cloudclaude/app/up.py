"""``cloudclaude up``: the whole system on embedded defaults, for ``make up``.

Starts (creating on first use) a private Postgres cluster in the state directory, applies
migrations, creates the first admin when there is none (printing its password once) and a
``direct`` exit labelled ``host`` when no exit has that label, then runs the daemon in the
foreground with ``egress.default_exit = "host"`` unless the operator chose another, so new
boxes get out through the host's own address ("egress unverified") with no extra steps.
Ctrl-C drains the daemon, then stops the Postgres it started. Running it again reuses
everything: nothing is lost or re-created.
"""

from __future__ import annotations

import functools
import socket
import sys
from pathlib import Path

import attrs
import trio
import trio_asyncio

from cloudclaude.agent_client.handle import Agent
from cloudclaude.app import supervisor, wiring
from cloudclaude.app.wiring import Services
from cloudclaude.core.settings import LiveSettings, Settings
from cloudclaude.db import migrate
from cloudclaude.db.cluster import PrivateCluster
from cloudclaude.db.pool import Database
from cloudclaude.errors import CloudClaudeError
from cloudclaude.model.audit import Actor

FIRST_ADMIN = "admin"
#: The development exit: the host's own address (host NAT), DNS from a public resolver (a
#: direct exit cannot reach private addresses, so the machine's own resolver may not do).
HOST_EXIT = {"label": "host", "kind": "direct", "dns_server": "1.1.1.1"}
SETUP = Actor(name="setup:cloudclaude-up")


def private_cluster(state_dir: Path) -> PrivateCluster:
    return PrivateCluster(state_dir / "postgres", state_dir / "run" / "postgres")


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


def with_default_exit(settings: Settings) -> Settings:
    """``egress.default_exit`` is ``host`` unless the operator set one."""
    if settings.egress.default_exit:
        return settings
    egress = attrs.evolve(settings.egress, default_exit=str(HOST_EXIT["label"]))
    return attrs.evolve(settings, egress=egress)


def _where_next(settings: Settings, admin_password: str | None) -> str:
    port = settings.web.port
    host = socket.gethostname()
    lines = [
        "",
        "cloudclaude is up.",
        f"  pages       http://{host}:{port}/login  (admins and users sign in here)",
        f"  web + API   http://{host}:{port}/v1/  (on this machine: http://localhost:{port}/healthz)",
        f"  control     .venv/bin/cloudclaudectl status   (socket {settings.ctl.socket})",
        f"  ssh         ssh -p {settings.ssh.port} USER@{host}   (once an admin made a box)",
        f"  one-liner   curl -fsSL http://{host}:{port}/v1/bootstrap/script | sh",
        f"  exit        new boxes get out through exit {settings.egress.default_exit!r}"
        " (`.venv/bin/cloudclaudectl exits list`)",
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
        f"  log in      curl -s -X POST localhost:{port}/v1/auth/login"
        ' -H \'content-type: application/json\' -d \'{"username": "admin", "password": "…"}\'',
        f"  state       {settings.state_dir} (Postgres data, server key)",
        "Press Ctrl-C to stop (the private Postgres stops too).",
        "",
    ]
    return "\n".join(lines)


def run(settings: Settings, config_path: str | None) -> int:
    cluster: PrivateCluster | None = None
    state = settings.state_path
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o711)  # postgres must traverse it to reach its data directory
    try:
        if not settings.database.url:
            cluster = private_cluster(state)
            if cluster.ensure_initialised():
                print(f"initialised a private PostgreSQL cluster in {cluster.data_dir}", flush=True)
            cluster.start()
            cluster.ensure_database()
            settings = attrs.evolve(
                settings, database=attrs.evolve(settings.database, url=cluster.dsn())
            )
        admin_password = trio.run(prepare, settings)
        settings = with_default_exit(settings)
        fixed = settings

        def keep_up_choices(reread: Settings) -> Settings:
            """A reload keeps the state dir, database and default exit that `up` chose."""
            database = attrs.evolve(reread.database, url=fixed.database.url)
            return with_default_exit(
                attrs.evolve(reread, state_dir=fixed.state_dir, database=database)
            )

        live = LiveSettings(settings, config_path, keep_up_choices)

        def ready(_services: Services) -> None:
            print(_where_next(settings, admin_password), flush=True)

        clean = trio.run(functools.partial(supervisor.run, live, on_ready=ready))
        return 0 if clean else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if cluster is not None:
            cluster.stop()
            print("stopped the private PostgreSQL cluster", file=sys.stderr, flush=True)
