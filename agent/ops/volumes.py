"""A box's disk: one loop-mounted ext4 image per host bounds all it writes to ``disk_gb``.

``--storage-opt size`` needs overlay on XFS with project quota, which these machines lack, so
each host gets a sparse file of ``disk_gb`` formatted ext4 holding both its home and its
container's writable layer (``agent.ops.disk_layout`` for what is inside)::

    <volumes>/                     a shared mount (a bind onto itself, as dockerd does)
        <host_id>.ext4             the image
        <host_id>.disk/            the image, mounted (loop, nodev, nosuid)
        <host_id>/                 its home/, bound here; the container binds this path

and, while the box's container exists, the image's ``layer/<id>`` is bound over dockerd's
layer directory of it (the parent of ``GraphDriver.Data.UpperDir``), so ``sudo apt-get install``
into ``/usr`` and files in the home fill the same image and both stop at ENOSPC.

When: ``ensure`` (at create and before every start) makes, mounts, grows and migrates
the image and binds the home; ``attach_layer`` (after create, before every start) takes the
container's layer over; the mounts are made again after a host restart, and a new container
(rebuild) gets a fresh layer while the old one's is deleted. ``unmount`` (remove, rebuild) and
``remove`` (purge) undo them; a purge leaves no mount, loop device or image.

``<volumes>`` is a shared mount so that unmounts beneath it reach the copies of these mounts in
mount namespaces made from the host's (sing-box's confinement): a private parent would let such
a copy keep a purged host's loop device busy; that bind is undone when the last image is
unmounted (a mount already there, say a disk of its own, is only made shared). Every call is
idempotent and serialised per host; file work runs on worker threads, every command has a
deadline (``DiskLimits``).
"""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import trio

from agent import errors
from agent.config import DiskLimits
from agent.ops import disk_layout, layers
from agent.ops.mounts import (
    Mount,
    deepest_first,
    is_mounted,
    is_self_bind,
    loop_devices,
    mount_at,
    read_mounts,
)
from agent.ops.mounts import (
    run as _run_command,
)
from agent.ops.names import check_host_id

__all__ = ["GIB", "IMAGE_SUFFIX", "HomeVolumes", "is_mounted"]

GIB = 1024**3
IMAGE_SUFFIX = ".ext4"
DISK_SUFFIX = ".disk"
_CODE = errors.HOME_VOLUME_FAILED


class HomeVolumes:
    """Each host's disk image: its home and, while its container exists, its writable layer."""

    def __init__(self, root: Path, limits: DiskLimits | None = None) -> None:
        self.root = root
        self.limits = limits or DiskLimits()
        self._locks: collections.defaultdict[str, trio.Lock] = collections.defaultdict(trio.Lock)
        #: Held while ``<volumes>`` is made shared or unbound; ``_mounting`` counts the hosts
        #: mounting beneath it meanwhile, so it is never unbound under one.
        self._root_lock = trio.Lock()
        self._mounting_now = 0

    def image_path(self, host_id: str) -> Path:
        return self.root / f"{check_host_id(host_id)}{IMAGE_SUFFIX}"

    def disk_path(self, host_id: str) -> Path:
        """Where the image is mounted (root only)."""
        return self.root / f"{check_host_id(host_id)}{DISK_SUFFIX}"

    def mountpoint(self, host_id: str) -> Path:
        """The home on the host: the path the container binds at the box user's home."""
        return self.root / check_host_id(host_id)

    async def host_ids(self) -> list[str]:
        """Host ids that have a disk image."""
        return await trio.to_thread.run_sync(self._host_ids)

    def _host_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name.removesuffix(IMAGE_SUFFIX) for p in self.root.glob(f"*{IMAGE_SUFFIX}"))

    async def ensure(self, host_id: str, size_gb: int) -> Path:
        """The mounted home of ``host_id`` on its image of at least ``size_gb``.

        The box's container must not be running (an existing home image of layout 1 is
        remounted and migrated in place).
        """
        if size_gb < 1:
            raise errors.AgentError(errors.VALIDATION_FAILED, "disk_gb must be at least 1")
        image, disk, home = (
            self.image_path(host_id),
            self.disk_path(host_id),
            self.mountpoint(host_id),
        )
        async with self._mounting(host_id):
            size = await trio.to_thread.run_sync(self._prepare, image, disk, home)
            if size is None:  # formatted aside, so a half-made image is never mounted
                partial = image.with_name(image.name + ".partial")
                await trio.to_thread.run_sync(_make_sparse, partial, size_gb * GIB)
                await self._run(
                    "mkfs.ext4", "-q", "-F", "-m", "0", "-L", "box", str(partial), long=True
                )
                await trio.to_thread.run_sync(os.rename, partial, image)
            elif size < size_gb * GIB:
                await self._grow(image, disk, size_gb * GIB)
            mounts = await trio.to_thread.run_sync(read_mounts)
            old = mount_at(mounts, home)
            if old is not None and old.root == "/":  # layout 1: the whole image on the home path
                await self._run("umount", str(home))
            if mount_at(mounts, disk) is None:
                await self._run(
                    "mount", "-t", "ext4", "-o", "loop,nodev,nosuid", str(image), str(disk)
                )
                # Binds from it get peer groups of their own, so dockerd's mounts beneath the
                # layer bind do not reappear under <host_id>.disk.
                await self._run("mount", "--make-private", str(disk))
            await trio.to_thread.run_sync(disk_layout.migrate, disk)
            mounts = await trio.to_thread.run_sync(read_mounts)
            if mount_at(mounts, home) is None:
                await self._run("mount", "--bind", str(disk / disk_layout.HOME), str(home))
        return home

    async def attach_layer(self, host_id: str, info: dict[str, Any]) -> None:
        """Bind the container's layer directory (``info`` is its inspect) onto the image.

        After ``ensure``, with the container stopped: its layer's current contents move onto
        the image the first time (DISK_003 when they do not fit), layers of earlier
        containers are deleted from it.
        """
        layer = disk_layout.layer_dir(info)
        async with self._mounting(host_id):
            await layers.attach(self.disk_path(host_id), layer, self.limits)

    async def usage(self, host_id: str) -> tuple[int, int]:
        """Bytes used and total of the host's mounted disk image (read-only; 0, 0 unmounted)."""
        return await trio.to_thread.run_sync(_usage, self.disk_path(host_id))

    async def unmount(self, host_id: str) -> None:
        """Undo every mount of the image; the container is gone, so its layer is deleted."""
        async with self._locks[host_id]:
            await self._release(host_id)
        await self._unshare_root()

    async def remove(self, host_id: str) -> bool:
        """Unmount and delete the image; False when there was none."""
        async with self._locks[host_id]:
            await self._release(host_id)
            image, disk, home = (
                self.image_path(host_id),
                self.disk_path(host_id),
                self.mountpoint(host_id),
            )
            existed = await trio.to_thread.run_sync(_delete, image, disk, home)
        await self._unshare_root()
        return existed

    @contextlib.asynccontextmanager
    async def _mounting(self, host_id: str) -> AsyncIterator[None]:
        """Hold ``host_id``'s lock, with ``<volumes>`` shared and kept so until the end."""
        async with self._locks[host_id]:
            async with self._root_lock:
                await self._share_root()
                self._mounting_now += 1
            try:
                yield
            finally:
                self._mounting_now -= 1

    async def _release(self, host_id: str) -> None:
        image, disk = self.image_path(host_id), self.disk_path(host_id)
        ours = await trio.to_thread.run_sync(self._mounts_of, image, disk)
        # The home bind, a layer bind dockerd left (it unmounts it when it removes the
        # container), or a layout-1 home mount: every mount of the image but its own.
        for mount in deepest_first(m for m in ours if m.point != str(disk)):
            await self._run("umount", mount.point)
        if any(mount.point == str(disk) for mount in ours):
            stale = await trio.to_thread.run_sync(disk_layout.stale_layers, disk, "")
            await layers.delete(stale, self.limits)
            await self._run("umount", str(disk))

    async def _share_root(self) -> None:
        """Make ``<volumes>`` a shared mount: a bind onto itself unless it is a mount already.

        Not while images are mounted beneath a plain directory (an agent upgraded under
        running boxes): the bind would hide them. The first start with none mounted does it.
        """
        await trio.to_thread.run_sync(_make_root, self.root)
        mounts = await trio.to_thread.run_sync(read_mounts)
        here = mount_at(mounts, self.root)
        if here is None:
            prefix = f"{self.root}/"
            if any(mount.point.startswith(prefix) for mount in mounts):
                return
            await self._run("mount", "--bind", str(self.root), str(self.root))
        if here is None or not here.shared:
            await self._run("mount", "--make-shared", str(self.root))

    async def _unshare_root(self) -> None:
        """Undo the bind of ``<volumes>`` onto itself once nothing is mounted beneath it."""
        async with self._root_lock:
            if self._mounting_now:
                return
            mounts = await trio.to_thread.run_sync(read_mounts)
            prefix = f"{self.root}/"
            if is_self_bind(mounts, self.root) and not any(
                mount.point.startswith(prefix) for mount in mounts
            ):
                with contextlib.suppress(errors.AgentError):  # busy: the next remove retries
                    await self._run("umount", str(self.root))

    async def _grow(self, image: Path, disk: Path, size: int) -> None:
        """Grow the image offline: every mount of it undone (the box is stopped), then the
        file, a check and ext4. (Online growth needs CAP_SYS_RESOURCE, which the agent's
        unit does not grant.) The caller mounts it again; the layer bind follows at start."""
        for mount in deepest_first(await trio.to_thread.run_sync(self._mounts_of, image, disk)):
            await self._run("umount", mount.point)
        await trio.to_thread.run_sync(_make_sparse, image, size)
        await self._run("e2fsck", "-f", "-p", str(image), long=True, ok=(0, 1))
        await self._run("resize2fs", str(image), long=True)

    def _mounts_of(self, image: Path, disk: Path) -> list[Mount]:
        """Every mount of the image: its own, the home bind, a layer bind, a layout-1 home."""
        mounts = read_mounts()
        devices = set(loop_devices(image))
        on_disk = mount_at(mounts, disk)
        if on_disk is not None:
            devices.add(on_disk.device)
        return [mount for mount in mounts if mount.device in devices]

    async def _run(self, *argv: str, long: bool = False, ok: tuple[int, ...] = (0,)) -> None:
        deadline = self.limits.format_s if long else self.limits.mount_s
        await _run_command(list(argv), deadline_s=deadline, code=_CODE, ok=ok)

    def _prepare(self, image: Path, disk: Path, home: Path) -> int | None:
        """Make the mount points; the image's size, None when there is no image yet."""
        _make_root(self.root)
        disk.mkdir(exist_ok=True, mode=0o700)
        home.mkdir(exist_ok=True, mode=0o755)
        try:
            return image.stat().st_size
        except FileNotFoundError:
            return None


def _make_root(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(root, 0o700)


def _delete(image: Path, disk: Path, home: Path) -> bool:
    existed = image.exists()
    image.unlink(missing_ok=True)
    image.with_name(image.name + ".partial").unlink(missing_ok=True)
    for mountpoint in (disk, home):
        if mountpoint.is_dir() and not is_mounted(mountpoint):
            with contextlib.suppress(OSError):  # not empty: something wrote beside the image
                mountpoint.rmdir()
    return existed


def _make_sparse(image: Path, size: int) -> None:
    with open(image, "ab") as handle:
        handle.truncate(size)


def _usage(disk: Path) -> tuple[int, int]:
    """``statvfs`` of the image's mount only: an unmounted path would report the host's disk."""
    if mount_at(read_mounts(), disk) is None:
        return 0, 0
    st = os.statvfs(disk)
    total = st.f_blocks * st.f_frsize
    return total - st.f_bfree * st.f_frsize, total
