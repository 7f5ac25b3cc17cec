"""The database as one ``pg_dump`` archive and back: what a backup stores, a restore replays.

``pg_dump`` reads one snapshot, so the archive is consistent while the daemon keeps writing.
A restore empties the ``public`` schema first (the target is a fresh installation's database,
perhaps already migrated by a newer version) and replays the archive in one transaction; the
migrations then bring it to this version. A password in the URL goes to the tools through
``PGPASSWORD``, never their command line.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable

import trio

from cloudclaude.core.pipes import run_piped
from cloudclaude.db.cluster import ClusterError, pg_bin_dir
from cloudclaude.db.pool import Database
from cloudclaude.errors import disk

#: pg_dump and pg_restore of a team's database: minutes at most; bounded all the same.
DEADLINE_S = 3600.0

Sink = Callable[[bytes | bytearray], Awaitable[None]]


def _tool(name: str) -> str:
    try:
        return str(pg_bin_dir() / name)
    except ClusterError:
        return name  # Debian's wrapper on PATH


def _url_and_env(url: str) -> tuple[str, dict[str, str]]:
    parts = urllib.parse.urlsplit(url)
    env = dict(os.environ)
    if parts.password is None:
        return url, env
    env["PGPASSWORD"] = urllib.parse.unquote(parts.password)
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or ""
    netloc = f"{user}{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), env


async def dump(url: str, sink: Sink) -> None:
    """Pass the database's custom-format archive to ``sink`` chunk by chunk."""
    bare, env = _url_and_env(url)

    async def drain(process: trio.Process) -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.receive_some(1 << 20):
            await sink(chunk)

    argv = [
        _tool("pg_dump"),
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        f"--dbname={bare}",
    ]
    await run_piped(
        argv, drain, what="pg_dump", code=disk.BACKUP_FAILED, deadline_s=DEADLINE_S, env=env
    )


async def restore(db: Database, url: str, chunks: AsyncIterator[bytes]) -> None:
    """Empty the ``public`` schema, then replay the archive ``chunks`` carry."""
    await db.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    bare, env = _url_and_env(url)

    async def feed(process: trio.Process) -> None:
        assert process.stdin is not None
        async with process.stdin:
            with contextlib.suppress(trio.BrokenResourceError):  # it quit: its words say why
                async for chunk in chunks:
                    await process.stdin.send_all(chunk)

    argv = [
        _tool("pg_restore"),
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={bare}",
    ]
    await run_piped(
        argv,
        feed,
        what="pg_restore",
        code=disk.BACKUP_FAILED,
        deadline_s=DEADLINE_S,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
    )
