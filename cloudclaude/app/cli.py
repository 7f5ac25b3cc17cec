"""``cloudclaude``: run the daemon, run everything for development, validate config, migrate.

Exit codes: 0 clean stop, 1 failure (a component crashed, the database is unreachable),
2 invalid configuration or arguments.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import attrs
import structlog
import trio
import trio_asyncio

from cloudclaude import __version__
from cloudclaude.app import supervisor, wiring
from cloudclaude.core import logging as cc_logging
from cloudclaude.core import settings as settings_mod
from cloudclaude.core.groups import leaves
from cloudclaude.core.serverkey import ServerKeyError
from cloudclaude.core.settings import LiveSettings, Settings
from cloudclaude.db import migrate
from cloudclaude.db.cluster import ClusterError
from cloudclaude.db.errors import DatabaseError
from cloudclaude.db.pool import Database
from cloudclaude.errors import CloudClaudeError, ErrorCode, system

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloudclaude",
        description="cloudclaude daemon: isolated Claude Code boxes with forced egress.",
        epilog="Settings come from --config (or $CLOUDCLAUDE_CONFIG) plus CLOUDCLAUDE_* "
        "variables, e.g. CLOUDCLAUDE_WEB__PORT=9090.",
    )
    parser.add_argument("--version", action="version", version=f"cloudclaude {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "run", help="run the daemon in the foreground (production, systemd; never as root)"
    )
    p.add_argument("--config", help="TOML settings file")
    p.add_argument(
        "--setup",
        action="store_true",
        help="first make the `host` exit and the first admin when missing, and print where to"
        " go next once serving (what `cloudclaude up` runs)",
    )
    p = sub.add_parser(
        "up",
        help="as root: the whole system as production runs it (private Postgres, the agent as"
        " root, the daemon as user cloudclaude)",
    )
    p.add_argument("--config", help="TOML settings file")
    p.add_argument("--state-dir", help="state directory (overrides the settings)")
    p = sub.add_parser("config", help="configuration tools")
    cs = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = cs.add_parser("check", help="validate a settings file (and the environment) and exit")
    c.add_argument("file", nargs="?", help="TOML settings file (default $CLOUDCLAUDE_CONFIG)")
    p = sub.add_parser("migrate", help="apply database migrations and exit")
    p.add_argument("--config", help="TOML settings file")
    p = sub.add_parser("image", help="the box image")
    cs = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = cs.add_parser(
        "build", help="build the box image unless one from the same inputs exists (via the agent)"
    )
    c.add_argument("--config", help="TOML settings file")
    c.add_argument("--force", action="store_true", help="rebuild even when inputs are unchanged")
    p = sub.add_parser(
        "restore",
        help="as root, with the daemon stopped: rebuild this installation from a backup"
        " (database, server keys, every home)",
    )
    p.add_argument(
        "backup", nargs="?", default="latest", help="backup id or prefix (default latest)"
    )
    p.add_argument("--config", help="TOML settings file")
    p.add_argument("--list", action="store_true", help="list the complete backups and exit")
    p.add_argument("--repository", help="restic repository (overrides backup.repository)")
    p.add_argument("--password-file", help="its password file (overrides backup.password_file)")
    return parser


def _refuse(code: ErrorCode, detail: str) -> NoReturn:
    print(f"error {code.code} {code.slug}: {detail}", file=sys.stderr)
    raise SystemExit(EXIT_CONFIG)


def _load(path: str | None) -> Settings:
    try:
        return settings_mod.load(path)
    except settings_mod.SettingsError as exc:
        _refuse(system.CONFIG_INVALID, str(exc))


def _need_database(settings: Settings) -> None:
    if not settings.database.url:
        _refuse(
            system.CONFIG_INVALID,
            "database.url is not set (set it, or use `cloudclaude up` for a private database)",
        )


def _not_as_root(settings: Settings) -> None:
    """The internet-facing daemon holds no host privileges; only a dev embedded agent may."""
    if os.geteuid() == 0 and settings.agent.mode != "embedded":
        _refuse(
            system.RUNS_AS_ROOT,
            "run it as user cloudclaude (systemd's cloudclaude.service, or `make up`);"
            ' only agent.mode = "embedded" (development) may run as root',
        )


async def _migrate(settings: Settings) -> list[int]:
    async with trio_asyncio.open_loop(), Database.open(settings.database.url, max_size=1) as db:
        return [m.version for m in await migrate.apply_all(db)]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log = structlog.get_logger(component="cli")
    if args.command == "config":
        settings = _load(args.file)
        print(f"configuration OK (state_dir={settings.state_dir}, web port {settings.web.port})")
        return EXIT_OK
    settings = _load(args.config)
    if args.command == "up" and args.state_dir:
        settings = attrs.evolve(settings, state_dir=args.state_dir)
    cc_logging.configure(settings.log.level, settings.log.format)
    try:
        if args.command == "migrate":
            _need_database(settings)
            applied = trio.run(_migrate, settings)
            print(f"applied migrations: {applied}" if applied else "schema is up to date")
            return EXIT_OK
        if args.command == "image":
            from cloudclaude.app import image_build

            return image_build.run(settings, force=args.force)
        if args.command == "restore":
            from cloudclaude.app import restore

            backup = attrs.evolve(
                settings.backup,
                repository=args.repository or settings.backup.repository,
                password_file=args.password_file or settings.backup.password_file,
            )
            settings = attrs.evolve(settings, backup=backup)
            return restore.run(settings, args.backup, listing=args.list)
        if args.command == "up":
            from cloudclaude.app import up

            return up.run(settings, args.config)
        _not_as_root(settings)
        _need_database(settings)
        if args.setup:
            return _run_with_setup(settings, args.config)
        clean = trio.run(supervisor.run, LiveSettings(settings, args.config))
        return EXIT_OK if clean else EXIT_FAILED
    except SystemExit:
        raise
    except BaseException as exc:  # every failure becomes one log line and exit 1
        errors = leaves(exc)
        if all(isinstance(e, KeyboardInterrupt) for e in errors):
            return EXIT_OK
        if all(isinstance(e, _STARTUP_ERRORS) for e in errors):
            log.error("startup_failed", error="; ".join(str(e) or type(e).__name__ for e in errors))
        else:
            log.error("daemon_failed", errors=[repr(e) for e in errors], exc_info=exc)
        return EXIT_FAILED


def _run_with_setup(settings: Settings, config_path: str | None) -> int:
    from cloudclaude.app import first_run

    admin_password = trio.run(first_run.prepare, settings)
    live = LiveSettings(settings, config_path)

    def ready(services: wiring.Services) -> None:
        print(first_run.where_next(settings, admin_password, services.tls), flush=True)

    clean = trio.run(functools.partial(supervisor.run, live, on_ready=ready))
    return EXIT_OK if clean else EXIT_FAILED


_STARTUP_ERRORS = (
    DatabaseError,
    ClusterError,
    ServerKeyError,
    CloudClaudeError,
    trio.TooSlowError,
    OSError,
)


if __name__ == "__main__":
    sys.exit(main())
