"""A host's home as a tar stream for backups, written to or read from a socket the caller passed.

Consistency: a running box is frozen (``docker pause``, the cgroup freezer) while its home is
read and thawed afterwards, whatever happens; a stopped box has nothing running. Its sessions
stall for that time but are not cut. tar runs here on the host, on the home's mount:
``--one-file-system``, numeric owners, symlinks stored as links and never followed. While the
box is frozen nothing in it can swap a directory for a symlink under tar.

An import goes only into the empty home of a host that has no container yet (a restore): tar
then never meets a link planted earlier, and what it reads came from an export, through the
caller's authenticated backup repository.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import trio

from agent import errors
from agent.config import DiskLimits
from agent.ops.containers import MAX_DISK_GB, Containers, disk_gb_of
from agent.ops.docker import Docker
from agent.ops.mounts import run
from agent.ops.volumes import HomeVolumes

TAR = "tar"
#: The socket that came with the request (raises when none did).
Passed = Callable[[], socket.socket]
_COMMON = ("--numeric-owner", "--sparse", "--file=-")


class HomeArchives:
    def __init__(
        self, docker: Docker, containers: Containers, volumes: HomeVolumes, limits: DiskLimits
    ) -> None:
        self._docker = docker
        self._containers = containers
        self._volumes = volumes
        self._limits = limits

    async def export(self, host_id: str, passed: Passed) -> bool:
        """Write the home's tar into the passed socket; True when the box was running (and
        frozen). The container is checked first (this agent's own), then the socket."""
        info = await self._containers.require(host_id)
        sock = passed()
        home = await self._volumes.ensure(host_id, disk_gb_of(info))
        running = bool((info.get("State") or {}).get("Running"))
        container = str(info["Id"])
        if running:
            await self._docker.pause(container)
        try:
            argv = [TAR, "--create", *_COMMON, "--one-file-system", f"--directory={home}", "."]
            await self._tar(argv, stdout=sock.fileno())
        finally:
            if running:
                with trio.CancelScope(shield=True):
                    await self._docker.unpause(container)
        return running

    async def import_(self, host_id: str, disk_gb: int, passed: Passed) -> None:
        """Read a tar from the passed socket into the new, empty home of a host with no
        container."""
        if not 1 <= disk_gb <= MAX_DISK_GB:
            raise errors.AgentError(errors.VALIDATION_FAILED, f"disk_gb {disk_gb} is out of range")
        if await self._containers.find(host_id) is not None:
            raise errors.AgentError(
                errors.HOME_NOT_EMPTY,
                f"host {host_id} already has a container; only a new host's home is restored",
            )
        sock = passed()
        home = await self._volumes.ensure(host_id, disk_gb)
        if await trio.to_thread.run_sync(_has_files, home):
            raise errors.AgentError(
                errors.HOME_NOT_EMPTY,
                f"host {host_id}'s home already holds files; it is restored only into an empty one",
            )
        argv = [TAR, "--extract", *_COMMON, "--same-owner", "--same-permissions"]
        await self._tar([*argv, f"--directory={home}"], stdin=sock.fileno())

    async def _tar(
        self, argv: list[str], *, stdin: int = subprocess.DEVNULL, stdout: int = subprocess.DEVNULL
    ) -> None:
        deadline = self._limits.copy_s
        code = errors.HOME_ARCHIVE_FAILED
        await run(argv, deadline_s=deadline, code=code, stdin=stdin, stdout=stdout)


def _has_files(home: Path) -> bool:
    return any(entry.name != "lost+found" for entry in home.iterdir())
