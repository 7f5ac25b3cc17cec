"""Home volumes: one loop-mounted ext4 image per host, so ``disk_gb`` is a hard limit.

The machine has no XFS project quota, so each home is a sparse file formatted ext4 and mounted
with ``-o loop`` under ``<state_dir>/volumes/<host_id>``; the container bind-mounts that
directory at the box user's home. Every call is idempotent: ``ensure`` creates what is missing,
mounts what is unmounted and grows an image whose size went up; ``remove`` tolerates absence.
The image is mounted before every start, so a box never writes to the host disk beneath.
File work (stat, unlink, ``/proc/self/mountinfo``) runs on worker threads, off the trio thread.
"""

from __future__ import annotations

import os
from pathlib import Path

import trio

from agent import errors
from agent.ops.names import check_host_id

GIB = 1024**3
IMAGE_SUFFIX = ".ext4"


class HomeVolumes:
    def __init__(self, root: Path) -> None:
        self.root = root

    def image_path(self, host_id: str) -> Path:
        return self.root / f"{check_host_id(host_id)}{IMAGE_SUFFIX}"

    def mountpoint(self, host_id: str) -> Path:
        return self.root / check_host_id(host_id)

    async def host_ids(self) -> list[str]:
        """Host ids that have a home volume image."""
        return await trio.to_thread.run_sync(self._host_ids)

    def _host_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name.removesuffix(IMAGE_SUFFIX) for p in self.root.glob(f"*{IMAGE_SUFFIX}"))

    async def ensure(self, host_id: str, size_gb: int) -> Path:
        """The mounted home directory of ``host_id``, at least ``size_gb`` large."""
        if size_gb < 1:
            raise errors.AgentError(errors.VALIDATION_FAILED, "disk_gb must be at least 1")
        image, mountpoint = self.image_path(host_id), self.mountpoint(host_id)
        size = await trio.to_thread.run_sync(self._prepare, image, mountpoint)
        if size is None:
            await trio.to_thread.run_sync(_make_sparse, image, size_gb * GIB)
            await _run("mkfs.ext4", "-q", "-F", "-m", "0", "-L", "home", str(image))
        elif size < size_gb * GIB:
            await trio.to_thread.run_sync(_make_sparse, image, size_gb * GIB)
            if await _mounted(mountpoint):
                await _run("umount", str(mountpoint))
            await _run("e2fsck", "-f", "-p", str(image), ok_codes=(0, 1))
            await _run("resize2fs", str(image))
        if not await _mounted(mountpoint):
            await _run("mount", "-o", "loop,nodev,nosuid", str(image), str(mountpoint))
        return mountpoint

    async def unmount(self, host_id: str) -> None:
        mountpoint = self.mountpoint(host_id)
        if await _mounted(mountpoint):
            await _run("umount", str(mountpoint))

    async def remove(self, host_id: str) -> bool:
        """Unmount and delete the volume; False when there was none."""
        await self.unmount(host_id)
        image, mountpoint = self.image_path(host_id), self.mountpoint(host_id)
        return await trio.to_thread.run_sync(_delete, image, mountpoint)

    def _prepare(self, image: Path, mountpoint: Path) -> int | None:
        """Make the directories; the image's size, None when there is no image yet."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        mountpoint.mkdir(exist_ok=True, mode=0o755)
        try:
            return image.stat().st_size
        except FileNotFoundError:
            return None


def _delete(image: Path, mountpoint: Path) -> bool:
    existed = image.exists()
    image.unlink(missing_ok=True)
    if mountpoint.is_dir():
        mountpoint.rmdir()
    return existed


def _make_sparse(image: Path, size: int) -> None:
    with open(image, "ab") as handle:
        handle.truncate(size)


def is_mounted(path: Path) -> bool:
    """Whether something is mounted exactly on ``path`` (from /proc/self/mountinfo)."""
    target = str(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            if len(fields) > 4 and _unescape(fields[4]) == target:
                return True
    return False


async def _mounted(path: Path) -> bool:
    return await trio.to_thread.run_sync(is_mounted, path)


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


async def _run(*argv: str, ok_codes: tuple[int, ...] = (0,)) -> None:
    result = await trio.run_process(
        list(argv), capture_stdout=True, capture_stderr=True, check=False
    )
    if result.returncode not in ok_codes:
        detail = result.stderr.decode(errors="replace").strip() or f"exit {result.returncode}"
        raise errors.AgentError(errors.HOME_VOLUME_FAILED, f"{argv[0]} failed: {detail}")
