"""restic, the backup store: encrypted, deduplicated, a local directory or object storage.

Each part of a backup goes in as one ``restic backup --stdin`` snapshot tagged with the backup's
id, so nothing is staged on disk and unchanged files in a home's tar deduplicate against earlier
backups. Every call runs restic as a child with a deadline; a failure is a ``CloudClaudeError``
(``backup_failed``) carrying restic's own last words, never its password (it is only ever in a
file named by ``RESTIC_PASSWORD_FILE``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import attrs
import trio

from cloudclaude.core.pipes import STDERR_KEEP, Work, collect, run_piped
from cloudclaude.core.settings import BackupSettings
from cloudclaude.errors import CloudClaudeError, disk

#: A metadata call (snapshots, init, forget) may take this long; data calls take ``data_s``.
CALL_S = 600.0
CHUNK = 1 << 20

Sink = Callable[[bytes | bytearray], Awaitable[None]]


def repository_of(settings: BackupSettings, state_dir: Path) -> str:
    return settings.repository or str(state_dir / "backups")


def password_file_of(settings: BackupSettings, state_dir: Path) -> Path:
    return Path(settings.password_file) if settings.password_file else state_dir / "backup-password"


def read_environment_file(path: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments and blank lines skipped) for restic's environment."""
    if not path:
        return {}
    values: dict[str, str] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise CloudClaudeError(disk.BACKUP_FAILED, f"{path} line {number}: expected KEY=VALUE")
        values[key.strip()] = value.strip()
    return values


@attrs.frozen
class Snapshot:
    id: str
    time: str
    paths: tuple[str, ...]
    tags: tuple[str, ...]


class Restic:
    def __init__(self, settings: BackupSettings, state_dir: Path, *, data_s: float = 6 * 3600):
        self.repository = repository_of(settings, state_dir)
        self.password_file = password_file_of(settings, state_dir)
        self._program = settings.restic
        self._data_s = data_s
        self._env = {
            **os.environ,
            **read_environment_file(settings.environment_file),
            "RESTIC_REPOSITORY": self.repository,
            "RESTIC_PASSWORD_FILE": str(self.password_file),
            "RESTIC_CACHE_DIR": str(state_dir / "cache" / "restic"),
        }

    def make_password(self) -> bool:
        """A new random password file unless one exists (0600); True when made."""
        if self.password_file.exists():
            return False
        self.password_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        return True

    async def ensure_repository(self) -> bool:
        """Initialise the repository unless it exists; True when it was made."""
        if not self.password_file.exists():
            raise CloudClaudeError(
                disk.BACKUP_FAILED, f"the repository password file {self.password_file} is missing"
            )
        try:
            await self._run("cat", "config")
            return False
        except CloudClaudeError:
            await self._run("init")
            return True

    async def snapshots(self, *tags: str) -> list[Snapshot]:
        """The snapshots that carry every one of ``tags``."""
        # One --tag with commas: all of them (several --tag flags would mean any of them).
        args = ["snapshots", "--json", *([f"--tag={','.join(tags)}"] if tags else [])]
        found = json.loads(await self._run(*args) or b"[]") or []
        return [
            Snapshot(
                id=str(item["id"]),
                time=str(item.get("time", "")),
                paths=tuple(item.get("paths") or ()),
                tags=tuple(item.get("tags") or ()),
            )
            for item in found
        ]

    async def backup(self, name: str, tags: list[str], chunks: AsyncIterator[bytes]) -> str:
        """Store ``chunks`` as the file ``/name`` in a new snapshot; its id."""
        argv = [
            self._program,
            "backup",
            "--stdin",
            f"--stdin-filename={name}",
            "--host=cloudclaude",
            "--json",
            "--quiet",
            *(f"--tag={tag}" for tag in tags),
        ]
        output = bytearray()

        async def feed(process: trio.Process) -> None:
            assert process.stdin is not None
            assert process.stdout is not None
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(collect, process.stdout, output, 1 << 20)
                    with contextlib.suppress(trio.BrokenResourceError):  # restic quit: why below
                        async for chunk in chunks:
                            await process.stdin.send_all(chunk)
                    await process.stdin.aclose()
            finally:
                await process.stdin.aclose()

        await self._child(f"backup of {name}", argv, feed, stdin=subprocess.PIPE)
        for line in output.splitlines():
            with contextlib.suppress(ValueError, KeyError, AttributeError):
                message = json.loads(line)
                if message.get("message_type") == "summary":
                    return str(message["snapshot_id"])
        raise CloudClaudeError(disk.BACKUP_FAILED, f"restic backup of {name} gave no snapshot id")

    async def dump(self, snapshot: str, name: str, sink: Sink) -> None:
        """Pass the file ``/name`` of ``snapshot`` to ``sink`` chunk by chunk."""

        async def drain(process: trio.Process) -> None:
            assert process.stdout is not None
            while chunk := await process.stdout.receive_some(CHUNK):
                await sink(chunk)

        argv = [self._program, "dump", "--quiet", snapshot, f"/{name}"]
        await self._child(f"dump of {name}", argv, drain, stdin=subprocess.DEVNULL)

    async def _child(self, what: str, argv: list[str], work: Work, *, stdin: int) -> None:
        await run_piped(
            argv,
            work,
            what=f"restic {what}",
            code=disk.BACKUP_FAILED,
            deadline_s=self._data_s,
            stdin=stdin,
            env=self._env,
        )

    async def forget(self, snapshot_ids: list[str], *, prune: bool = True) -> None:
        if snapshot_ids:
            await self._run("forget", *(["--prune"] if prune else []), *snapshot_ids)

    async def _run(self, *args: str) -> bytes:
        with trio.move_on_after(CALL_S):
            result = await trio.run_process(
                [self._program, *args], capture_stdout=True, capture_stderr=True,
                check=False, env=self._env, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if result.returncode != 0:
                raise _failed(args[0], result.returncode, bytes(result.stderr))
            return bytes(result.stdout)
        raise CloudClaudeError(disk.BACKUP_FAILED, f"restic {args[0]} ran past {CALL_S:g}s")


def _failed(what: str, code: int | None, stderr: bytes) -> CloudClaudeError:
    words = stderr.decode(errors="replace").strip()[-STDERR_KEEP:] or f"exit {code}"
    return CloudClaudeError(disk.BACKUP_FAILED, f"restic {what} failed: {words}")
