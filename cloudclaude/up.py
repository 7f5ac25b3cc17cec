"""``cloudclaude up``: the whole system on embedded defaults, for ``make up``.

Starts (creating on first use) a private Postgres cluster in the state directory, applies
migrations, creates the first admin when there is none (printing its password once), then runs
the daemon in the foreground. Ctrl-C drains the daemon, then stops the Postgres it started.
Running it again reuses everything: nothing is lost or re-created.
"""

from __future__ import annotations

import functools
import socket
import sys
from pathlib import Path

import attrs
import trio
import trio_asyncio

from cloudclaude import supervisor, wiring
from cloudclaude.agent_client.handle import Agent
from cloudclaude.db import migrate
from cloudclaude.db.cluster import PrivateCluster
from cloudclaude.db.pool import Database
from cloudclaude.model.audit import Actor
from cloudclaude.settings import LiveSettings, Settings
from cloudclaude.wiring import Services

FIRST_ADMIN = "admin"


def private_cluster(state_dir: Path) -> PrivateCluster:
    return PrivateCluster(state_dir / "postgres", state_dir / "run" / "postgres")


async def prepare(settings: Settings) -> str | None:
    """Migrate and create the first admin if no admin exists; returns its password if created."""
    async with trio_asyncio.open_loop(), Database.open(settings.database.url, max_size=2) as db:
        await migrate.apply_all(db)
        admins = await db.fetchval("SELECT count(*) FROM users WHERE role = 'admin'")
        if admins:
            return None
        services = await wiring.build(LiveSettings(settings), db, Agent("none"))
        _, password = await services.accounts.create(
            Actor(name="setup:cloudclaude-up"), username=FIRST_ADMIN, role="admin"
        )
        return password


def _where_next(settings: Settings, admin_password: str | None) -> str:
    port = settings.web.port
    host = socket.gethostname()
    lines = [
        "",
        "cloudclaude is up.",
        f"  web + API   http://{host}:{port}/  (on this machine: http://localhost:{port}/healthz)",
        f"  control     .venv/bin/cloudclaudectl status   (socket {settings.ctl.socket})",
        f"  ssh         ssh -p {settings.ssh.port} USER@{host}   (once an admin made a box)",
        f"  one-liner   curl -fsSL http://{host}:{port}/v1/bootstrap/script | sh",
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
        fixed = settings

        def keep_up_choices(reread: Settings) -> Settings:
            """A reload keeps the state dir and database that `up` chose (not in any file)."""
            database = attrs.evolve(reread.database, url=fixed.database.url)
            return attrs.evolve(reread, state_dir=fixed.state_dir, database=database)

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
