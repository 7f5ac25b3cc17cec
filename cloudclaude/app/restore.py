"""``cloudclaude restore``: a stopped installation rebuilt from a backup, on a fresh machine.

Run as root with the daemon stopped. In order: the backup's manifest (the newest complete
backup, or the one named), the server's files (server key, SSH host key, TLS), the database
(the ``public`` schema emptied and the archive replayed in one transaction, then this
version's migrations), and each home into a new, empty home through the agent. Every part is
checked against the manifest's size and SHA-256 while it streams; a mismatch stops the restore
before the database commits. Afterwards the hosts have their homes but no containers: starting
the daemon, the reconciler starts the hosts meant to run (their containers made from the
current image) and the others start on demand.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import sys
import tarfile
from collections.abc import AsyncIterator, Awaitable, Callable

import attrs
import trio
import trio_asyncio

from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import Agent, open_agent
from cloudclaude.app import daemon_user
from cloudclaude.app.up import in_process_agent, private_cluster
from cloudclaude.core.groups import first_error
from cloudclaude.core.restic import Restic, Snapshot
from cloudclaude.core.settings import Settings
from cloudclaude.db import dump, migrate
from cloudclaude.db.cluster import PrivateCluster
from cloudclaude.db.pool import Database
from cloudclaude.domain import backup_manifest
from cloudclaude.domain.backup_manifest import Hashed, Manifest, Part
from cloudclaude.errors import CloudClaudeError, disk, system
from cloudclaude.sshproxy.hostkey import host_key_path

#: The manifest and the state files are read whole; bounded.
SMALL_PART_MAX = 16 * 1024 * 1024
_BUFFERED = 8
Say = Callable[[str], None]


def _say(line: str) -> None:
    print(line, flush=True)


async def complete_backups(restic: Restic) -> list[Snapshot]:
    """The manifests in the repository, newest first (one per complete backup)."""
    found = await restic.snapshots(backup_manifest.TAG, backup_manifest.MANIFEST_TAG)
    return sorted(found, key=lambda s: s.time, reverse=True)


async def choose(restic: Restic, wanted: str) -> Snapshot:
    manifests = await complete_backups(restic)
    if wanted in ("", "latest") and manifests:
        return manifests[0]
    matching = [
        s for s in manifests if wanted and backup_manifest.backup_id_of(s.tags).startswith(wanted)
    ]
    if len(matching) == 1:
        return matching[0]
    where = f"in {restic.repository}"
    if not manifests:
        raise CloudClaudeError(disk.BACKUP_NOT_FOUND, f"no complete backup {where}")
    raise CloudClaudeError(
        disk.BACKUP_NOT_FOUND, f"{len(matching)} complete backups {where} match {wanted!r}"
    )


async def read_small(restic: Restic, snapshot: str, part: Part | None, name: str) -> bytes:
    """A small file of the backup, whole (checked against ``part`` when there is one)."""
    data = bytearray()
    hashed = Hashed()

    async def keep(chunk: bytes | bytearray) -> None:
        data.extend(chunk)
        hashed.add(chunk)
        if len(data) > SMALL_PART_MAX:
            raise CloudClaudeError(disk.BACKUP_CORRUPT, f"{name} is larger than it can be")

    await restic.dump(snapshot, name, keep)
    if part is not None:
        hashed.check(part)
    return bytes(data)


async def stream_part(
    restic: Restic, part: Part, consume: Callable[[AsyncIterator[bytes]], Awaitable[None]]
) -> None:
    """Feed ``part`` to ``consume``; a size or hash mismatch fails before its stream ends, so
    a consumer that commits only at the end (pg_restore) never does."""
    send, receive = trio.open_memory_channel[bytes](_BUFFERED)
    hashed = Hashed()

    async def forward(chunk: bytes | bytearray) -> None:
        hashed.add(chunk)
        await send.send(bytes(chunk))

    async def produce() -> None:
        await restic.dump(part.snapshot, part.name, forward)
        hashed.check(part)
        await send.aclose()  # only now may the consumer see the end (closed on success only)

    async def chunks() -> AsyncIterator[bytes]:
        async with receive:
            async for chunk in receive:
                yield chunk

    with first_error():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            await consume(chunks())


async def import_home(agent: Agent, restic: Restic, part: Part) -> None:
    ours, theirs = socket.socketpair()
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))

    async def write(chunks: AsyncIterator[bytes]) -> None:
        async with stream:
            with contextlib.suppress(trio.BrokenResourceError):  # the agent's error says why
                async for chunk in chunks:
                    await stream.send_all(chunk)

    with first_error():
        async with trio.open_nursery() as nursery:

            async def agent_side() -> None:
                with theirs:
                    await agent.import_home(part.host_id, part.disk_gb, theirs)

            nursery.start_soon(agent_side)
            await stream_part(restic, part, write)


@attrs.frozen
class Target:
    """Where this machine keeps what the backup restores."""

    settings: Settings
    database_url: str
    owner: tuple[int, int]


async def run_restore(target: Target, restic: Restic, wanted: str, say: Say = _say) -> Manifest:
    settings = target.settings
    chosen = await choose(restic, wanted)
    data = await read_small(restic, chosen.id, None, backup_manifest.MANIFEST_NAME)
    manifest = backup_manifest.decode(data)
    say(
        f"backup {manifest.backup_id} of {manifest.created_at} (cloudclaude {manifest.version}):"
        f" {len(manifest.homes)} homes, {manifest.size} bytes"
    )
    state = manifest.part("state")
    packed = await read_small(restic, state.snapshot, state, state.name)
    places = backup_manifest.restore_targets(
        settings.state_path, host_key_path(settings), _names(packed)
    )
    written = backup_manifest.unpack_state(packed, places, target.owner)
    say(f"state: {', '.join(written)}")
    async with trio_asyncio.open_loop(), Database.open(target.database_url, max_size=2) as db:
        database = manifest.part("database")
        say("database: replaying the archive")

        async def replay(chunks: AsyncIterator[bytes]) -> None:
            await dump.restore(db, target.database_url, chunks)

        await stream_part(restic, database, replay)
        applied = await migrate.apply_all(db)
        if applied:
            say(f"database: applied migrations {[m.version for m in applied]}")
    async with open_agent(in_process_agent(settings)) as agent:
        for number, part in enumerate(manifest.homes, 1):
            say(f"home {number}/{len(manifest.homes)}: host {part.host_id} ({part.size} bytes)")
            await import_home(agent, restic, part)
    for skipped in manifest.skipped:
        say(f"not in this backup: the home of host {skipped.host_id} ({skipped.reason})")
    return manifest


def _names(packed: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r:") as tar:
        return tar.getnames()


def _daemon_answers(settings: Settings) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(2)
        try:
            probe.connect(settings.ctl.socket)
        except OSError:
            return False
    return True


def _database(settings: Settings) -> tuple[str, PrivateCluster | None]:
    """The database to restore into: ``database.url``, or ``up``'s private cluster."""
    if settings.database.url:
        return settings.database.url, None
    cluster = private_cluster(settings, daemon_user.ensure())
    return cluster.dsn(), cluster


def _refuse(detail: str) -> int:
    code = system.RESTORE_REFUSED
    print(f"error {code.code} {code.slug}: {detail}", file=sys.stderr)
    return 2


def run(settings: Settings, wanted: str, *, listing: bool) -> int:
    """The ``cloudclaude restore`` command."""
    restic = Restic(settings.backup, settings.state_path)
    try:
        if listing:
            return trio.run(_list, restic)
        if os.geteuid() != 0:
            return _refuse("run it as root: it writes the server's files and every home")
        if _daemon_answers(settings):
            return _refuse(
                f"the daemon is running ({settings.ctl.socket} answers); stop it first"
                " (systemctl stop cloudclaude, or stop `make up`)"
            )
        url, cluster = _database(settings)
        if cluster is not None:
            cluster.ensure_initialised()
            cluster.start()
            cluster.ensure_database()
        try:
            state = settings.state_path
            state.mkdir(parents=True, exist_ok=True)
            info = state.stat()
            target = Target(settings, url, (info.st_uid, info.st_gid))
            manifest = trio.run(run_restore, target, restic, wanted)
        finally:
            if cluster is not None:
                cluster.stop()
    except CloudClaudeError as exc:
        print(f"error {exc.error.code} {exc.error.slug}: {exc.detail}", file=sys.stderr)
        return 1
    except AgentError as exc:
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    print(
        f"restored backup {manifest.backup_id}; start the daemon (systemctl start cloudclaude,"
        " or make up): hosts meant to run start again with their homes"
    )
    return 0


async def _list(restic: Restic) -> int:
    manifests = await complete_backups(restic)
    if not manifests:
        print(f"no complete backups in {restic.repository}")
        return 0
    print(f"{'BACKUP':<36}  TIME")
    for snapshot in manifests:
        print(f"{backup_manifest.backup_id_of(snapshot.tags):<36}  {snapshot.time}")
    return 0
