"""DISK_* error codes. Storage of a box: its home volume.

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
    message="The host's home volume could not be prepared.",
    cause="Making, mounting or removing the loop-mounted ext4 image of the home volume failed.",
    fix="Check free disk space in the agent's state directory and the agent log.",
)
