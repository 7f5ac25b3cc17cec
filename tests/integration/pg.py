"""The test run's private Postgres cluster: one per run, a fresh database per test."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import trio
import trio_asyncio

from cloudclaude.db import migrate
from cloudclaude.db.cluster import PrivateCluster
from cloudclaude.db.pool import Database

TEMPLATE = "cc_template"


def scratch_dir(prefix: str) -> Path:
    """A directory under /tmp that the postgres and nobody users can traverse."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


async def _migrate(url: str) -> None:
    async with trio_asyncio.open_loop(), Database.open(url, max_size=1) as db:
        await migrate.apply_all(db)


def reap_stale_clusters() -> None:
    """Stop clusters left by test runs that were killed before their teardown ran."""
    for root in Path("/tmp").glob("cc-pg-*"):
        try:
            owner = int((root / "owner").read_text())
            os.kill(owner, 0)
            continue  # its test run is still alive
        except (OSError, ValueError):
            pass
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster = int((root / "data" / "postmaster.pid").read_text().split()[0])
            os.kill(postmaster, signal.SIGQUIT)
        shutil.rmtree(root, ignore_errors=True)


def start_cluster() -> Iterator[PrivateCluster]:
    reap_stale_clusters()
    root = scratch_dir("cc-pg-")
    (root / "owner").write_text(str(os.getpid()))
    cluster = PrivateCluster(root / "data", root / "sock")
    try:
        cluster.ensure_initialised()
        cluster.start()
        cluster.ensure_database(TEMPLATE)
        trio.run(_migrate, cluster.dsn(TEMPLATE))
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(cluster: PrivateCluster, *, migrated: bool = True) -> Iterator[str]:
    """Create a database (from the migrated template, or empty) and drop it afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}_{os.getpid()}"
    if migrated:
        cluster.ensure_database(name, template=TEMPLATE)
    else:
        cluster.ensure_database(name)
    try:
        yield cluster.dsn(name)
    finally:
        cluster.drop_database(name)
