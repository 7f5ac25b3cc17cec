"""What lies inside a box's disk image, and which layer directory of dockerd's it takes over.

The image's root (mounted at ``<volumes>/<host_id>.disk``) holds::

    .cloudclaude-disk    this layout (2); written once, last thing of a migration
    home/                the home, bind-mounted at <volumes>/<host_id> and from there in the box
    layer/<layer id>/    the container's overlay2 layer directory (diff, work, link, lower)
    lost+found/          the filesystem's

An image made before whole-disk bounding (layout 1) is the home itself, its entries at the
root. ``migrate`` moves them into ``home/`` in place: renames inside one filesystem, so no data
is copied, no space is needed, and an interrupted migration resumes where it stopped. The
functions here are blocking file work: the agent calls them on worker threads.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import attrs

from agent import errors

HOME = "home"
LAYER = "layer"
MARKER = ".cloudclaude-disk"
LAYOUT = "2\n"
#: Layout-1 entries gathered here before it becomes ``home`` in one rename.
STAGING = ".cloudclaude-home.partial"
#: Left at the root by a migration: the filesystem's own.
FS_ENTRIES = frozenset({"lost+found"})
#: dockerd names a container's layer directory by 64 hex digits.
_LAYER_ID = re.compile(r"[0-9a-f]{64}")


def migrate(root: Path) -> bool:
    """Bring the mounted image at ``root`` to layout 2; True when a layout-1 home was moved.

    A fresh image (only ``lost+found``) gets an empty ``home`` owned by root, which the box's
    init fills on first boot. A layout-1 home keeps its owner and mode on ``home``.
    """
    marker, staging, home = root / MARKER, root / STAGING, root / HOME
    moved = False
    if not marker.exists():
        if not staging.exists():
            made = root.stat()
            staging.mkdir(mode=0o700)
            os.chown(staging, made.st_uid, made.st_gid)
            os.chmod(staging, made.st_mode & 0o7777)
        for entry in sorted(os.listdir(root)):
            if entry not in FS_ENTRIES and entry != STAGING and not entry.startswith(MARKER):
                os.rename(root / entry, staging / entry)
                moved = True
        _write_marker(marker)
    if staging.exists():
        os.rename(staging, home)
    (root / LAYER).mkdir(mode=0o700, exist_ok=True)
    os.chmod(root, 0o700)
    return moved


def _write_marker(marker: Path) -> None:
    partial = marker.with_name(marker.name + ".new")
    with open(partial, "w", encoding="ascii") as handle:
        handle.write(LAYOUT)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(partial, marker)


@attrs.frozen(kw_only=True)
class LayerDir:
    """A container's overlay2 layer directory: the parent of ``UpperDir`` and ``WorkDir``."""

    path: Path
    layer_id: str


def layer_dir(info: dict[str, Any]) -> LayerDir:
    """The layer directory of a container from dockerd's inspect answer, checked.

    Only overlay2 keeps the writable layer in one directory an image can be mounted over.
    """
    driver = info.get("GraphDriver") or {}
    name = str(driver.get("Name", ""))
    if name != "overlay2":
        raise errors.AgentError(
            errors.BOX_LAYER_FAILED,
            f"dockerd's storage driver is {name or 'unknown'!r}; a box's disk needs overlay2",
        )
    data = driver.get("Data") or {}
    upper, work = str(data.get("UpperDir", "")), str(data.get("WorkDir", ""))
    parent = Path(upper).parent
    if (
        not upper.startswith("/")
        or Path(upper).name != "diff"
        or work != str(parent / "work")
        or ".." in parent.parts
        or not _LAYER_ID.fullmatch(parent.name)
        or parent.parent.name != "overlay2"
    ):
        raise errors.AgentError(
            errors.BOX_LAYER_FAILED, f"unexpected overlay2 layer {upper[:300]!r} / {work[:300]!r}"
        )
    return LayerDir(path=parent, layer_id=parent.name)


def stale_layers(root: Path, keep: str) -> list[Path]:
    """Entries of the image's ``layer/`` but ``keep``: layers of removed containers, and
    half-made copies. Empty when there is no ``layer/``."""
    layers = root / LAYER
    try:
        names = os.listdir(layers)
    except FileNotFoundError:
        return []
    return [layers / name for name in sorted(names) if name != keep]


def children(directory: Path) -> list[Path]:
    """The entries of ``directory`` (none when it is absent)."""
    try:
        return [directory / name for name in sorted(os.listdir(directory))]
    except FileNotFoundError:
        return []
