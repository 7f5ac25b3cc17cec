"""MOUNT_* error codes. A laptop's checkout mounted into a box (``cloud-claude``'s mount).

Each constant is one registry row, named after its slug in upper case;
``cloudclaude.errors.codes`` assembles ``REGISTRY`` from these modules in definition order.
Codes and slugs are never reused.
"""

from __future__ import annotations

from cloudclaude.errors.base import ErrorCode

MOUNT_PATH_REFUSED = ErrorCode(
    code="MOUNT_001",
    slug="mount_path_refused",
    http_status=400,
    message="The checkout cannot be mounted at that path in the box.",
    cause="The path is not absolute and normalised, is too long or deep, is or lies under a"
    " system directory of the box (/etc, /usr, /proc, ...) or is the box user's home itself,"
    " or a part of it in the box is a symlink or not a directory.",
    fix="Run cloud-claude from a checkout under your home or another plain directory (for"
    " example /home/you/src/project), not from a system directory.",
)

MOUNT_FAILED = ErrorCode(
    code="MOUNT_002",
    slug="mount_failed",
    http_status=500,
    message="The checkout could not be mounted into the box.",
    cause="Making the FUSE mount, starting sshfs or moving the mount into the box's mount"
    " namespace failed (the message says which step).",
    fix="Retry; if it persists an admin checks the agent log, that sshfs and fuse3 are"
    " installed and that /dev/fuse exists.",
)

NOT_MOUNTED = ErrorCode(
    code="MOUNT_003",
    slug="not_mounted",
    http_status=404,
    message="No checkout is mounted at that path in the box.",
    cause="It was unmounted already, or the box was restarted (its mounts went with it).",
    fix="Nothing to do; cloud-claude mounts the checkout again when it connects.",
)
