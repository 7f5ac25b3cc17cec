"""DISK_* error codes. Storage of a box: its disk image (home and system files together).

Each constant is one registry row, named after its slug in upper case;
``cloudclaude.errors.codes`` assembles ``REGISTRY`` from these modules in definition order.
Codes and slugs are never reused.
"""

from __future__ import annotations

from cloudclaude.errors.base import ErrorCode

HOME_VOLUME_FAILED = ErrorCode(
    code="DISK_001",
    slug="home_volume_failed",
    http_status=500,
    message="The host's disk image (its home volume) could not be prepared.",
    cause="Making, mounting, growing or removing the loop-mounted ext4 image failed.",
    fix="Check free disk space in the agent's state directory and the agent log.",
)

BOX_LAYER_FAILED = ErrorCode(
    code="DISK_002",
    slug="box_layer_failed",
    http_status=500,
    message="The box's system files could not be put on its disk image.",
    cause=(
        "dockerd's storage driver is not overlay2, or moving the container's writable layer "
        "onto the box's disk image, or mounting it over dockerd's layer directory, failed."
    ),
    fix="Run dockerd with the overlay2 storage driver; see the agent log for the command.",
)

BOX_DISK_TOO_SMALL = ErrorCode(
    code="DISK_003",
    slug="box_disk_too_small",
    http_status=409,
    message="The box's files do not fit in its disk_gb.",
    cause=(
        "A box made before its whole disk was bounded has written more to its system files "
        "and home together than its disk_gb holds, so its writable layer cannot move onto "
        "its disk image."
    ),
    fix="Rebuild the host: the new container starts from the image's system files and keeps "
    "the home.",
)
