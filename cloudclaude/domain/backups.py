"""Making backups: the database, the server's files and every home, into restic, one at a time.

A backup streams each part straight into its own restic snapshot (nothing is staged on disk),
hashing it on the way, then writes the manifest that makes it complete, then forgets all but
the newest ``backup.keep`` complete backups. Each run is a row in ``backups`` and audited
(``backup.started``, then ``backup.succeeded`` or ``backup.failed`` with its code), so the
dashboard shows failures too.

Consistency: ``pg_dump`` reads one snapshot; each home is read with its box frozen (the agent's
``home.export``), host by host, after the dump: a host made after the dump is not in it and
its home is not taken; one deleted meanwhile is listed as skipped.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import attrs
import structlog
import trio

from cloudclaude import __version__
from cloudclaude.agent_client.client import AgentError
from cloudclaude.agent_client.handle import Agent
from cloudclaude.core.groups import first_error
from cloudclaude.core.restic import Restic
from cloudclaude.core.settings import LiveSettings
from cloudclaude.core.timefmt import utcnow
from cloudclaude.db import dump, migrate
from cloudclaude.db.pool import Database
from cloudclaude.db.repos import backups as backups_repo
from cloudclaude.db.repos import hosts as hosts_repo
from cloudclaude.domain import audit, backup_manifest
from cloudclaude.domain.backup_manifest import Hashed, Manifest, Part, PartKind, Skipped
from cloudclaude.errors import CloudClaudeError, disk
from cloudclaude.model.audit import Actor
from cloudclaude.model.backups import Backup
from cloudclaude.model.hosts import HOST_STATUSES

#: Hosts whose home is taken: every one not deleted (one without a container is skipped).
LIVE_STATUSES = tuple(status for status in HOST_STATUSES if status != "deleted")

log = structlog.get_logger(component="backups")
Say = Callable[[str], Awaitable[None]]
#: Chunks in flight between a producer (pg_dump, the agent) and restic.
_BUFFERED = 8


async def _quiet(_line: str) -> None:
    return None


class Backups:
    def __init__(
        self,
        db: Database,
        agent: Agent,
        live: LiveSettings,
        state_files: Callable[[], dict[str, Path]],
    ) -> None:
        self._db = db
        self._agent = agent
        self._live = live
        self._state_files = state_files
        self._one_at_a_time = trio.Lock()

    @property
    def busy(self) -> bool:
        """A backup is being made now."""
        return self._one_at_a_time.locked()

    def restic(self) -> Restic:
        settings = self._live.current
        return Restic(settings.backup, settings.state_path)

    async def recent(self, limit: int = 20) -> list[Backup]:
        return await backups_repo.recent(self._db, limit)

    async def abandon_running(self) -> int:
        """Mark failed the backups a stopped daemon left ``running`` (at start-up)."""
        return await backups_repo.abandon_running(self._db)

    async def create(self, actor: Actor, *, trigger: str = "manual", say: Say = _quiet) -> Backup:
        """Make one backup; its record (raises ``backup_failed`` and records why on failure)."""
        if self.busy:
            raise CloudClaudeError(disk.BACKUP_RUNNING, "another backup is being made now")
        async with self._one_at_a_time:
            backup_id = uuid.uuid4()
            await backups_repo.start(self._db, backup_id, trigger, actor.name)
            await audit.record(self._db, "backup.started", actor, backup_id=str(backup_id))
            try:
                manifest = await self._make(str(backup_id), say)
            except CloudClaudeError as exc:
                await self._failed(
                    backup_id, actor, exc.error.code, exc.detail or exc.error.message
                )
                raise
            except AgentError as exc:
                await self._failed(backup_id, actor, exc.code, exc.message)
                raise CloudClaudeError(disk.BACKUP_FAILED, exc.message) from exc
            await backups_repo.finish(
                self._db,
                backup_id,
                size_bytes=manifest.size,
                homes=len(manifest.homes),
                skipped=len(manifest.skipped),
            )
            await audit.record(
                self._db,
                "backup.succeeded",
                actor,
                backup_id=str(backup_id),
                bytes=manifest.size,
                homes=len(manifest.homes),
                skipped=[s.host_id for s in manifest.skipped],
            )
            done = await backups_repo.recent(self._db, 1)
            return done[0]

    async def _failed(self, backup_id: uuid.UUID, actor: Actor, code: str, detail: str) -> None:
        with trio.CancelScope(shield=True):
            log.warning("backup_failed", backup_id=str(backup_id), code=code, detail=detail)
            await backups_repo.finish(
                self._db, backup_id, size_bytes=0, homes=0, skipped=0,
                error_code=code, error_message=detail[:2000],
            )  # fmt: skip
            await audit.record(
                self._db, "backup.failed", actor, backup_id=str(backup_id), code=code
            )

    async def _make(self, backup_id: str, say: Say) -> Manifest:
        restic = self.restic()
        if restic.make_password():
            await say(f"made the repository password {restic.password_file}: keep a copy elsewhere")
        if await restic.ensure_repository():
            await say(f"initialised the restic repository {restic.repository}")
        tags = [backup_manifest.TAG, backup_manifest.backup_tag(backup_id)]
        started = utcnow()
        await say("database: pg_dump")
        parts = [await self._database(restic, tags)]
        await say("state: server key, SSH host key, TLS files")
        state = backup_manifest.pack_state(self._state_files())
        parts.append(await _store(restic, backup_manifest.STATE_NAME, "state", tags, _once(state)))
        skipped: list[Skipped] = []
        hosts = await hosts_repo.with_status(self._db, LIVE_STATUSES)
        for number, host in enumerate(hosts, 1):
            await say(f"home {number}/{len(hosts)}: host {host.short_id}")
            try:
                parts.append(await self._home(restic, tags, str(host.id), host.disk_gb))
            except AgentError as exc:
                skipped.append(Skipped(host_id=str(host.id), reason=f"{exc.code}: {exc.message}"))
                await say(f"  skipped: {exc.code}: {exc.message}")
        manifest = Manifest(
            backup_id=backup_id,
            created_at=started.isoformat(),
            version=__version__,
            schema_version=max(m.version for m in migrate.available()),
            parts=parts,
            skipped=skipped,
        )
        manifest_tags = [*tags, backup_manifest.MANIFEST_TAG]
        data = backup_manifest.encode(manifest)
        await restic.backup(backup_manifest.MANIFEST_NAME, manifest_tags, _once(data))
        await say(f"complete: {len(parts)} parts, {manifest.size} bytes")
        await self._keep(restic, say)
        return manifest

    async def _database(self, restic: Restic, tags: list[str]) -> Part:
        send, receive = trio.open_memory_channel[bytes | bytearray](_BUFFERED)
        url = self._live.current.database.url

        async def produce() -> None:
            await dump.dump(url, send.send)
            await send.aclose()  # a failed dump never looks like a complete one to restic

        with first_error():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(produce)
                name = backup_manifest.DATABASE_NAME
                part = await _store(restic, name, "database", tags, _chunks(receive))
        return part

    async def _home(self, restic: Restic, tags: list[str], host_id: str, disk_gb: int) -> Part:
        ours, theirs = socket.socketpair()
        frozen: list[bool] = []

        async def export() -> None:
            with theirs:
                frozen.append(await self._agent.export_home(host_id, theirs))

        stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
        with first_error():
            async with stream, trio.open_nursery() as nursery:  # ours closed: tar gets EPIPE
                nursery.start_soon(export)
                name = backup_manifest.home_name(host_id)
                part = await _store(restic, name, "home", tags, _received(stream))
        return attrs.evolve(part, host_id=host_id, disk_gb=disk_gb, frozen=frozen[0])

    async def _keep(self, restic: Restic, say: Say) -> None:
        """Forget every snapshot of all but the newest ``backup.keep`` complete backups."""
        keep = self._live.current.backup.keep
        snapshots = await restic.snapshots(backup_manifest.TAG)
        complete = sorted(
            (s for s in snapshots if backup_manifest.MANIFEST_TAG in s.tags),
            key=lambda s: s.time,
            reverse=True,
        )
        kept = {
            backup_manifest.backup_id_of(s.tags) for s in complete[:keep]
        }  # one at a time: none is running
        old = [s.id for s in snapshots if backup_manifest.backup_id_of(s.tags) not in kept]
        if old:
            await say(f"forgetting {len(old)} snapshots of older backups (backup.keep = {keep})")
            await restic.forget(old)


async def _store(
    restic: Restic, name: str, kind: PartKind, tags: list[str], chunks: AsyncIterator[bytes]
) -> Part:
    hashed = Hashed()

    async def counted() -> AsyncIterator[bytes]:
        async for chunk in chunks:
            hashed.add(chunk)
            yield chunk

    snapshot = await restic.backup(name, tags, counted())
    return Part(
        name=name, kind=kind, snapshot=snapshot, size=hashed.size, sha256=hashed.digest.hexdigest()
    )


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _chunks(receive: trio.MemoryReceiveChannel[bytes | bytearray]) -> AsyncIterator[bytes]:
    async with receive:
        async for chunk in receive:
            yield bytes(chunk)


async def _received(stream: trio.SocketStream) -> AsyncIterator[bytes]:
    while chunk := await stream.receive_some(1 << 20):
        yield chunk
