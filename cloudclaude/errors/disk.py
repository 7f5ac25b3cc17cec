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

HOME_ARCHIVE_FAILED = ErrorCode(
    code="DISK_004",
    slug="home_archive_failed",
    http_status=500,
    message="A host's home could not be written to or read from a backup.",
    cause="tar failed or ran past its deadline on the host's home (a full disk, a broken"
    " stream, an unreadable file).",
    fix="See the agent log for tar's message; free disk space and run the backup or restore again.",
)

HOME_NOT_EMPTY = ErrorCode(
    code="DISK_005",
    slug="home_not_empty",
    http_status=409,
    message="A home is restored only into a new, empty one.",
    cause="The host already has a container or files in its home on this machine.",
    fix="Restore onto a fresh installation (or purge that host's leftovers first).",
)

BACKUP_FAILED = ErrorCode(
    code="DISK_006",
    slug="backup_failed",
    http_status=500,
    message="The backup could not be made.",
    cause="restic, pg_dump or the agent failed while writing a part of the backup; the"
    " message names the part and the tool's own words.",
    fix="Check backup.repository and its password file, free space where it points, and"
    " the daemon log; then run `cloudclaudectl backup create` again.",
)

BACKUP_NOT_FOUND = ErrorCode(
    code="DISK_007",
    slug="backup_not_found",
    http_status=404,
    message="No complete backup by that name is in the repository.",
    cause="The backup id is wrong, or the repository, its password or the backup's manifest"
    " is missing.",
    fix="List backups with `cloudclaude restore --list` (or `cloudclaudectl backup list`) and"
    " check backup.repository and backup.password_file.",
)

BACKUP_CORRUPT = ErrorCode(
    code="DISK_008",
    slug="backup_corrupt",
    http_status=500,
    message="A part of the backup does not match its manifest.",
    cause="A part's size or SHA-256 differs from what the manifest recorded, or the"
    " manifest itself cannot be read.",
    fix="Run `restic check --read-data` on the repository, then restore an older backup.",
)

BACKUP_RUNNING = ErrorCode(
    code="DISK_009",
    slug="backup_running",
    http_status=409,
    message="A backup is being made already.",
    cause="Backups run one at a time (a scheduled one, or another `backup create`).",
    fix="Wait for it to finish (`cloudclaudectl backup list`), then run yours.",
)
