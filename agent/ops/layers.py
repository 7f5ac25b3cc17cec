"""A container's writable layer, moved onto its box's disk image and mounted back in place.

dockerd keeps a container's writable layer in one overlay2 layer directory
(``/var/lib/docker/overlay2/<id>``: ``diff`` the upper dir, ``work``, ``link``, ``lower``). With
the container stopped, ``attach`` copies that directory onto the box's image as
``layer/<id>`` (once per container: a box made before whole-disk bounding keeps its
changes), deletes what it copied from the host disk, and binds ``layer/<id>`` over the layer
directory. dockerd then mounts the container's root on top as usual, its upper dir now inside the
image, so whatever the box writes to its system files counts against ``disk_gb``.

The bind lives until dockerd removes the container (it unmounts mounts beneath a layer it
deletes), the host restarts, or a stopping dockerd detaches its root with what is beneath; the
next start binds it again (the image's copy is the one that counts; the host's is never used
again). A removed container's layer stays on the image until ``delete`` (remove) or the next
``attach`` (a new container) drops it.
"""

from __future__ import annotations

import os
from pathlib import Path

import trio

from agent import errors
from agent.config import DiskLimits
from agent.ops import disk_layout
from agent.ops.disk_layout import LayerDir
from agent.ops.mounts import CommandFailed, mount_at, read_mounts, run

_CODE = errors.BOX_LAYER_FAILED


async def attach(disk: Path, layer: LayerDir, limits: DiskLimits) -> None:
    """Bind the image's copy of ``layer`` over it; idempotent. ``disk`` is the mounted image."""
    mounts = await trio.to_thread.run_sync(read_mounts)
    image = mount_at(mounts, disk)
    if image is None:
        raise errors.AgentError(_CODE, f"the box's disk image is not mounted at {disk}")
    wanted = f"/{disk_layout.LAYER}/{layer.layer_id}"
    here = mount_at(mounts, layer.path)
    if here is not None:
        if here.device == image.device and here.root == wanted:
            return
        raise errors.AgentError(
            _CODE, f"{layer.path} already has another mount ({here.source} {here.root})"
        )
    if mount_at(mounts, layer.path / "merged") is not None:
        raise errors.AgentError(_CODE, f"the container's root is mounted at {layer.path}/merged")
    await delete(
        await trio.to_thread.run_sync(disk_layout.stale_layers, disk, layer.layer_id), limits
    )
    copy = disk / disk_layout.LAYER / layer.layer_id
    if not await trio.to_thread.run_sync(copy.exists):
        await _copy(layer.path, copy, limits)
    # Beneath the bind the host's copy would only take space: the image's is the one in use.
    await delete(await trio.to_thread.run_sync(disk_layout.children, layer.path), limits)
    await run(
        ["mount", "--bind", str(copy), str(layer.path)], deadline_s=limits.mount_s, code=_CODE
    )


async def _copy(source: Path, copy: Path, limits: DiskLimits) -> None:
    """``cp -a`` of the layer directory (owners, modes, xattrs, whiteouts, hard links)."""
    partial = copy.with_name(f".{copy.name}.partial")
    argv = ["cp", "-a", "-x", "--sparse=always", "--", str(source), str(partial)]
    try:
        await run(argv, deadline_s=limits.copy_s, code=_CODE)
    except CommandFailed as exc:
        await delete([partial], limits)
        if exc.no_space:
            raise errors.AgentError(
                errors.BOX_DISK_TOO_SMALL,
                f"the box's writable layer ({source}) and home do not fit in its disk image; "
                "rebuild the host to start from a fresh system (the home is kept)",
            ) from exc
        raise
    await trio.to_thread.run_sync(os.rename, partial, copy)


async def delete(paths: list[Path], limits: DiskLimits) -> None:
    """``rm -rf`` of ``paths``, never crossing into another mount."""
    if paths:
        argv = ["rm", "-rf", "--one-file-system", "--", *(str(path) for path in paths)]
        await run(argv, deadline_s=limits.copy_s, code=_CODE)
